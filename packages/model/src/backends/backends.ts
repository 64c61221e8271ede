/**
 * tfjs backend discovery and choice. Preference order (fastest first):
 *   node-gpu (`@tensorflow/tfjs-node-gpu`, CUDA) → node (`@tensorflow/tfjs-node`, libtensorflow on the CPU)
 *   → wasm (`@tensorflow/tfjs-backend-wasm`, XNNPACK + SIMD) → cpu (plain JavaScript, always present).
 * The two native packages are optional dependencies whose install downloads libtensorflow; where that failed
 * they are reported unavailable with the import error. A backend that lacks a kernel the task needs is skipped
 * with the missing kernel names (the wasm backend has no Conv2DBackpropFilter, so it cannot train mnist-cnn).
 * The wasm binaries are loaded from the installed npm package (a file path), never fetched.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { BackendError } from '../errors.js'
import { listTasks } from '../tasks/registry.js'
import type { Task } from '../tasks/task.js'
import { tf } from '../tf.js'
import { installFastCpuConv2DBackpropFilter } from './cpu-kernels.js'

/** The backends this package knows, in preference order. */
export const BACKEND_ORDER = ['node-gpu', 'node', 'wasm', 'cpu'] as const

/** A backend id as used by `--backend` and in reports. */
export type BackendId = typeof BACKEND_ORDER[number]

/** What training or evaluation needs from a backend. */
export type BackendPurpose = 'train' | 'inference'

/** Static facts about a backend. */
export interface BackendDescriptor {
  id: BackendId
  /** The npm package providing it (`@tensorflow/tfjs-backend-cpu` ships with `@tensorflow/tfjs`). */
  package: string
  /** The name tfjs registers it under (`tf.getBackend()`). */
  tfjsName: string
}

export const BACKENDS: Record<BackendId, BackendDescriptor> = {
  'node-gpu': { id: 'node-gpu', package: '@tensorflow/tfjs-node-gpu', tfjsName: 'tensorflow' },
  node: { id: 'node', package: '@tensorflow/tfjs-node', tfjsName: 'tensorflow' },
  wasm: { id: 'wasm', package: '@tensorflow/tfjs-backend-wasm', tfjsName: 'wasm' },
  cpu: { id: 'cpu', package: '@tensorflow/tfjs-backend-cpu', tfjsName: 'cpu' }
}

/** Whether a backend can run in this process, and why not. */
export interface BackendStatus extends BackendDescriptor {
  available: boolean
  /** Why it is available (what initialised) or why not (the import or initialisation error). */
  reason: string
}

/** A backend passed over for a task, and why. */
export interface SkippedBackend {
  backend: BackendId
  reason: string
}

/** The backend chosen for a task, and why: the reason names every faster backend skipped and its reason. */
export interface BackendSelection {
  task: string
  purpose: BackendPurpose
  backend: BackendId
  tfjsName: string
  reason: string
  skipped: SkippedBackend[]
}

/** What `swarmtune doctor` shows: every backend's availability and, per task and purpose, the choice. */
export interface BackendReport {
  backends: BackendStatus[]
  choices: Array<BackendSelection | { task: string, purpose: BackendPurpose, backend: null, reason: string, skipped: SkippedBackend[] }>
}

/** Options of `selectBackend`. */
export interface SelectBackendOptions {
  /** Use exactly this backend, or fail with a `BackendError` saying why it cannot be used. */
  backend?: string
  /** Kernels for training (default) or for inference only. */
  purpose?: BackendPurpose
  /** Backends to consider when choosing automatically, in preference order (default `BACKEND_ORDER`). */
  candidates?: readonly BackendId[]
}

const probes = new Map<BackendId, Promise<BackendStatus>>()

/** Folder of the wasm binaries inside the installed `@tensorflow/tfjs-backend-wasm` package. */
export function wasmBinaryDir (): string {
  const require = createRequire(import.meta.url)
  return join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')
}

const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'] as const

