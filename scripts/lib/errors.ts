/**
 * The one error class of the orchestration scripts (`npm run demo`, `npm run test:faults`, the rounds
 * benchmark), a `SwarmtuneError` of `@swarmtune/wire`. Codes are listed in doc/errors.md (`## scripts`).
 */
import { SwarmtuneError } from '@swarmtune/wire'

/** Stable codes of {@link ScriptError}. */
export type ScriptErrorCode =
  | 'ERR_SCRIPT_NODE_VERSION'
  | 'ERR_SCRIPT_SPAWN_FAILED'
  | 'ERR_SCRIPT_COMMAND_FAILED'
  | 'ERR_SCRIPT_DAEMON_EXITED'
  | 'ERR_SCRIPT_TIMEOUT'
  | 'ERR_SCRIPT_ROUND_FAILED'

/** An orchestration step failed: a command, a daemon, or a wait. The message says what and what to do. */
export class ScriptError extends SwarmtuneError<ScriptErrorCode> {}
