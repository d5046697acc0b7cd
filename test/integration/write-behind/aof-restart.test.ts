import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache, type WriteBehindOp } from '../../../dist/index.js'
import { type Ack, AofRedis, lastByKey } from './harness.js'

const KEYS = Array.from({ length: 100 }, (_, i) => `feed:${i}`)
const WRITES = 1500

let redis: AofRedis | undefined
const caches: Cache[] = []
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close().catch(() => {})))
  await redis?.destroy()
  redis = undefined
})

/** A table that applies an op only if its sequence is newer (the idempotency contract). */
function table() {
  const rows = new Map<string, { value: string | undefined; seq: number }>()
  const flush = async (batch: readonly WriteBehindOp<string>[]) => {
    for (const op of batch) {
      const row = rows.get(op.key)
      if (row === undefined || row.seq < op.seq)
        rows.set(op.key, { value: op.op === 'set' ? op.value : undefined, seq: op.seq })
    }
  }
  return { rows, flush }
}

const cases = [
  { client: 'ioredis', fsync: 'always', stop: 'SIGKILL' },
  { client: 'redis', fsync: 'everysec', stop: 'SIGTERM' },
] as const

describe.each(cases)(
  'write-behind on Redis with AOF ($client, appendfsync $fsync, restart after $stop)',
  ({ client, fsync, stop }) => {
    it('keeps every acknowledged write across the restart; a flusher started afterwards delivers them all', async () => {
      redis = new AofRedis(fsync)
      await redis.start()
      const namespace = `aof-${process.pid}`
      // A writer-only process: nothing is flushed before the restart, so everything must survive in Redis.
      const writerCache = createCache({ namespace, l2: { redis: redis.url, client, timeout: 5000 } })
      caches.push(writerCache)
      const writer = writerCache.writeBehind<string>({
        name: 'feed',
        flusher: false,
        closeTimeout: 0,
        flush: async () => {},
      })
      const acks: Ack[] = []
      let n = 0
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (n < WRITES) {
            const key = KEYS[n % KEYS.length] as string
            const value = `v${n++}`
            const receipt = await writer.set(key, value)
            acks.push({ key, seq: receipt.seq, value })
          }
        }),
      )
      // SIGKILL right after the last acknowledgment: with appendfsync always, Redis fsyncs before it replies.
      if (stop === 'SIGKILL') await redis.kill()
      else await redis.stop()
      await redis.start()

      const db = table()
      const flusherCache = createCache({ namespace, l2: { redis: redis.url, client, timeout: 5000 } })
      caches.push(flusherCache)
      const flusher = flusherCache.writeBehind<string>({ name: 'feed', flush: db.flush, maxDelay: 10 })
      const deadline = Date.now() + 20_000
      while ((await flusher.pending()) > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      expect(await flusher.pending()).toBe(0)
      expect(acks).toHaveLength(WRITES)
      const expected = lastByKey(acks)
      const wrong = [...expected].filter(([key, ack]) => db.rows.get(key)?.value !== ack.value)
      expect(wrong).toEqual([])
      // Sequences kept growing across the restart (the per-key hash survived too).
      const after = await flusher.set('feed:0', 'after')
      expect(after.seq).toBeGreaterThan(expected.get('feed:0')?.seq ?? Number.POSITIVE_INFINITY)
    }, 60_000)
  },
)
