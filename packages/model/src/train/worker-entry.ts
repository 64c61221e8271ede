/**
 * Worker-thread side of `TrainingWorker`: receives jobs, runs `trainLocal` / `evaluate` on this thread's own
 * tfjs engine and posts progress, results (weight buffers transferred, not copied) and errors back.
 */
import { parentPort } from 'node:worker_threads'
import { tf } from '../tf.js'
import { evaluate, trainLocal } from './local.js'
import type { WorkerReply, WorkerRequest } from './worker-protocol.js'
import { serializeError } from './worker-protocol.js'

const port = parentPort
if (port === null) throw new Error('worker-entry.ts must run inside a worker thread (started by TrainingWorker)')

let queue: Promise<void> = Promise.resolve()

port.on('message', (req: WorkerRequest) => {
  queue = queue.then(async () => {
    const reply = (m: WorkerReply, transfer: ArrayBuffer[] = []): void => port.postMessage(m, transfer)
    try {
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
