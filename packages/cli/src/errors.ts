/** Errors the `swarmtune` command raises itself (listed in doc/errors.md under `## cli`). */
import { SwarmtuneError } from '@swarmtune/wire'

/** Stable codes of {@link CliError}. */
export type CliErrorCode =
  | 'ERR_CLI_BAD_INPUT_FILE'
  | 'ERR_CLI_INPUT_TOO_LARGE'
  | 'ERR_CLI_OUTPUT_EXISTS'
  | 'ERR_CLI_BAD_OUTPUT'
  | 'ERR_CLI_BAD_TRAINING_DATA'
  | 'ERR_CLI_BAD_CID'
  | 'ERR_CLI_DATA_DIR_IN_USE'
  | 'ERR_CLI_AMBIGUOUS_ID'
  | 'ERR_CLI_NEEDS_DAEMON'
  | 'ERR_CLI_OPTION_NOT_APPLICABLE'
  | 'ERR_CLI_OPEN_FAILED'

/** A CLI input or output is unusable; the message says what was found, what was expected and what to do. */
export class CliError extends SwarmtuneError<CliErrorCode> {}
