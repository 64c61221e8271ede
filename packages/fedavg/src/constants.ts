/**
 * Numbers that matter in aggregation and delta coding, with their units and where they come from.
 */

/**
 * Coordinates processed per chunk when every delta is in memory (robust aggregators, chunked FedAvg).
 * 16 Ki coordinates keep the Float64 scratch of one chunk (128 KiB) inside a typical 256 KiB–1 MiB L2 cache;
 * chosen by measurement in scripts/bench/fedavg.bench.ts.
 */
export const CHUNK_COORDS = 16_384

/**
 * Largest model a spec or an encoded delta may describe, in parameters: 2^28 (268M) parameters, 1 GiB as
 * fp32. Bounds every allocation a decoder makes from untrusted bytes; far above the tasks' models
 * (MNIST CNN: 1.66M parameters).
 */
export const MAX_MODEL_PARAMS = 2 ** 28

/** Most tensors a spec or an encoded delta may list (a transformer of 100 layers has ~1,600). */
export const MAX_TENSORS = 65_536

/**
 * Largest aggregation weight (sample count) accepted: 2^53 − 1, the largest integer a double holds exactly,
 * so that a sum of weights over any realistic round stays finite and exact.
 */
export const MAX_WEIGHT = Number.MAX_SAFE_INTEGER

/** Highest tensor rank accepted (tfjs supports up to rank 6). */
export const MAX_TENSOR_RANK = 6

/** Longest contribution id accepted, in bytes (a CIDv1 with a sha2-256 multihash is 36 bytes). */
export const MAX_CONTRIBUTION_ID_BYTES = 128

/**
 * Default DiLoCo outer optimiser: Nesterov momentum with server learning rate 0.7 and momentum 0.9
 * (Douillard et al. 2023, "DiLoCo: Distributed Low-Communication Training of Language Models", §3).
 */
export const DILOCO_SERVER_LR = 0.7
export const DILOCO_MOMENTUM = 0.9

/**
 * FedAdam / FedYogi defaults (Reddi et al. 2021, "Adaptive Federated Optimization", ICLR, Algorithm 2 and
 * §5: β1 = 0.9, β2 = 0.99, adaptivity τ = 1e-3; the server learning rate is tuned per task, 1e-2 is a common
 * starting point in their grid).
 */
export const FEDADAM_BETA1 = 0.9
export const FEDADAM_BETA2 = 0.99
export const FEDADAM_TAU = 1e-3
export const FEDADAM_SERVER_LR = 1e-2

/**
 * CenteredClip iterations per aggregation (Karimireddy, He, Jaggi 2021, "Learning from History for
 * Byzantine Robust Optimization", Algorithm 2 uses l ≥ 1; three iterations from a robust start suffice in
 * our robustness test).
 */
export const CENTERED_CLIP_ITERATIONS = 3

/** Largest int8 magnitude used by the int8 codecs: values map to [-127, 127] (symmetric, -128 unused). */
export const INT8_MAX = 127

/** Largest finite fp16 value (IEEE 754 binary16): 65504. Encoding a larger magnitude is a range error. */
export const FP16_MAX = 65_504
