/**
 * A community of an image-classification model made the way a maintainer makes one, for the end-to-end tests:
 * MNIST digits written as PNG class folders (one for a volunteer, one the coordinator evaluates on), a data
 * folder on which `swarmtune community create --from-tfjs … --head …` runs in-process, and the maintainer's
 * daemon started on it with the rounds service; then volunteers that `community join --data` the volunteer
 * folder and start their own daemon bootstrapped to the maintainer.
 *
 * ```ts
 * import { Cleanups } from '@swarmtune/test-support'
 * import { startImageCommunity } from '@swarmtune/test-support/communities'
 *
 * const cleanups = new Cleanups()
 * const c = await startImageCommunity({ prefix: 'swarmtune-x-', labels: ['0', '1', '2'], perClass: { volunteer: 12, evaluation: 6 }, from: 'mobilenet-v2', cleanups })
 * const { node: v } = await c.joinVolunteer()   // its daemon is running; `cleanups` stops it
 * // …
 * await cleanups.run()                          // volunteer, maintainer, then the temporary folder
 * ```
 */
import { join } from 'node:path'
import type { RoundsConfigInit } from '@swarmtune/rounds'
import { tempDir, type Cleanups } from './index.js'
import { cliJson } from './cli.js'
import { testDataDir } from './daemons.js'
import { writeDigitFolders } from './models.js'
import { startRoundsNode, type RoundsNode } from './rounds.js'

/** What {@link startImageCommunity} makes. */
export interface ImageCommunityOptions {
  /** Name prefix of the temporary folder that holds every folder made (removed through `cleanups`). */
  prefix: string
  /** The community's class labels, each an MNIST digit (`'0'`…`'9'`): `--head <labels>`. */
  labels: string[]
  /** Images per class in the volunteer's folder and in the coordinator's evaluation folder. */
  perClass: { volunteer: number, evaluation: number }
  /**
   * The base, `--from-tfjs <from>`: a model name the CLI knows (`'mobilenet-v2'`), or a function that writes a
   * tfjs folder under the temporary folder `dir` and resolves with its path.
   */
  from: string | ((dir: string) => Promise<string>)
  /** More `community create` options, e.g. `['--features', 'pool', '--seed', '1']`. */
  createOptions?: string[]
  /** Teardown steps: the temporary folder, then each daemon started, are pushed as they are made. */
  cleanups: Cleanups
}

/** A volunteer of an {@link ImageCommunity}, joined and started. */
export interface ImageVolunteer {
  /** Its daemon (stopped through the community's `cleanups`). */
  node: RoundsNode
  /** What `community join --json` printed. */
  joined: Record<string, unknown>
  /** `performance.now()` just before its daemon was started, in ms. */
  startedAt: number
}

/** A started community: the maintainer's daemon, its folders and what `community create --json` printed. */
export interface ImageCommunity {
  /** The temporary folder holding everything below. */
  dir: string
  /** The maintainer's data folder. */
  maintainerDir: string
  /** The maintainer's daemon, evaluating each release on `evalImages` (`coordinator.evalData`). */
  maintainer: RoundsNode
  /** The genesis file `community create` wrote. */
  genesis: string
  /** What `community create --json` printed (`file`, `task`, `model`, `bytes`…). */
  created: Record<string, unknown>
  /** The volunteers' image folder (`<dir>/volunteer-images`, one sub-folder per label). */
  volunteerImages: string
  /** The coordinator's evaluation image folder. */
  evalImages: string
  /**
   * A volunteer on a fresh data folder `<dir>/<name>` (default `volunteer`) bootstrapped to the maintainer's first
   * address, joined with `community join <genesis> --data <volunteerImages>`, its daemon started.
   */
  joinVolunteer: (name?: string) => Promise<ImageVolunteer>
}

/**
 * Writes the image folders, creates the community on a fresh maintainer folder through the CLI and starts the
 * maintainer's daemon on it. Rejects with whatever the CLI or the daemon threw (a `code` of doc/errors.md).
 */
export async function startImageCommunity (options: ImageCommunityOptions): Promise<ImageCommunity> {
  const { cleanups, labels } = options
  const tmp = await tempDir(options.prefix)
  cleanups.push(tmp.cleanup)
  const { volunteerImages, evalImages } = await writeDigitFolders(tmp.path, labels, options.perClass)
  const from = typeof options.from === 'string' ? options.from : await options.from(tmp.path)

  const maintainerDir = await testDataDir(join(tmp.path, 'maintainer'))
  const created = await cliJson(['community', 'create', '-d', maintainerDir, '--from-tfjs', from, '--head', labels.join(','), ...(options.createOptions ?? [])])
  const genesis = String(created.file)
  const config: RoundsConfigInit = { coordinator: { evalData: { source: 'images', path: evalImages } } }
  const maintainer = await startRoundsNode({ dir: maintainerDir, genesis, config })
  cleanups.push(maintainer.destroy)

  const joinVolunteer = async (name = 'volunteer'): Promise<ImageVolunteer> => {
    const dir = await testDataDir(join(tmp.path, name), { bootstrap: [maintainer.daemon.addresses()[0]] })
    const joined = await cliJson(['community', 'join', genesis, '-d', dir, '--data', volunteerImages])
    const startedAt = performance.now()
    const node = await startRoundsNode({ dir })
    cleanups.push(node.destroy)
    return { node, joined, startedAt }
  }
  return { dir: tmp.path, maintainerDir, maintainer, genesis, created, volunteerImages, evalImages, joinVolunteer }
}
