import type { Command } from 'commander'

/** Adds `swarmtune daemon` to the program. */
export function register (_program: Command): void {
}
