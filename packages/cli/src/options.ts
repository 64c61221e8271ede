/** Parsers of command-line option values shared by every command (commander `argParser`s). */
import { InvalidArgumentError } from 'commander'

/**
 * A strict integer parser for option `flag`: decimal digits only (no sign, hex, exponent, fraction or blanks),
 * in [`min`, `max`]. Rejects `0x10`, `1e3`, `-5`, `NaN`, `''` with an error naming the option and the range.
 * @throws InvalidArgumentError (commander prints it with the usage; code `commander.invalidArgument`).
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
