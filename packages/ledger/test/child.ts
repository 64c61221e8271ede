/**
 * Child process for the lock and crash tests, run as `node --import tsx child.ts <mode> <ledger dir>`.
 *  hold:   opens the ledger, prints `open`, and waits to be killed.
 *  append: opens the ledger (creating the community when empty) and appends contributions in a loop,
 *          printing `ack <seq>` after each append returned (so it is acknowledged); prints `open <n>` first.
 *  try:    tries to open the ledger and prints `ok` or the error code, then exits.
 */
import { openLedger } from '../src/index.js'
import { bodies, fakeCid, keyFor } from './fixtures.js'

const [mode, dir] = process.argv.slice(2)
const out = (line: string): void => { process.stdout.write(line + '\n') }

if (mode === 'try') {
  try {
    const ledger = await openLedger({ path: dir })
    out('ok')
    await ledger.close()
  } catch (err) {
    out(`error ${(err as { code?: string }).code ?? String(err)} ${(err as { pid?: number }).pid ?? ''}`)
  }
} else {
  const ledger = await openLedger({ path: dir })
  out(`open ${ledger.size}`)
  if (mode === 'append') {
    const maintainer = await keyFor(0)
    const volunteer = await keyFor(1)
    if (ledger.community === undefined) {
      await ledger.sign({ kind: 'genesis', body: bodies.genesis([maintainer.publicKey.raw]) }, maintainer)
    }
    const base = fakeCid('release-0')
    const roundOpen = fakeCid('round-open')
    for (let i = 0; ; i++) {
      const e = await ledger.sign({ kind: 'contribution', body: bodies.contribution(1, roundOpen, base, fakeCid(`blob-${process.pid}-${i}`), 10) }, volunteer)
      out(`ack ${e.entry.seq}`)
    }
  } else {
    setInterval(() => {}, 1000)
  }
}
