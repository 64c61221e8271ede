/**
 * Timings and defaults of the orchestration scripts (demo, fault tests, rounds benchmark), each with its unit
 * in the name and where the number comes from.
 */

/**
 * Time a daemon gets to stop cleanly after SIGTERM before its process group is SIGKILLed, in ms. A clean
 * stop (libp2p, the control API, LevelDB stores, the training worker) takes well under 2 s on a 2-core
 * machine; 10 s leaves room for a busy one.
 */
export const STOP_GRACE_MS = 10_000

/**
 * A signal within this many ms of the first is the same interruption, in ms: npm relays the terminal's
 * Ctrl-C to the script that already got it.
 */
export const REPEAT_SIGNAL_MS = 1_000

/**
 * Longest wait for a started daemon to write its `daemon.json` and answer on its control API, in ms. Loading
 * the CLI through tsx and starting libp2p takes 3–8 s on a loaded 2-core machine; 120 s leaves room for
 * several daemons starting at once.
 */
export const DAEMON_READY_TIMEOUT_MS = 120_000

/** Longest one-shot `swarmtune` command (init, community create / join, ledger and release verify), in ms. */
export const COMMAND_TIMEOUT_MS = 300_000

/** Interval between polls of a daemon's status while waiting for it, in ms. */
export const POLL_INTERVAL_MS = 200

/** Longest wait for every started volunteer to be in the community's gossip topic, in ms (a few heartbeats). */
export const TOPIC_JOIN_TIMEOUT_MS = 60_000

/** `swarmtune` commands run at once while setting up data folders: one per core keeps a 2-core machine usable. */
export const SETUP_CONCURRENCY = 2

/**
 * Examples a volunteer measures its loss before and after training on (rounds.json `volunteer.lossExamples`):
 * the first 1,000 of its part. The default (all of them, ~15,000) costs two extra forward passes of ~1 s
 * each per round on wasm, which would count as coordination overhead.
 */
export const LOSS_EXAMPLES = 1_000

/**
 * Examples in the MNIST training split (LeCun et al. 1998); the default pool shared out among volunteers. The
 * same as `MNIST_TRAIN_EXAMPLES` of `@swarmtune/model`, repeated so that the cluster helpers (fault tests,
 * rounds benchmark) do not load tfjs.
 */
export const MNIST_TRAIN_EXAMPLES = 60_000
