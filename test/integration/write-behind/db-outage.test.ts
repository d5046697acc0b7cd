import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache, WriteBehindFullError } from '../../../dist/index.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { type Ack, flushInto, lastByKey, TcpProxy, usePostgresSchema } from './harness.js'

const redis = useRedisServer()
const db = usePostgresSchema('outage')
let proxy: TcpProxy
let pool: pg.Pool
let cache: Cache | undefined

beforeAll(async () => {
  proxy = await new TcpProxy(db.connection()).start()
  // The flush's own pool goes through the proxy; short connect timeout so a refused database fails fast.
  pool = new pg.Pool({ ...db.connection(), port: proxy.port, max: 2, connectionTimeoutMillis: 1000 })
  pool.on('error', () => {})
})
afterAll(async () => {
  await cache?.close()
  await pool.end()
  await proxy.close()
})

const KEYS = Array.from({ length: 200 }, (_, i) => `counter:${i}`)
const OUTAGE_MS = 10_000
const MAX_PENDING = 2000

describe('write-behind while PostgreSQL refuses connections for 10 s', () => {
  it('loses nothing, rejects set with E_WRITE_BEHIND_FULL past maxPending, resumes by itself and drains', async () => {
    cache = createCache({ namespace: uniqueNamespace('wbdown'), l2: { redis: redis().url, timeout: 5000 } })
    const wb = cache.writeBehind<string>({
      name: 'counters',
      flush: flushInto(pool, db.schema),
      maxPending: MAX_PENDING,
      maxDelay: 20,
      retryBase: 50,
      retryMax: 1000,
      maxAttempts: 3,
      // A query stuck on a half-dead connection counts as failed after 5 s, not 30.
      flushTimeout: 5000,
    })
    const trail: string[] = []
    wb.on('retry', (e) =>
      trail.push(`${Date.now()} retry keys=${e.keys} attempt=${e.attempt} ${String(e.error)}`),
    )
    wb.on('log-error', (e) => trail.push(`${Date.now()} log-error ${e.operation} ${String(e.error)}`))
    const acks: Ack[] = []
    let n = 0
    const write = async () => {
      const key = KEYS[n % KEYS.length] as string
      const value = `v${n++}`
      const receipt = await wb.set(key, value)
      acks.push({ key, seq: receipt.seq, value })
    }
    for (let i = 0; i < 400; i++) await write()
    await wb.settled(20_000)

    proxy.refuse()
    const downAt = Date.now()
    const flushesBefore = wb.stats().flushes
    const retriesBefore = wb.stats().retries
    let rejected: unknown
    let rejections = 0
    // Keep writing through the outage, 8 at a time, for 10 s and at least until the bound was hit
    // (on a starved machine filling it may take longer: the database then stays down longer).
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (Date.now() - downAt < OUTAGE_MS || rejected === undefined) {
          if (Date.now() - downAt > 6 * OUTAGE_MS) break
          try {
            await write()
          } catch (error) {
            if (!(error instanceof WriteBehindFullError)) throw error
            rejected ??= error
            rejections++
            // Back off as a caller would (and let the other writers hit the bound too).
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
        }
      }),
    )
    const during = wb.stats()
    expect(rejected).toBeInstanceOf(WriteBehindFullError)
    expect((rejected as WriteBehindFullError).code).toBe('E_WRITE_BEHIND_FULL')
    expect(await wb.pending()).toBe(MAX_PENDING)
    expect(during.flushes).toBe(flushesBefore)
    expect(during.retries).toBeGreaterThan(retriesBefore)
    expect(during.deadLettered).toBe(0)

    proxy.pass()
    const upAt = Date.now()
    await wb.settled(30_000).catch((error: unknown) => {
      throw new Error(
        `${String(error)}; stats ${JSON.stringify(wb.stats())}; last events:\n${trail.slice(-15).join('\n')}`,
      )
    })
    const drainedMs = Date.now() - upAt
    expect(await wb.pending()).toBe(0)
    expect(await wb.deadLetters.count()).toBe(0)
    // Accepted again.
    await write()
    await wb.settled(10_000)

    const expected = lastByKey(acks)
    const rows = await db.rows()
    const wrong = [...expected].filter(([key, ack]) => rows.get(key)?.value !== ack.value)
    expect(wrong).toEqual([])
    console.log(
      `[write-behind] database down ${upAt - downAt} ms: ${MAX_PENDING} writes held, ${rejections} rejected with E_WRITE_BEHIND_FULL, ` +
        `${during.retries - retriesBefore} flush tries during the outage, backlog drained ${drainedMs} ms after it ended`,
    )
  }, 120_000)
})
