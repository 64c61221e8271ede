/**
 * The rounds routes answer each error with the status of its code in the control API's one table
 * (CONTROL_STATUS_OF_CODE): a maintainer, a member that is not one, and a daemon without a community, on
 * 127.0.0.1, asked through the control client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ControlClient } from '@swarmtune/node'
import { startMaintainer, startRoundsNode, type Maintainer, type RoundsNode } from '@swarmtune/test-support/rounds'

let maintainer: Maintainer
let member: RoundsNode
let bare: RoundsNode
let client: ControlClient

beforeAll(async () => {
  maintainer = await startMaintainer()
  member = await startRoundsNode({ genesis: maintainer.genesis })
  bare = await startRoundsNode()
  client = await ControlClient.fromDataDir(maintainer.dir)
}, 120_000)
afterAll(async () => {
  await Promise.all([member?.destroy(), bare?.destroy()])
  await maintainer?.cleanup()
})

describe('rounds route errors', () => {
  it('400 for bad parameters, 404 for a round or release the ledger does not hold', async () => {
    await expect(client.request('GET', '/v1/rounds/three')).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_PARAMS', status: 400 })
    await expect(client.request('GET', '/v1/rounds/latest?waitMs=soon')).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_PARAMS', status: 400 })
    await expect(client.request('POST', '/v1/rounds', { params: { steps: -1 } })).rejects.toMatchObject({ code: 'ERR_ROUNDS_BAD_PARAMS', status: 400 })
    await expect(client.request('GET', '/v1/rounds/99')).rejects.toMatchObject({ code: 'ERR_ROUNDS_NOT_FOUND', status: 404 })
    await expect(client.request('GET', '/v1/rounds/releases/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'))
      .rejects.toMatchObject({ code: 'ERR_ROUNDS_RELEASE_NOT_FOUND', status: 404 })
  })

  it('409 for a second open round and for a cancel of a round that is not open', async () => {
    const opened = await client.request<{ round: number }>('POST', '/v1/rounds', { params: { durationMs: 60_000 } })
    await expect(client.request('POST', '/v1/rounds', { params: { durationMs: 60_000 } })).rejects.toMatchObject({ code: 'ERR_ROUNDS_ALREADY_OPEN', status: 409 })
    await client.request('POST', `/v1/rounds/${opened.round}/cancel`, { reason: 'test' })
    await expect(client.request('POST', `/v1/rounds/${opened.round}/cancel`, {})).rejects.toMatchObject({ code: 'ERR_ROUNDS_NOT_OPEN', status: 409 })
  }, 60_000)

  it('403 for a round started on a member that is not a maintainer', async () => {
    const other = await ControlClient.fromDataDir(member.dir)
    await expect(other.request('POST', '/v1/rounds', { params: {} })).rejects.toMatchObject({ code: 'ERR_ROUNDS_NOT_MAINTAINER', status: 403 })
  })

  it('409 for a rounds route on a daemon that has joined no community', async () => {
    const none = await ControlClient.fromDataDir(bare.dir)
    await expect(none.request('GET', '/v1/rounds/community')).rejects.toMatchObject({ code: 'ERR_ROUNDS_NO_COMMUNITY', status: 409 })
  })
})
