import type { Command } from 'commander'

/** Adds `swarmtune status` to the program. */
export function register (_program: Command): void {
}
