/**
 * Command hints printed in errors and warnings of the rounds module and the `swarmtune round` command: each
 * names the data folder the user works on, so that copying the hint acts on the same folder.
 */
import { resolve } from 'node:path'
import { defaultDataDir } from '@swarmtune/node'
import { CommunityError } from './errors.js'

/** `value` as one POSIX shell word: unchanged when it holds only safe characters, else in single quotes. */
function shellWord (value: string): string {
  return /^[A-Za-z0-9_./~:@%+=,-]+$/.test(value) ? value : `'${value.replace(/'/g, '\'\\\'\'')}'`
}

/**
 * A `swarmtune` command line to copy: `swarmtune <command> -d <folder> <rest>`, without `-d` when `dataDir` is
 * the default data folder (`$SWARMTUNE_HOME`, else `~/.swarmtune`) or not given.
 * @param dataDir the data folder the command acts on (made absolute).
 * @param command the subcommand and its arguments, e.g. `round status 4`.
 * @param rest flags written after `-d`, e.g. `--community <genesis file>`.
 */
export function commandHint (dataDir: string | undefined, command: string, rest?: string): string {
  const folder = dataDir === undefined || resolve(dataDir) === resolve(defaultDataDir()) ? '' : ` -d ${shellWord(resolve(dataDir))}`
  return `swarmtune ${command}${folder}${rest === undefined || rest === '' ? '' : ` ${rest}`}`
}

/** `ERR_ROUNDS_NO_COMMUNITY` of a daemon on `dataDir` that has joined no community, with the commands that join one. */
export function noCommunity (dataDir: string): CommunityError {
  return new CommunityError('ERR_ROUNDS_NO_COMMUNITY', `this daemon has not joined a community: start it with \`${commandHint(dataDir, 'daemon', '--community <genesis file>')}\`, ` +
    `or join one first with \`${commandHint(dataDir, 'community join <genesis file>', '--mnist | --images <file> --labels <file>')}\` (it sets "community" in rounds.json)`)
}
