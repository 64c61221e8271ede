/**
 * The event bus (filtering, bounded queues for slow readers) and peer reputation (exponential decay,
 * exclusion threshold, gossipsub P5 input).
 */
import { describe, expect, it } from 'vitest'
import { PENALTY_BAD_BYTES, PENALTY_EXCLUDE_THRESHOLD, PENALTY_HALF_LIFE_MS } from '../src/constants.js'
import { EventBus, type DaemonEvent } from '../src/events.js'
import { PeerReputation } from '../src/reputation.js'

describe('event bus', () => {
  it('streams matching events in order and stops on abort', async () => {
    const bus = new EventBus()
    const controller = new AbortController()
    const seen: DaemonEvent[] = []
    const reading = (async () => { for await (const e of bus.stream({ signal: controller.signal, prefixes: ['blob:'] })) seen.push(e) })()
    await new Promise((resolve) => setImmediate(resolve))
    bus.emit('peer:connect', { peer: 'a' })
    bus.emit('blob:stored', { cid: 'x', size: 1 })
    bus.emit('blob:fetch:done', { cid: 'x' })
    await new Promise((resolve) => setImmediate(resolve))
    controller.abort()
    await reading
    expect(seen.map((e) => e.type)).toEqual(['blob:stored', 'blob:fetch:done'])
    expect(bus.listenerCount).toBe(0)
  })

  it('drops the oldest events for a reader that falls behind, and says how many', async () => {
    const bus = new EventBus()
    const controller = new AbortController()
    const it = bus.stream({ signal: controller.signal, queueLength: 3 })[Symbol.asyncIterator]()
    const first = it.next() // starts the reader; it waits for events
    for (let i = 0; i < 10; i++) bus.emit('tick', { i }) // arrive faster than it reads
    const got = [await first, await it.next(), await it.next(), await it.next()].map((r) => r.value as DaemonEvent)
    controller.abort()
    expect(got[0]).toMatchObject({ type: 'events:dropped', count: 7 })
    expect(got.slice(1).map((e) => e.i)).toEqual([7, 8, 9])
  })

  it('keeps delivering when a listener throws', () => {
    const bus = new EventBus()
    let calls = 0
    bus.subscribe(() => { throw new Error('broken listener') })
    bus.subscribe(() => { calls++ })
    bus.emit('x')
    expect(calls).toBe(1)
  })
})

describe('peer reputation', () => {
  it('halves a penalty every half-life, excludes above the threshold, and feeds P5 negatively', () => {
    let now = 0
    const rep = new PeerReputation({ now: () => now })
    rep.penalise('p', PENALTY_BAD_BYTES)
    expect(rep.penalty('p')).toBe(PENALTY_BAD_BYTES)
    expect(rep.appSpecificScore('p')).toBe(-PENALTY_BAD_BYTES)
    expect(rep.excluded('p')).toBe(false)
    rep.penalise('p', PENALTY_BAD_BYTES)
    expect(rep.excluded('p')).toBe(2 * PENALTY_BAD_BYTES > PENALTY_EXCLUDE_THRESHOLD)
    now += PENALTY_HALF_LIFE_MS
    expect(rep.penalty('p')).toBeCloseTo(PENALTY_BAD_BYTES, 6)
    now += 40 * PENALTY_HALF_LIFE_MS
    expect(rep.penalty('p')).toBe(0)
    expect(rep.list()).toEqual([])
    expect(rep.penalty('never-seen')).toBe(0)
  })
})
