/** Parsers of command-line option values shared by every command (commander `argParser`s). */
import { InvalidArgumentError } from 'commander'
import { bootstrapAddrProblem, multiaddrProblem } from '@swarmtune/node'

/**
 * A strict integer parser for option `flag`: decimal digits only (no sign, hex, exponent, fraction or blanks),
 * in [`min`, `max`]. Rejects `0x10`, `1e3`, `-5`, `NaN`, `''` with an error naming the option and the range.
 * @throws InvalidArgumentError (the CLI prints it with code `ERR_CLI_BAD_OPTION_VALUE`).
 */
export function intOption (flag: string, min: number, max: number = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string): number => {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`
    if (!/^\d{1,16}$/.test(value)) throw new InvalidArgumentError(`${flag} must be ${range} written in decimal digits, got "${value}"`)
    const n = Number(value)
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${flag} must be ${range}, got ${value}`)
    return n
  }
}

/** A TCP port for option `flag`: 0 (pick a free one) to 65535. */
export const portOption = (flag: string): (value: string) => number => intOption(flag, 0, 65535)

/** The units a duration may be written in, with their length in ms (`m` and `min` are both minutes). */
export const DURATION_UNITS_MS: Readonly<Record<string, number>> = Object.freeze({ ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 })

/** The accepted units as the messages list them. */
const UNIT_LIST = 'ms, s, m or min, h, d'

/**
 * Reads a duration as a number and a unit (`90s`, `2m`, `2min`, `1.5h`, `1d`, `1500ms`; units in
 * {@link DURATION_UNITS_MS}), returning ms rounded to an integer.
 * @param bareUnit - when given, a bare number (no unit) is read in this unit (only where an option documents it,
 *   e.g. `doctor --timeout 3000` in ms); without it a bare number is refused, since `2` could mean 2 ms, 2 s or 2 min
 * @throws InvalidArgumentError naming `flag`, what was typed and the accepted units.
 */
export function parseDuration (flag: string, value: string, bareUnit?: keyof typeof DURATION_UNITS_MS): number {
  const text = value.trim()
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text)
  if (m === null) throw new InvalidArgumentError(`${flag} ${JSON.stringify(value)} is not a duration: write a number and a unit (${UNIT_LIST}), e.g. 90s, 2m or 1h`)
  const unit = m[2].toLowerCase()
  if (unit === '') {
    if (bareUnit === undefined) throw new InvalidArgumentError(`${flag} ${value} has no unit: write it with one (${UNIT_LIST}), e.g. ${m[1]}s or ${m[1]}m`)
    return Math.round(Number(m[1]) * DURATION_UNITS_MS[bareUnit])
  }
  const factor = DURATION_UNITS_MS[unit]
  if (factor === undefined) throw new InvalidArgumentError(`${flag} ${value}: "${m[2]}" is not a unit of time; the units are ${UNIT_LIST}, e.g. 90s, 2m or 1h`)
  return Math.round(Number(m[1]) * factor)
}

/**
 * A duration option (see {@link parseDuration}) in [`minMs`, `maxMs`], returning ms.
 * @throws InvalidArgumentError naming the option, what was typed and the range.
 */
export function durationOption (flag: string, opts: { minMs?: number, maxMs?: number, bareUnit?: keyof typeof DURATION_UNITS_MS } = {}): (value: string) => number {
  return (value: string): number => {
    const ms = parseDuration(flag, value, opts.bareUnit)
    const min = opts.minMs ?? 0
    const max = opts.maxMs ?? Number.MAX_SAFE_INTEGER
    if (ms < min) throw new InvalidArgumentError(`${flag} ${value} is ${ms} ms; the shortest accepted is ${formatMs(min)}`)
    if (ms > max) throw new InvalidArgumentError(`${flag} ${value} is ${ms} ms; the longest accepted is ${formatMs(max)}`)
    return ms
  }
}

/** ms as the largest whole unit that divides it (`120000` → `2m`, `1500` → `1500ms`). */
export function formatMs (ms: number): string {
  for (const [unit, f] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms >= f && ms % f === 0) return `${ms / f}${unit}`
  }
  return `${ms}ms`
}

/** A measured number in text output, to 4 significant digits (`3.432653896353186` → `3.433`); JSON output keeps the exact number. */
export function significant (x: number, digits = 4): string {
  return Number.isFinite(x) ? new Intl.NumberFormat('en-US', { maximumSignificantDigits: digits, useGrouping: false }).format(x) : String(x)
}

/** `n thing` / `n things`: the noun in the plural unless n is 1 (`plural` when not noun + s). */
export function count (n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`
}

/**
 * A repeatable multiaddr option (`--listen`, `--announce`): each value is checked as the daemon's
 * configuration checks it, so that a bad value is refused naming the option rather than config.json.
 * @throws InvalidArgumentError naming `flag`, the value and what it takes.
 */
export function multiaddrOption (flag: string): (value: string, previous?: string[]) => string[] {
  return (value: string, previous: string[] = []): string[] => {
    const bad = multiaddrProblem(value)
    if (bad !== undefined) throw new InvalidArgumentError(`${flag} ${JSON.stringify(value)} is ${bad}`)
    return [...previous, value]
  }
}

/**
 * The repeatable `--bootstrap` option: a multiaddr ending in `/p2p/<peer id>`, checked as the configuration checks it.
 * @throws InvalidArgumentError naming the option, the value and what it takes.
 */
export function bootstrapOption (flag = '--bootstrap'): (value: string, previous?: string[]) => string[] {
  return (value: string, previous: string[] = []): string[] => {
    const bad = bootstrapAddrProblem(value)
    if (bad !== undefined) throw new InvalidArgumentError(`${flag} ${JSON.stringify(value)}: ${bad}`)
    return [...previous, value]
  }
}
