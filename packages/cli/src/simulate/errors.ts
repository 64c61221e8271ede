/** Errors of `swarmtune simulate` (listed in doc/errors.md under `## fedavg`, "swarmtune simulate"). */

/** A simulation option is out of range or inconsistent. Thrown by `validateSimulationOptions` before any work. */
export class SimulationOptionsError extends Error {
  readonly code = 'ERR_SIMULATE_INVALID_OPTIONS'

  constructor (message: string) {
    super(message)
    this.name = 'SimulationOptionsError'
  }
}

/** The simulation was aborted through its `AbortSignal`. */
export class SimulationAbortedError extends Error {
  readonly code = 'ERR_SIMULATE_ABORTED'

  constructor (options?: { cause?: unknown }) {
    super('the simulation was aborted', options)
    this.name = 'SimulationAbortedError'
  }
}
