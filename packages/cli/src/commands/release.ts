import type { Command } from 'commander'

/** Adds `swarmtune release` to the program. */
export function register (_program: Command): void {
}
