/**
 * Errors of `swarmtune simulate` (listed in doc/errors.md under `## fedavg`, "swarmtune simulate"). An aborted
 * run throws the one `AbortError` of `@swarmtune/wire` (`ERR_ABORTED`).
 */
import { SwarmtuneError } from '@swarmtune/wire'

/** A simulation option is out of range or inconsistent. Thrown by `validateSimulationOptions` before any work. */
export class SimulationOptionsError extends SwarmtuneError {
  declare readonly code: 'ERR_SIMULATE_INVALID_OPTIONS'

  constructor (message: string) {
    super('ERR_SIMULATE_INVALID_OPTIONS', message)
  }
}
