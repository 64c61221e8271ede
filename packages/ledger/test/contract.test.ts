import { join } from 'node:path'
import { describe } from 'vitest'
import { tempDir } from '@swarmtune/test-support'
import { createMemoryDb, openLedger } from '../src/index.js'
import { ledgerContract } from './contract.js'

describe('ledger contract', () => {
  ledgerContract('memory-level', async () => {
    const db = createMemoryDb()
    return { open: async () => await openLedger({ db }), cleanup: async () => {} }
  }, 40)

  ledgerContract('LevelDB', async () => {
    const dir = await tempDir('swarmtune-ledger-')
    return {
      open: async () => await openLedger({ path: join(dir.path, 'ledger'), sync: false }),
      cleanup: dir.cleanup
    }
  }, 25)
})
