import type { Command } from 'commander'

/** Adds `swarmtune ledger` to the program. */
export function register (_program: Command): void {
}
