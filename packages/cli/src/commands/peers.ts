import type { Command } from 'commander'

/** Adds `swarmtune peers` to the program. */
export function register (_program: Command): void {
}
