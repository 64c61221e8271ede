import type { Command } from 'commander'

/** Adds `swarmtune community` to the program. */
export function register (_program: Command): void {
}