async function loadNative (id: 'node-gpu' | 'node'): Promise<BackendStatus> {
  const d = BACKENDS[id]
  if (id === 'node') {
    const gpu = await probe('node-gpu')
    if (gpu.available) {
      return { ...d, available: false, reason: `not loaded: ${BACKENDS['node-gpu'].package} already provides the tensorflow backend in this process` }
    }
  }
  try {
    await import(d.package)
  } catch (err) {
    const e = err as { code?: string, message?: string }
    const why = e.code === 'ERR_MODULE_NOT_FOUND'
      ? 'not installed (an optional dependency: its install downloads libtensorflow, which failed or was skipped)'
      : `failed to load: ${firstLine(e.message ?? String(err))}`
    return { ...d, available: false, reason: why }
  }
  return initialise(d, `${d.package} loaded libtensorflow`)
}

async function loadWasm (): Promise<BackendStatus> {
  const d = BACKENDS.wasm
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm')
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm')
  } catch (err) {
    return { ...d, available: false, reason: `failed to load ${d.package}: ${firstLine((err as Error).message)}` }
  }
  const dir = wasmBinaryDir()
  const missing = WASM_FILES.filter((f) => !existsSync(join(dir, f)))
  if (missing.length > 0) {
    return { ...d, available: false, reason: `wasm binaries missing from ${dir}: ${missing.join(', ')} (reinstall ${d.package})` }
  }
  try {
    wasm.setWasmPaths(Object.fromEntries(WASM_FILES.map((f) => [f, join(dir, f)])))
  } catch (err) {
    return { ...d, available: false, reason: `cannot point the wasm backend at ${dir}: ${firstLine((err as Error).message)}` }
  }
  return initialise(d, `loaded from ${dir}`)
}

