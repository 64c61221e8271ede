/** The one error base: code, cause, a name taken from the class, and a guard that sees other module copies. */
import { describe, expect, it } from 'vitest'
import { AbortError, SwarmtuneError, WireError, isSwarmtuneError, isWireError, withCode } from '../src/index.js'

class ExampleError extends SwarmtuneError {}
class ExampleDetailError extends ExampleError {
  constructor (readonly detail: number) { super('ERR_EXAMPLE_DETAIL', `detail ${detail}`) }
}

describe('SwarmtuneError', () => {
  it('takes its name from the class constructed, at every depth', () => {
    expect(new ExampleError('ERR_EXAMPLE', 'm').name).toBe('ExampleError')
    expect(new ExampleDetailError(3)).toMatchObject({ name: 'ExampleDetailError', code: 'ERR_EXAMPLE_DETAIL', detail: 3, message: 'detail 3' })
    expect(new WireError('ERR_WIRE_TRUNCATED', 'm').name).toBe('WireError')
    expect(String(new ExampleError('ERR_EXAMPLE', 'what happened'))).toBe('ExampleError: what happened')
  })

  it('keeps a cause when one is given, and has none otherwise', () => {
    const cause = new Error('underlying')
    expect(new ExampleError('ERR_EXAMPLE', 'm', { cause }).cause).toBe(cause)
    expect('cause' in new ExampleError('ERR_EXAMPLE', 'm')).toBe(false)
  })

  it('is an Error with a stack, and every subclass is one', () => {
    const e = new ExampleDetailError(1)
    expect(e).toBeInstanceOf(Error)
    expect(e).toBeInstanceOf(SwarmtuneError)
    expect(e.stack).toContain('ExampleDetailError')
    expect(new WireError('ERR_WIRE_TRUNCATED', 'm')).toBeInstanceOf(SwarmtuneError)
  })
})

describe('withCode', () => {
  class CodedError extends SwarmtuneError<'ERR_EXAMPLE_A' | 'ERR_EXAMPLE_B'> {}
  class FixedError extends withCode(CodedError, 'ERR_EXAMPLE_A') {}

  it('makes a subclass of its base with the one code, its own name and the cause given', () => {
    const cause = new Error('underlying')
    const e = new FixedError('what happened', { cause })
    expect(e).toBeInstanceOf(CodedError)
    expect(e).toBeInstanceOf(FixedError)
    expect(e).toMatchObject({ name: 'FixedError', code: 'ERR_EXAMPLE_A', message: 'what happened', cause })
    expect('cause' in new FixedError('m')).toBe(false)
    expect(isSwarmtuneError(e)).toBe(true)
  })
})

describe('isSwarmtuneError', () => {
  it('is true for the base and its subclasses, false for other errors and values', () => {
    expect(isSwarmtuneError(new ExampleError('ERR_EXAMPLE', 'm'))).toBe(true)
    expect(isSwarmtuneError(new AbortError('m'))).toBe(true)
    const lookalike = Object.assign(new Error('m'), { code: 'ERR_EXAMPLE', name: 'ExampleError' })
    for (const v of [lookalike, new Error('m'), { code: 'ERR_EXAMPLE', name: 'ExampleError', message: 'm' }, null, undefined, 'ERR_EXAMPLE']) {
      expect(isSwarmtuneError(v), String(v)).toBe(false)
    }
  })

  it('is true for an error of another copy of the module', async () => {
    // a second instance of the module, as two installed versions of the package would load
    const specifier = '../src/errors.ts?copy'
    const copy = await import(/* @vite-ignore */ specifier) as typeof import('../src/errors.js')
    expect(copy.SwarmtuneError).not.toBe(SwarmtuneError)
    const other = new copy.WireError('ERR_WIRE_TRUNCATED', 'm')
    expect(other).not.toBeInstanceOf(SwarmtuneError)
    expect(isSwarmtuneError(other)).toBe(true)
    expect(isWireError(other)).toBe(true)
    expect(copy.isSwarmtuneError(new AbortError('m'))).toBe(true)
  })
})

describe('AbortError', () => {
  it('has the one abort code and the platform\'s abort name, and keeps the signal\'s reason', () => {
    const controller = new AbortController()
    controller.abort()
    const e = new AbortError('the fetch was aborted', { cause: controller.signal.reason })
    expect(e).toMatchObject({ name: 'AbortError', code: 'ERR_ABORTED', message: 'the fetch was aborted' })
    // the same name as the DOMException an aborted signal carries, which code tells aborts apart by
    expect(e.name).toBe((controller.signal.reason as Error).name)
    expect(e.cause).toBe(controller.signal.reason)
  })
})
