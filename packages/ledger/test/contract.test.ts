import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe } from 'vitest'
import { createMemoryDb, openLedger } from '../src/index.js'
import { ledgerContract } from './contract.js'

describe('ledger contract', () => {
  ledgerContract('memory-level', async () => {
    const db = createMemoryDb()
    return { open: async () => await openLedger({ db }), cleanup: async () => {} }
  }, 40)

  ledgerContract('LevelDB', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'swarmtune-ledger-'))
    return {
      open: async () => await openLedger({ path: join(dir, 'ledger'), sync: false }),
      cleanup: async () => { await rm(dir, { recursive: true, force: true }) }
    }
  }, 25)
})
