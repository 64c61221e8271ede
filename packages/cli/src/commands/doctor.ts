import type { Command } from 'commander'

/** Adds `swarmtune doctor` to the program. */
export function register (_program: Command): void {
}