async function initialise (d: BackendDescriptor, how: string): Promise<BackendStatus> {
  const previous = tf.getBackend()
  try {
    const ok = await tf.setBackend(d.tfjsName)
    if (!ok) return { ...d, available: false, reason: `${d.package} is installed but its backend failed to initialise` }
    const simd = d.id === 'wasm' ? ((await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true ? ', SIMD' : ', no SIMD') : ''
    return { ...d, available: true, reason: `${how}${simd}` }
  } catch (err) {
    return { ...d, available: false, reason: `${d.package} failed to initialise: ${firstLine((err as Error).message)}` }
  } finally {
    if (previous !== undefined && previous !== d.tfjsName) await tf.setBackend(previous)
  }
}

function loadCpu (): BackendStatus {
  installFastCpuConv2DBackpropFilter()
  return { ...BACKENDS.cpu, available: true, reason: 'built into @tensorflow/tfjs (pure JavaScript; Conv2DBackpropFilter replaced by a flat-indexed loop, see cpu-kernels.ts)' }
}

function firstLine (s: string): string {
  return s.split('\n')[0].slice(0, 300)
}

function probe (id: BackendId): Promise<BackendStatus> {
  let p = probes.get(id)
  if (p === undefined) {
    p = id === 'cpu'
      ? Promise.resolve(loadCpu())
      : id === 'wasm' ? loadWasm() : loadNative(id)
    probes.set(id, p)
  }
  return p
}

/**
 * What a backend choice needs to know of a computation: its name (for messages) and the tfjs kernels its
 * training and inference dispatch. Every `Task` is one; so is a causal LM (`causalLmKernelNeeds`).
 */
export type KernelNeeds = Pick<Task, 'id' | 'kernels'>

/** Kernels of `task` (for `purpose`) that the tfjs backend named `tfjsName` has not registered. */
export function missingKernels (task: KernelNeeds, tfjsName: string, purpose: BackendPurpose = 'train'): string[] {
  return task.kernels[purpose].filter((k) => tf.getKernel(k, tfjsName) === undefined)
}

/**
 * Loads (once per process) and reports every backend: whether it is available and why or why not. Probing
 * imports the optional packages and initialises their backends; it does not change the active backend.
 */
export async function probeBackendStatus (): Promise<BackendStatus[]> {
  const out: BackendStatus[] = []
  for (const id of BACKEND_ORDER) out.push(await probe(id))
  return out
}

function isBackendId (s: string): s is BackendId {
  return (BACKEND_ORDER as readonly string[]).includes(s)
}

/**
 * Decides which backend `task` would use, without activating it.
 * @throws BackendError ERR_MODEL_UNKNOWN_BACKEND for a name not in `BACKEND_ORDER`; ERR_MODEL_BACKEND_UNAVAILABLE
 *   when the requested backend (or, without a request, every backend) cannot load; ERR_MODEL_BACKEND_MISSING_KERNELS
 *   when the requested backend lacks a kernel the task needs for `purpose`.
 */
export async function chooseBackend (task: KernelNeeds, options: SelectBackendOptions = {}): Promise<BackendSelection> {
  const purpose = options.purpose ?? 'train'
  const skipped: SkippedBackend[] = []
  if (options.backend !== undefined) {
    const want = options.backend
    if (!isBackendId(want)) {
      throw new BackendError('ERR_MODEL_UNKNOWN_BACKEND', want, `unknown backend name; expected one of ${BACKEND_ORDER.join(', ')}`)
    }
    const s = await probe(want)
    if (!s.available) throw new BackendError('ERR_MODEL_BACKEND_UNAVAILABLE', want, `${s.reason}; choose another with --backend or omit it to choose automatically`)
    const missing = missingKernels(task, s.tfjsName, purpose)
    if (missing.length > 0) {
      throw new BackendError('ERR_MODEL_BACKEND_MISSING_KERNELS', want,
        `it lacks ${missing.join(', ')}, which ${purpose === 'train' ? 'training' : 'inference of'} ${task.id} needs; choose another backend or omit --backend`)
    }
    return { task: task.id, purpose, backend: want, tfjsName: s.tfjsName, reason: `${want}: requested explicitly (${s.reason})`, skipped }
  }
  const candidates = options.candidates ?? BACKEND_ORDER
  for (const id of candidates) {
    if (!isBackendId(id)) throw new BackendError('ERR_MODEL_UNKNOWN_BACKEND', id, `unknown backend name; expected one of ${BACKEND_ORDER.join(', ')}`)
  }
  for (const id of candidates) {
    const s = await probe(id)
    if (!s.available) {
      skipped.push({ backend: id, reason: s.reason })
      continue
    }
    const missing = missingKernels(task, s.tfjsName, purpose)
    if (missing.length > 0) {
      skipped.push({ backend: id, reason: `lacks kernel${missing.length > 1 ? 's' : ''} ${missing.join(', ')} needed for ${purpose === 'train' ? 'training' : 'inference'}` })
      continue
    }
    const why = skipped.length === 0
      ? `${id}: the fastest backend, available (${s.reason})`
      : `${id}: the fastest available backend with every kernel ${task.id} needs for ${purpose === 'train' ? 'training' : 'inference'}; skipped ${skipped.map((k) => `${k.backend} (${k.reason})`).join('; ')}`
    return { task: task.id, purpose, backend: id, tfjsName: s.tfjsName, reason: why, skipped }
  }
  throw new BackendError('ERR_MODEL_BACKEND_UNAVAILABLE', 'any', `no backend can ${purpose === 'train' ? 'train' : 'run'} ${task.id}: ${skipped.map((k) => `${k.backend} (${k.reason})`).join('; ')}`)
}

/**
 * Chooses the backend for `task` (see `chooseBackend`) and makes it the active tfjs backend of this thread.
 * @throws BackendError as `chooseBackend`.
 */
export async function selectBackend (task: KernelNeeds, options: SelectBackendOptions = {}): Promise<BackendSelection> {
  const sel = await chooseBackend(task, options)
  if (tf.getBackend() !== sel.tfjsName) {
    const ok = await tf.setBackend(sel.tfjsName)
    if (!ok) throw new BackendError('ERR_MODEL_BACKEND_UNAVAILABLE', sel.backend, 'the backend failed to initialise when activated')
  }
  await tf.ready()
  return sel
}

/**
 * The report `swarmtune doctor` prints: every backend's availability and, for each task (default: every
 * registered task) and purpose, the backend it would use and why (or why none can).
 */
export async function probeBackends (tasks: readonly KernelNeeds[] = listTasks()): Promise<BackendReport> {
  const backends = await probeBackendStatus()
  const choices: BackendReport['choices'] = []
  for (const task of tasks) {
    for (const purpose of ['train', 'inference'] as const) {
      try {
        choices.push(await chooseBackend(task, { purpose }))
      } catch (err) {
        choices.push({ task: task.id, purpose, backend: null, reason: (err as Error).message, skipped: [] })
      }
    }
  }
  return { backends, choices }
}
