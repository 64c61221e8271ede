/**
 * Structured logs: pino, one JSON object per line (`level`, `time` in ms since the epoch, `msg`, fields).
 * Each line is one JSON object, so `grep` and any JSON tool read them (no log viewer is a dependency).
 */
import { pino, type DestinationStream, type Logger } from 'pino'

export type { Logger }

export interface LoggerInit {
  level: string
  /** Where lines go (default stdout). */
  destination?: DestinationStream
}

/** A logger for the daemon; errors are serialised with their `code`, `message` and `stack`. */
export function createLogger (init: LoggerInit): Logger {
  const options = { level: init.level, base: { pid: process.pid }, serializers: { err: pino.stdSerializers.err } }
  return init.destination != null ? pino(options, init.destination) : pino(options)
}
