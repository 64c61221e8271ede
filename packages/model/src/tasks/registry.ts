/**
 * Task lookup by id. The built-in tasks are the two MNIST models of McMahan et al. 2017.
 */
import { UnknownTaskError } from '../errors.js'
import { mnist2nn, mnistCnn } from './mnist.js'
import type { Task } from './task.js'

const tasks = new Map<string, Task>([[mnist2nn.id, mnist2nn], [mnistCnn.id, mnistCnn]])

/**
 * The task registered under `id`.
 * @throws UnknownTaskError listing the known ids.
 */
export function getTask (id: string): Task {
  const t = tasks.get(id)
  if (t === undefined) throw new UnknownTaskError(`task ${JSON.stringify(id)} is unknown: known tasks are ${[...tasks.keys()].join(', ')}`)
  return t
}

/** All registered tasks, built-in first. */
export function listTasks (): Task[] {
  return [...tasks.values()]
}

