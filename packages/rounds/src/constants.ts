/**
 * Defaults and limits of training rounds, each with its unit in the name and where the number comes from.
 */
import { MNIST_TEST_EXAMPLES, MNIST_TRAIN_EXAMPLES } from '@swarmtune/model'
import { LIMITS } from '@swarmtune/wire'

// --- community -----------------------------------------------------------------------------------------

/**
 * Default largest L2 norm of a delta a community accepts (genesis `policy.maxDeltaNorm`). One local epoch
 * of mnist-2nn at η = 0.05, B = 10 on 600 examples moves the weights by an L2 norm of about 2–4 (measured
 * with `swarmtune simulate`); 100 leaves room for larger shards and learning rates while stopping a delta
 * scaled by 10^3, the size of a model-replacement attack (Bagdasaryan et al. 2020).
 */
export const DEFAULT_MAX_DELTA_NORM = 100
/** Default longest round a community allows (genesis `policy.maxRoundMs`): one hour, in ms. */
export const DEFAULT_MAX_ROUND_MS = 3_600_000
/** Seed of the genesis release's initial weights when none is given (`task.initWeights(seed)`). */
export const DEFAULT_GENESIS_SEED = 1
/**
 * Largest genesis file read, in bytes: the wire limit of a genesis entry, 65,536 B = 64 KiB (protocol/limits.md,
 * `LIMITS.perKind.genesis`), so a file is refused by size before it is read whole.
 */
export const MAX_GENESIS_FILE_BYTES = LIMITS.perKind.genesis

// --- coordinator ---------------------------------------------------------------------------------------

/** Default round length when `round start` gives none: two minutes, in ms (a few local epochs of mnist-2nn). */
export const DEFAULT_ROUND_DURATION_MS = 120_000
/** Shortest round a coordinator opens, in ms: below a few seconds no volunteer can fetch the base in time. */
export const MIN_ROUND_DURATION_MS = 2_000
/** Default most contributions per round (the McMahan et al. 2017 setting samples C·K = 10 of 100 clients). */
export const DEFAULT_MAX_CONTRIBUTIONS = 100
/**
 * Contributions of one author in one round that the coordinator judges (fetches and decodes); more are
 * rejected as duplicates unread, so a volunteer cannot make the coordinator download without bound.
 */
export const MAX_JUDGED_PER_AUTHOR = 8
/** Time allowed to fetch one contribution's blob, in ms (a 4 MiB fp32 delta over a slow home uplink). */
export const CONTRIBUTION_FETCH_TIMEOUT_MS = 30_000
/** Delay before asking again for a delta blob no connected peer had, in ms (a contributor reconnecting). */
export const FETCH_RETRY_MS = 1_000
/**
 * Longest delay one `setTimeout` takes, in ms: 2^31 − 1 (Node.js clamps a larger delay to 1 ms with a
 * TimeoutOverflowWarning; the HTML timers spec stores it as a signed 32-bit integer). A later deadline is
 * re-armed in steps of at most this.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1
/** Retry delay of a close that failed (a delta that cannot be read now, a full disk), in ms. */
export const CLOSE_RETRY_MS = 5_000
/**
 * Time after opening during which a round does not close early, in ms, even when every volunteer that answered
 * has contributed: two gossipsub heartbeats (1 s each, the gossipsub v1.1 default `heartbeat_interval`). A
 * round-open the mesh push missed reaches a subscribed peer by IHAVE/IWANT gossip within one heartbeat, and
 * its answer travels back within the next, so volunteers slower to answer are still counted.
 */
export const ANSWER_WINDOW_MS = 2_000
/**
 * Largest round answer accepted, in bytes: the map's fixed fields (two 36-byte CIDs, a 32-byte key, status,
 * time, ≈ 160 B), a 64-character code and a 1,024-character reason of up to 3 bytes per character in UTF-8.
 */
export const MAX_ANSWER_BYTES = 4 * 1024
/** Default held-out examples the coordinator evaluates each release on: the MNIST test split (LeCun et al. 1998). */
export const DEFAULT_EVAL_EXAMPLES = MNIST_TEST_EXAMPLES
/** Verdict code of an accepted contribution. */
export const VERDICT_OK = 'OK'

// --- volunteer -----------------------------------------------------------------------------------------

/**
 * Time a volunteer keeps before a round's deadline for encoding, storing and gossiping its contribution,
 * in ms: training is stopped this long before the deadline. Encoding a 4 MiB delta and one gossip hop take
 * well under a second on loopback; 2 s covers a slow home link.
 */
export const PUBLISH_MARGIN_MS = 2_000
/** Default longest local training a volunteer accepts for one round, in ms (its local policy). */
export const DEFAULT_VOLUNTEER_MAX_ROUND_MS = 600_000
/** Time allowed to fetch one release (manifest and every shard), in ms. */
export const RELEASE_FETCH_TIMEOUT_MS = 120_000

// --- state store ---------------------------------------------------------------------------------------

/** Version of the rounds state store layout (`<data>/rounds/state`), checked on open. */
export const ROUNDS_STATE_VERSION = 1

/**
 * Default most training samples one contribution may claim (genesis `policy.maxSamples`), bounding a
 * contributor's FedAvg weight n_k: the whole MNIST training split (60,000 examples, LeCun et al. 1998), more
 * than any honest volunteer of the built-in tasks holds.
 */
export const DEFAULT_MAX_SAMPLES = MNIST_TRAIN_EXAMPLES

/** Network-level rejections (bad signatures, malformed entries) recorded per round for `round status`. */
export const MAX_NETWORK_REJECTIONS_PER_ROUND = 1_000

/** Minimum interval between `rounds:train:progress` events of one training run, in ms. */
export const PROGRESS_EVENT_INTERVAL_MS = 1_000

/**
 * Largest rounds.json read, in bytes: 64 KiB. The settings (community path, data specs, backends) fit in
 * about 1 KiB; the cap keeps a link to a device or a wrong file from being read without end.
 */
export const MAX_ROUNDS_CONFIG_FILE_BYTES = 64 * 1024
