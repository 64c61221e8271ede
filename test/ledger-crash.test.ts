/**
 * Crash safety of the ledger store: a child process appends (synced) in a loop and prints each
 * acknowledged seq; it is SIGKILLed at a random moment — while opening and verifying, between appends, in
 * the middle of a batch write or of the lengths.json rewrite — many times over. After every kill the store
 * must open (which verifies every chain, and the signatures of what was stored after the last verification
 * checkpoint) and hold every acknowledged entry.
 */
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, describe, expect, it } from 'vitest'
import { openLedger } from '@swarmtune/ledger'
import { createRng } from '@swarmtune/model'
import { Cleanups, tempDir, testSeed } from '@swarmtune/test-support'
import { keyFor } from '../packages/ledger/test/fixtures.js'
import { exited, startChild } from '../packages/ledger/test/helpers.js'

/** Kills per run; each costs one child start (~0.5 s) and one verified open. */
const KILLS = Number(process.env.SWARMTUNE_LEDGER_KILLS ?? 50)

/** Seeded floats in [0, 1) for the kill delays (the model package's PRNG). */
function floats (seed: number): () => number {
  const rng = createRng(seed)
  return () => rng.float()
}

const cleanups = new Cleanups()
afterAll(cleanups.run)

/**
 * One store, `kills` children in turn, each SIGKILLed at a random moment; after each kill the store is
 * opened (and so re-verified) and must hold every acknowledged seq. Returns counts for the report.
 */
async function killLoop (path: string, kills: number, random: () => number, label: string): Promise<{ acknowledged: number, beforeOpen: number, amongAppends: number }> {
  const volunteer = Buffer.from((await keyFor(1)).publicKey.raw).toString('hex')
  let acknowledged = -1
  let beforeOpen = 0
  let amongAppends = 0
  for (let kill = 0; kill < kills; kill++) {
    const child = startChild('append', path)
    let opened = false
    let acksThisChild = 0
    let onFirstAck: () => void = () => {}
    const firstAck = new Promise<void>((resolve) => { onFirstAck = resolve })
    const rl = createInterface({ input: child.stdout! })
    rl.on('line', (line) => {
      if (line.startsWith('open')) {
        opened = true
      } else if (line.startsWith('ack ')) {
        acknowledged = Math.max(acknowledged, Number(line.slice(4)))
        if (acksThisChild++ === 0) onFirstAck()
      }
    })
    // One kill in five lands at a random moment of start-up (opening and verifying the store); the
    // others 0-250 ms after the child's first acknowledged append, among the appends. Waiting for an
    // acknowledgement (not a fixed delay) keeps the kills among appends however loaded the machine is.
    if (random() < 0.2) {
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 900)))
    } else {
      await Promise.race([firstAck, exited(child)])
      await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 250)))
    }
    child.kill('SIGKILL')
    await exited(child)
    rl.close()
    if (!opened) beforeOpen++
    if (acksThisChild > 0) amongAppends++
    const ledger = await openLedger({ path })
    try {
      const length = ledger.head(volunteer)?.length ?? 0
      expect(length, `${label}, kill ${kill}: acknowledged seq ${acknowledged}, stored ${length}`).toBeGreaterThan(acknowledged)
      expect(ledger.openReport.entries).toBe(ledger.size)
    } finally {
      await ledger.close()
    }
  }
  return { acknowledged: acknowledged + 1, beforeOpen, amongAppends }
}

describe('ledger store under SIGKILL', () => {
  it(`keeps every acknowledged entry and verifies after ${KILLS} kills at random moments`, async () => {
    const seed = testSeed('ledger crash')
    const { path: dir, cleanup } = await tempDir('swarmtune-crash-')
    cleanups.push(cleanup)
    // Two stores killed side by side (one per core), so that child start-up (~0.8 s) costs half the time.
    const lanes = await Promise.all([0, 1].map(async (lane) => await killLoop(join(dir, `ledger-${lane}`), Math.ceil(KILLS / 2), floats(seed + lane), `seed ${seed}, store ${lane}`)))
    const acknowledged = lanes.reduce((n, l) => n + l.acknowledged, 0)
    process.stdout.write(`ledger crash: ${2 * Math.ceil(KILLS / 2)} kills, ${acknowledged} acknowledged appends all kept, ${lanes.reduce((n, l) => n + l.beforeOpen, 0)} kills before the store was open\n`)
    // the kills did land among appends: about four in five of them, by construction
    for (const lane of lanes) expect(lane.amongAppends).toBeGreaterThan(KILLS / 8)
  }, 120_000)
})
