import type { Command } from 'commander'

/** Adds `swarmtune round` to the program. */
export function register (_program: Command): void {
}
