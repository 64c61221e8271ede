/**
 * The simulation engine behind `swarmtune simulate`: in-process federated training of a model-package task on
 * partitioned MNIST or a community's own data, merging with `@swarmtune/fedavg`.
 */
export { runSimulation, loadSimulationData, clientId, type RoundRecord, type SimulationResult, type SimulationHooks } from './engine.js'
export {
  createSimulationOptions, validateSimulationOptions, clientsPerRound, SIMULATION_DEFAULTS, PARTITION_SCHEMES,
  ATTACK_KINDS, type SimulationOptions, type SimulationData, type SimulationInit, type PartitionScheme, type AttackKind, type AttackOptions
} from './options.js'
export { roundsToCsv, CSV_COLUMNS } from './csv.js'
export { SimulationOptionsError } from './errors.js'
