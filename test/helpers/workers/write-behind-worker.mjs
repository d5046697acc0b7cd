/**
 * A child process holding one cache and one write-behind (built package, dist/) that flushes into
 * a PostgreSQL table, driven over IPC by test/integration/write-behind/harness.ts.
 *
 * Methods:
 * - open({ redisUrl | cluster, namespace, name, schema, pg, options }): the cache, the pool, the write-behind
 *   (its flush is the idempotent upsert of docs/write-behind.md).
 * - write({ keys, count, concurrency, tag }): `count` sets, round-robin over `keys` from a random
 *   start, `concurrency` at a time; every acknowledged write is reported as an 'acks' event
 *   ({ key, seq, value }) in batches every 20 ms. Resolves to { writes, rejected, ms, stats }.
 * - close(): closes the write-behind (drains) and the cache; resolves to the close report.
 */
import pg from 'pg'
import { createCache } from '../../../dist/index.js'

process.on('disconnect', () => process.exit(0))

/** @type {import('../../../dist/index.js').Cache | undefined} */
let cache
/** @type {import('../../../dist/index.js').WriteBehind<string> | undefined} */
let wb
/** @type {pg.Pool | undefined} */
let pool
let unsent = []

const timer = setInterval(() => {
  if (unsent.length === 0 || !process.connected) return
  process.send({ event: 'acks', data: unsent })
  unsent = []
}, 20)

function upsertSql(schema) {
  return `INSERT INTO "${schema}".kv AS t (key, value, seq, id)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, seq = EXCLUDED.seq, id = EXCLUDED.id
    WHERE t.seq < EXCLUDED.seq`
}

const methods = {
  open({ redisUrl, cluster, namespace, name, schema, pg: pgConfig, options, cacheOptions = {} }) {
    const redis = cluster === undefined ? redisUrl : { cluster }
    cache = createCache({ namespace, l2: { redis, timeout: 5000 }, lock: false, ...cacheOptions })
    pool = new pg.Pool({ ...pgConfig, max: 2 })
    const sql = upsertSql(schema)
    wb = cache.writeBehind({
      name,
      ...options,
      flush: async (batch) => {
        await pool.query(sql, [
          batch.map((op) => op.key),
          batch.map((op) => (op.op === 'set' ? op.value : null)),
          batch.map((op) => String(op.seq)),
          batch.map((op) => op.id),
        ])
      },
    })
    return { pid: process.pid }
  },

  async write({ keys, count, concurrency, tag }) {
    let next = Math.floor(Math.random() * keys.length)
    let issued = 0
    let rejected = 0
    const started = performance.now()
    const one = async () => {
      while (issued < count) {
        const n = issued++
        const key = keys[next++ % keys.length]
        const value = `${tag}:${n}`
        try {
          const receipt = await wb.set(key, value)
          unsent.push({ key, seq: receipt.seq, value })
        } catch (error) {
          if (error?.code !== 'E_WRITE_BEHIND_FULL') throw error
          rejected++
        }
      }
    }
    await Promise.all(Array.from({ length: concurrency }, one))
    const ms = performance.now() - started
    if (unsent.length > 0) {
      process.send({ event: 'acks', data: unsent })
      unsent = []
    }
    return { writes: count - rejected, rejected, ms, stats: wb.stats() }
  },

  stats() {
    return wb.stats()
  },

  async close() {
    const report = await wb.close()
    await cache.close()
    await pool.end()
    clearInterval(timer)
    return report
  },
}

process.on('message', async ({ id, method, params }) => {
  try {
    const value = await methods[method](params ?? {})
    process.send({ id, ok: true, value })
  } catch (error) {
    process.send({
      id,
      ok: false,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    })
  }
})

process.send({ event: 'ready' })
