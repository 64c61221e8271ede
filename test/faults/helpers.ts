/**
 * Helpers of the fault-injection tests: a community of `swarmtune daemon` processes on 127.0.0.1
 * (scripts/lib/cluster.ts, the demo's set-up) and the CLI checks every test ends with.
 */
import type { VerifyReport } from '@swarmtune/rounds'
import { swarmtuneJson } from '../../scripts/lib/cli.js'
import { Cluster, type ClusterInit, type Member } from '../../scripts/lib/cluster.js'
import { Supervisor } from '../../scripts/lib/processes.js'

/** Short rounds: 20 SGD steps of 50 examples at η = 0.1 move mnist-2nn well past chance in a few seconds. */
export const TRAIN = { steps: 20, batchSize: 50, learningRate: 0.1 }

/** A cluster for one test file, and its teardown (stops every process, removes every folder). */
export interface FaultCluster {
  cluster: Cluster
  supervisor: Supervisor
  teardown: () => Promise<void>
}

/**
 * Data folders for a maintainer and `volunteers` volunteers (IID parts of the first 6,000 MNIST training
 * examples unless told otherwise; releases evaluated on the first 1,000 test examples), daemons not started.
 */
export async function createCluster (init: Partial<ClusterInit> & { volunteers: number }): Promise<FaultCluster> {
  const supervisor = new Supervisor()
  const cluster = await Cluster.create(supervisor, {
    partition: 'iid', seed: 1, trainExamples: 6_000, evalExamples: 1_000, lossExamples: 300, prefix: 'swarmtune-faults-', ...init
  })
  return {
    cluster,
    supervisor,
    teardown: async () => {
      await supervisor.stopAll()
      supervisor.dispose()
      await cluster.remove()
    }
  }
}

/** `swarmtune ledger verify --json` on a member (through its daemon, or its store when none runs). */
export async function verifyLedger (supervisor: Supervisor, m: Member): Promise<{ entries: number, authors: number, evidence: number }> {
  return await swarmtuneJson(supervisor, ['ledger', 'verify', '-d', m.dir])
}

/** `swarmtune release verify <ref> --json` on a member's daemon (the command fails when the release does not recompute). */
export async function verifyRelease (supervisor: Supervisor, m: Member, ref = 'latest'): Promise<VerifyReport> {
  return await swarmtuneJson(supervisor, ['release', 'verify', ref, '-d', m.dir])
}

/** `swarmtune ledger list --json` on a member, optionally of one round. */
export async function ledgerEntries (supervisor: Supervisor, m: Member, round?: number): Promise<Array<{ id: string, kind: string, author: string, body: Record<string, unknown> }>> {
  return await swarmtuneJson(supervisor, ['ledger', 'list', '-d', m.dir, ...(round === undefined ? [] : ['--round', String(round)])])
}
