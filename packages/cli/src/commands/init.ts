import type { Command } from 'commander'

/** Adds `swarmtune init` to the program. */
export function register (_program: Command): void {
}
