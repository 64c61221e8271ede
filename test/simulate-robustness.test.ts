/**
 * Robustness in a short simulation. A base model is first trained on 3,000 MNIST examples (one client, three
 * epochs: ~88% test accuracy), then 10 clients run 2 federated rounds from it, 3 of them Byzantine:
 * sign-flip ×10 (each sends −10 × its honest delta), NaN (well-formed fp32 bytes full of NaN), or Gaussian
 * noise (σ = 1,000 × the RMS of its honest delta; at 10× plain FedAvg only loses about a point, the noise
 * averaging out). Median, trimmed mean (β = 0.3) and CenteredClip stay within 2 accuracy points of
 * honest-only FedAvg; plain FedAvg fails under sign-flip and noise. NaN deltas are rejected by validation
 * before any arithmetic, so FedAvg with NaN attackers *is* honest-only FedAvg: that run is the baseline.
 */
import { beforeAll, describe, expect, it } from 'vitest'
import type { AggregatorConfig } from '@swarmtune/fedavg'
import type { Weights } from '@swarmtune/model'
import { createSimulationOptions, runSimulation, type AttackKind, type SimulationResult } from '../packages/cli/src/simulate/index.js'

const data = { trainExamples: 3000, testExamples: 1000, batchSize: 50 } as const
const SCALE: Record<AttackKind, number> = { 'sign-flip': 10, nan: 1, noise: 1000 }
let base: Weights

beforeAll(async () => {
  const pre = await runSimulation(createSimulationOptions({ ...data, clients: 1, fraction: 1, epochs: 3, learningRate: 0.3, rounds: 1, seed: 3 }))
  console.log(`base model: ${(100 * pre.finalAccuracy).toFixed(1)}% test accuracy`)
  base = pre.weights
})

async function run (aggregator: AggregatorConfig, attack: AttackKind): Promise<SimulationResult> {
  const r = await runSimulation(createSimulationOptions({
    ...data, clients: 10, fraction: 1, learningRate: 0.2, rounds: 2, seed: 4, initialWeights: base, aggregator,
    attack: { kind: attack, fraction: 0.3, scale: SCALE[attack] }
  }))
  console.log(`${aggregator.kind} under ${attack}: accuracy per round ${r.rounds.map((x) => (100 * x.accuracy).toFixed(1)).join(', ')}`)
  return r
}

describe('robust aggregation in a short simulation (30% Byzantine clients)', () => {
  let honest: SimulationResult

  it('NaN deltas are rejected before any arithmetic: FedAvg then equals honest-only FedAvg', async () => {
    honest = await run({ kind: 'fedavg' }, 'nan')
    expect(honest.attackers).toHaveLength(3)
    for (const r of honest.rounds) {
      expect(r.rejectionCodes).toEqual({ ERR_FEDAVG_NON_FINITE: 3 })
      expect(r.accepted).toBe(7)
    }
    expect(honest.finalAccuracy).toBeGreaterThan(0.85)
  })

  const robust: AggregatorConfig[] = [{ kind: 'median' }, { kind: 'trimmed-mean', beta: 0.3 }, { kind: 'centered-clip', iterations: 3 }]
  for (const attack of ['sign-flip', 'noise', 'nan'] as const) {
    for (const aggregator of robust) {
      it(`${aggregator.kind} under ${attack} stays within 2 points of honest-only FedAvg`, async () => {
        const r = await run(aggregator, attack)
        expect(Math.abs(r.finalAccuracy - honest.finalAccuracy)).toBeLessThanOrEqual(0.02)
        if (attack === 'nan') expect(r.rounds.every((x) => x.rejectionCodes.ERR_FEDAVG_NON_FINITE === 3)).toBe(true)
      })
    }
  }

  for (const attack of ['sign-flip', 'noise'] as const) {
    it(`plain FedAvg fails under ${attack}`, async () => {
      const r = await run({ kind: 'fedavg' }, attack)
      expect(r.finalAccuracy).toBeLessThan(honest.finalAccuracy - 0.2)
    })
  }
})
