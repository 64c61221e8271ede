/** A round's state machine: its one transition function, and the record it gives persisted in a real LevelDB. */
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { codeOf, tempDir } from '@swarmtune/test-support'
import { advanceRound, RoundsState, type CoordinatorRound } from '../src/state.js'

describe('a round\'s state machine', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  beforeEach(async () => { dir = await tempDir() })
  afterEach(async () => { await dir.cleanup() })

  const opened: CoordinatorRound = { round: 3, roundOpen: 'bafkreiexample', phase: 'open', topicPeers: ['b', 'a'] }

  it('goes open → closing → closed; a cancel is recorded while open, and the state store keeps each step', async () => {
    const state = await RoundsState.open(join(dir.path, 'state'))
    try {
      const cancelled = advanceRound(opened, { kind: 'cancelled', reason: '' })
      expect(cancelled).toEqual({ ...opened, cancel: 'cancelled by a maintainer' })
      expect(advanceRound(opened, { kind: 'cancelled', reason: 'x'.repeat(600) }).cancel).toHaveLength(512)
      const frozen = advanceRound(cancelled, { kind: 'frozen', frozen: 2, at: 1_000, topicPeers: ['c', 'a'] })
      expect(frozen).toEqual({ ...cancelled, phase: 'closing', frozen: 2, frozenAt: 1_000, topicPeers: ['a', 'b', 'c'] })
      await state.putRound(frozen)
      expect(await state.getRound(3)).toEqual(frozen)
      const closed = advanceRound(frozen, { kind: 'closed' })
      expect(closed).toEqual({ ...frozen, phase: 'closed' })
      await state.putRound(closed)
      expect(await state.rounds()).toEqual([closed])
      // the record given is never changed
      expect(opened.phase).toBe('open')
      expect(opened.cancel).toBeUndefined()
      // a round whose round-close the ledger already holds closes from open
      expect(advanceRound(opened, { kind: 'closed' }).phase).toBe('closed')
    } finally {
      await state.close()
    }
  })

  it('refuses to cancel or freeze a round that is no longer open (ERR_ROUNDS_NOT_OPEN)', () => {
    const closing = advanceRound(opened, { kind: 'frozen', frozen: 0, at: 1, topicPeers: [] })
    expect(codeOf(() => advanceRound(closing, { kind: 'cancelled', reason: 'late' }))).toBe('ERR_ROUNDS_NOT_OPEN')
    expect(() => advanceRound(closing, { kind: 'cancelled', reason: 'late' })).toThrow('round 3 is already closing')
    expect(codeOf(() => advanceRound(closing, { kind: 'frozen', frozen: 1, at: 2, topicPeers: [] }))).toBe('ERR_ROUNDS_NOT_OPEN')
    expect(codeOf(() => advanceRound(advanceRound(closing, { kind: 'closed' }), { kind: 'cancelled', reason: 'late' }))).toBe('ERR_ROUNDS_NOT_OPEN')
  })
})
