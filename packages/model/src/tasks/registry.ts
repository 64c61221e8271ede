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

/**
 * Registers a task made at run time (e.g. by `createModelTask`) under its id, so that `getTask` — hence
 * `trainLocal`, `evaluate` and releases — finds it. Registering the same id again replaces the entry.
 * @throws UnknownTaskError when `task.id` is a built-in task's id.
 */
export function registerTask (task: Task): void {
  if (task.id === mnist2nn.id || task.id === mnistCnn.id) throw new UnknownTaskError(`task id ${task.id} is a built-in task's: a registered task needs an id of its own`)
  tasks.set(task.id, task)
}

/** All registered tasks, built-in first. */
export function listTasks (): Task[] {
  return [...tasks.values()]
}

