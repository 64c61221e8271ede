import type { Command } from 'commander'

/** Adds `swarmtune simulate` to the program. */
export function register (_program: Command): void {
}
