/**
 * Worker-thread side of `TrainingWorker`: receives jobs, runs `trainLocal` / `evaluate` on this thread's own
 * tfjs engine and posts progress, results (weight buffers transferred, not copied) and errors back.
 */
import { parentPort } from 'node:worker_threads'
import { tf } from '../tf.js'
import { evaluate, trainLocal } from './local.js'
import type { WorkerModelTask, WorkerReply, WorkerRequest } from './worker-protocol.js'
import { loadModelTaskRef, serializeError } from './worker-protocol.js'

const port = parentPort
if (port === null) throw new Error('worker-entry.ts must run inside a worker thread (started by TrainingWorker)')

let queue: Promise<void> = Promise.resolve()

/** Model tasks this thread built and registered, by task id (one per spec CID). */
const modelTasks = new Set<string>()

async function ensureModelTask (model: WorkerModelTask | undefined): Promise<void> {
  if (model === undefined || modelTasks.has(model.id)) return
  await loadModelTaskRef(model)
  modelTasks.add(model.id)
}

port.on('message', (req: WorkerRequest) => {
  queue = queue.then(async () => {
    const reply = (m: WorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer)
    try {
      if (req.kind !== 'memory') await ensureModelTask(req.model)
      if (req.kind === 'train') {
        const result = await trainLocal(req.options, { onProgress: (evt) => reply({ id: req.id, type: 'progress', progress: evt.detail }) })
        reply({ id: req.id, type: 'train-result', result }, result.weights.values.map((v) => v.buffer as ArrayBuffer))
      } else if (req.kind === 'evaluate') {
        reply({ id: req.id, type: 'evaluate-result', result: await evaluate(req.options) })
      } else {
        const { numTensors, numDataBuffers, numBytes } = tf.memory()
        reply({ id: req.id, type: 'memory-result', result: { numTensors, numDataBuffers, numBytes } })
      }
    } catch (err) {
      reply({ id: req.id, type: 'error', error: serializeError(err) })
    }
  })
})
