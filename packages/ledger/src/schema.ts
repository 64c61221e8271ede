/** The store's schema record and its derived indexes (doc/ledger-format.md). */
import { decodeEntryUnverified } from '@swarmtune/wire'
import { LEDGER_SCHEMA_VERSION } from './constants.js'
import { LedgerCorruptError, LedgerSchemaError } from './errors.js'
import { META_SCHEMA, PREFIX, parsePos, prefixRange, type Position } from './keys.js'
import { indexRecords, jsonBytes, type Db } from './records.js'

const utf8 = new TextDecoder()

/**
 * Checks the schema record of a store, writing it in an empty one.
 * @throws LedgerCorruptError `ERR_LEDGER_CORRUPT` for a missing or malformed record in a non-empty store;
 *   LedgerSchemaError for another schema version
 */
export async function checkSchema (db: Db, path: string): Promise<void> {
  let value: Uint8Array | undefined
  try {
    value = await db.get(META_SCHEMA)
  } catch (err) {
    throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', path, 'LevelDB could not read the schema record', { key: META_SCHEMA }, { cause: err })
  }
  if (value === undefined) {
    const any = await db.keys({ limit: 1 }).all().catch((err: unknown) => {
      throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', path, 'LevelDB reported an error while reading the store', {}, { cause: err })
    })
    if (any.length > 0) throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', path, 'the schema record is missing from a non-empty store', { key: META_SCHEMA })
    await db.put(META_SCHEMA, jsonBytes({ version: LEDGER_SCHEMA_VERSION }), { sync: true } as object)
    return
  }
  let version: unknown
  try {
    version = (JSON.parse(utf8.decode(value)) as { version?: unknown }).version
  } catch {
    throw new LedgerCorruptError('ERR_LEDGER_CORRUPT', path, 'the schema record is malformed', { key: META_SCHEMA })
  }
  if (version !== LEDGER_SCHEMA_VERSION) throw new LedgerSchemaError(path, version, LEDGER_SCHEMA_VERSION)
}

/** Deletes every derived index record and writes them again from the (verified) entries. */
export async function rebuildIndexes (db: Db): Promise<void> {
  for (const prefix of [PREFIX.id, PREFIX.time, PREFIX.kind, PREFIX.round, PREFIX.release]) await db.clear(prefixRange(prefix))
  const iterator = db.iterator(prefixRange(PREFIX.entry))
  try {
    while (true) {
      const batch = await iterator.nextv(1000)
      if (batch.length === 0) break
      const ops: Array<{ type: 'put', key: string, value: Uint8Array }> = []
      for (const [key, bytes] of batch) {
        const pos = parsePos(key.slice(2)) as Position
        const signed = decodeEntryUnverified(bytes)
        for (const [k, value] of indexRecords(signed, pos.author, signed.id.toString())) ops.push({ type: 'put', key: k, value })
      }
      await db.batch(ops, { sync: true } as object)
    }
  } finally {
    await iterator.close()
  }
}
