/** The control API's one code → HTTP status table agrees with doc/errors.md, and unknown codes are 500s. */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CONTROL_STATUS_OF_CODE, controlStatusOf } from '../src/index.js'
import { statusOf } from '../src/control-api.js'

const doc = readFileSync(new URL('../../../doc/errors.md', import.meta.url), 'utf8')

/** The HTTP statuses a doc/errors.md row shows for its code: `(404)`, `(414, 431, 413)`, `control API 409`. */
function shownStatuses (): Map<string, number[]> {
  const shown = new Map<string, number[]>()
  for (const row of doc.split('\n').filter((l) => l.startsWith('| `ERR_'))) {
    const code = /^\| `(ERR_[A-Z0-9_]+)`/.exec(row)?.[1] as string
    const statuses = [
      ...[...row.matchAll(/\((?:control API )?([45]\d\d(?:, [45]\d\d)*)[;)]/g)].flatMap((m) => m[1].split(', ')),
      ...[...row.matchAll(/control API (?:answers (?:it )?with )?([45]\d\d)\b/g)].map((m) => m[1])
    ].map(Number)
    if (statuses.length > 0) shown.set(code, [...new Set([...(shown.get(code) ?? []), ...statuses])])
  }
  return shown
}

describe('CONTROL_STATUS_OF_CODE', () => {
  it('answers each code with a status doc/errors.md shows for it', () => {
    const shown = shownStatuses()
    expect(shown.size).toBeGreaterThan(25)
    const disagree = [...shown].filter(([code, statuses]) => !statuses.includes(controlStatusOf(code)))
      .map(([code, statuses]) => `${code}: table ${controlStatusOf(code)}, doc ${statuses.join('/')}`)
    expect(disagree).toEqual([])
  })

  it('lists only error statuses, and doc/errors.md shows every one that is not a 500', () => {
    const shown = shownStatuses()
    const table = Object.entries(CONTROL_STATUS_OF_CODE)
    expect(table.filter(([, status]) => !(status >= 400 && status <= 599))).toEqual([])
    const unshown = table.filter(([code, status]) => status !== 500 && shown.get(code)?.includes(status) !== true).map(([code, status]) => `${code} ${status}`)
    expect(unshown).toEqual([])
  })

  it('answers a code it does not list, no code, or a name of Object.prototype with 500', () => {
    for (const code of ['ERR_NODE_INTERNAL', 'ERR_ROUNDS_RESUME_CONFLICT', 'ERR_NOT_A_CODE', 'constructor', 'toString', '__proto__', undefined]) {
      expect(controlStatusOf(code), String(code)).toBe(500)
    }
    expect(controlStatusOf('ERR_ROUNDS_NOT_MAINTAINER')).toBe(403)
    expect(controlStatusOf('ERR_ABORTED')).toBe(499)
  })
})

describe('statusOf', () => {
  it('takes the table\'s status for a code, fastify\'s own 4xx status otherwise, else 500', () => {
    expect(statusOf({ code: 'ERR_ROUNDS_VERIFY_INCOMPLETE' })).toBe(422)
    // a status an error carries does not override its code's
    expect(statusOf({ code: 'ERR_ROUNDS_NOT_FOUND', statusCode: 400 })).toBe(404)
    expect(statusOf({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 })).toBe(415)
    expect(statusOf({ code: 'ERR_ROUNDS_RESUME_CONFLICT', statusCode: 503 })).toBe(500)
    expect(statusOf(new Error('no code'))).toBe(500)
    expect(statusOf(undefined)).toBe(500)
  })
})
