/**
 * The demo's verification checks, shared by its scenarios: `swarmtune ledger verify` on every member, `swarmtune
 * release verify latest` on a volunteer, and the recomputation of every earlier release there.
 */
import { roundsClient } from '@swarmtune/rounds'
import { swarmtune, swarmtuneJson } from './cli.js'
import type { Cluster } from './cluster.js'
import type { Supervisor } from './processes.js'

/** Records one check's result (and prints it). */
export type CheckSink = (name: string, ok: boolean, detail: string) => void

/**
 * Runs the ledger and release checks on the cluster's members: every ledger verified, the latest release
 * recomputed by the first volunteer through the CLI, every earlier release through its daemon.
 */
export async function verificationChecks (c: Cluster, supervisor: Supervisor, check: CheckSink): Promise<void> {
  const ledgers = await Promise.all(c.members.map(async (m) => {
    try {
      const report = await swarmtuneJson<{ entries: number, authors: number }>(supervisor, ['ledger', 'verify', '-d', m.dir])
      return { ok: true, detail: `${m.name}: ${report.entries} entries in ${report.authors} author chains verified  ($ swarmtune ledger verify -d ${m.dir})` }
    } catch (err) {
      return { ok: false, detail: `${m.name}: ${(err as Error).message}` }
    }
  }))
  for (const l of ledgers) check('ledger verify', l.ok, l.detail)

  const verifier = c.volunteers[0]
  try {
    const { stdout } = await swarmtune(supervisor, ['release', 'verify', 'latest', '-d', verifier.dir])
    check('release verify', true, `${verifier.name}: ${stdout.split('\n')[0]}  ($ swarmtune release verify latest -d ${verifier.dir})`)
  } catch (err) {
    check('release verify', false, `${verifier.name}, latest release: ${(err as Error).message}`)
  }
  const earlier = (await roundsClient(c.maintainer.api()).list()).filter((r) => r.release !== undefined).slice(0, -1)
  let recomputed = 0
  const problems: string[] = []
  for (const r of earlier) {
    const v = await roundsClient(verifier.api()).verify(r.release?.entry as string)
    if (v.ok) recomputed++
    else problems.push(`round ${r.round}: ${v.problems.join('; ')}`)
  }
  if (earlier.length > 0) check('release verify', problems.length === 0, `${verifier.name}: ${recomputed} of ${earlier.length} earlier releases recomputed to identical shard ids${problems.length === 0 ? '' : `; ${problems.join(' | ')}`}`)
}
