/**
 * Write-behind against a real redis-server (one per file, on a free port: test/helpers) under
 * faults: Redis paused (SIGSTOP: a black hole) or SIGKILLed and restarted from its AOF while
 * appends and flushes run, a sink that hangs, a serializer that returns something other than bytes.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Cache, createCache, type WriteBehind, type WriteBehindOp } from '../../src/index.js'
import { useRedisServer } from '../helpers/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { AofRedis } from '../integration/write-behind/harness.js'

const redis = useRedisServer()
const caches: Cache[] = []
const proxies: TcpProxy[] = []
let aof: AofRedis | undefined
afterEach(async () => {
  // A test that failed while Redis was paused must not leave it paused for the next.
  redis().resume()
  for (const proxy of proxies) proxy.resume()
  await Promise.all(caches.splice(0).map((c) => c.close().catch(() => {})))
  await Promise.all(proxies.splice(0).map((p) => p.close()))
  await aof?.destroy()
  aof = undefined
})

function cacheOn(url: string, namespace: string, timeout = 500): Cache {
  const cache = createCache({ namespace, l2: { redis: url, timeout } })
  caches.push(cache)
  return cache
}

/** A table applying an op only if its sequence is newer (the idempotency contract). */
function table() {
  const rows = new Map<string, { value: unknown; seq: number }>()
  const flush = async (batch: readonly WriteBehindOp<unknown>[]) => {
    for (const op of batch) {
      const row = rows.get(op.key)
      if (row === undefined || row.seq < op.seq)
        rows.set(op.key, { value: op.op === 'set' ? op.value : undefined, seq: op.seq })
    }
  }
  return { rows, flush }
}

/**
 * 16 writers over 200 keys until `done()`; returns each key's last acknowledged write and the
 * codes of the rejected ones (each must carry one).
 */
async function writeUntil(wb: WriteBehind<number>, done: () => boolean) {
  const acks = new Map<string, { value: number; seq: number }>()
  const rejected = new Map<string, number>()
  let n = 0
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (!done()) {
        const i = n++
        const key = `k${i % 200}`
        try {
          const receipt = await wb.set(key, i)
          const seen = acks.get(key)
          if (seen === undefined || seen.seq < receipt.seq) acks.set(key, { value: i, seq: receipt.seq })
        } catch (error) {
          const code = String((error as { code?: unknown }).code)
          rejected.set(code, (rejected.get(code) ?? 0) + 1)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
    }),
  )
  return { acks, rejected }
}

/** Keys whose database row is not their last acknowledged write. */
function lost(acks: Map<string, { value: number }>, rows: Map<string, { value: unknown }>): string[] {
  return [...acks].filter(([key, ack]) => rows.get(key)?.value !== ack.value).map(([key]) => key)
}

describe('write-behind on a real Redis, under faults', () => {
  it('close() resolves within closeTimeout while Redis answers nothing (SIGSTOP), with 4 partitions', async () => {
    const cache = cacheOn(redis().url, 'wbf-close')
    const wb = cache.writeBehind<number>({
      name: 'x',
      partitions: 4,
      closeTimeout: 1500,
      flush: async () => {
        throw new Error('database down')
      },
    })
    await Promise.all(Array.from({ length: 50 }, (_, i) => wb.set(`k${i}`, i)))
    await wb.pending()
    redis().pause()
    const started = Date.now()
    const result = await wb.close()
    const took = Date.now() - started
    redis().resume()
    // Before: 1500 ms + one l2.timeout (500 ms) each for the last check, the lease releases and the
    // count (its 4 partitions one after the other).
    expect(took).toBeLessThan(1500 + 150)
    expect(result.drained).toBe(false)
    // Not counted (Redis did not answer): unknown. The last count seen is no answer (see below).
    expect(result.pending).toBeUndefined()
  })

  it('close() says the pending count is unknown, not the last count seen, when Redis is a black hole (TCP proxy)', async () => {
    const proxy = await startTcpProxy({ port: redis().port })
    proxies.push(proxy)
    const writer = cacheOn(proxy.url(redis().url), 'wbf-stale', 300)
    const wb = writer.writeBehind<number>({
      name: 'x',
      flusher: false,
      closeTimeout: 600,
      flush: async () => {},
    })
    await Promise.all(Array.from({ length: 50 }, (_, i) => wb.set(`k${i}`, i)))
    expect(await wb.pending()).toBe(50)
    // Another process flushes all 50: the count this one saw is wrong from now on.
    const db = table()
    const other = cacheOn(redis().url, 'wbf-stale').writeBehind<number>({
      name: 'x',
      flush: db.flush,
      maxDelay: 5,
    })
    await vi.waitFor(async () => expect(await other.pending()).toBe(0), { timeout: 5000, interval: 20 })
    expect(db.rows.size).toBe(50)
    proxy.blackhole()
    const started = Date.now()
    const result = await wb.close()
    expect(Date.now() - started).toBeLessThan(600 + 150)
    // Before: { pending: 50 } — the last count seen, while the log held none.
    expect(result).toEqual({ drained: false, pending: undefined })
    proxy.resume()
  })

  it('rejects at its call a value the serializer turns into something other than bytes; the writes batched with it are appended', async () => {
    const cache = cacheOn(redis().url, 'wbf-serializer')
    const wb = cache.writeBehind<unknown>({
      name: 'x',
      flusher: false,
      // No flusher anywhere: close() would wait its whole timeout for one.
      closeTimeout: 0,
      serializer: {
        name: 'broken',
        encode: (value) => (value === 'bad' ? (undefined as never) : Buffer.from(JSON.stringify(value))),
        decode: (bytes) => JSON.parse(Buffer.from(bytes).toString('utf8')),
      },
      flush: async () => {},
    })
    await wb.set('warm', 1)
    const [good, bad] = await Promise.allSettled([wb.set('good', 1), wb.set('evil', 'bad')])
    expect(good.status).toBe('fulfilled')
    expect(bad).toMatchObject({ status: 'rejected', reason: { code: 'E_SERIALIZATION' } })
    expect((bad as PromiseRejectedResult).reason.message).toMatch(/broken serializer's encode\(\) returned/)
    expect(await wb.pending()).toBe(2)
  })

  it("refuses at its call a key longer than its cache's maxKeyLength: nothing reaches the log (nor the database)", async () => {
    const cache = createCache({ namespace: 'wbf-keylength', l2: { redis: redis().url }, maxKeyLength: 64 })
    caches.push(cache)
    const flushed: string[] = []
    const wb = cache.writeBehind<number>({
      name: 'x',
      closeTimeout: 1000,
      flush: async (batch) => {
        for (const op of batch) flushed.push(op.key)
      },
    })
    await expect(wb.set('k'.repeat(65), 1)).rejects.toMatchObject({
      code: 'E_INVALID_KEY',
      message: /over maxKeyLength \(64\)/,
    })
    await expect(wb.delete('k'.repeat(65))).rejects.toMatchObject({
      code: 'E_INVALID_KEY',
      message: /over maxKeyLength \(64\)/,
    })
    await wb.set('k'.repeat(64), 2)
    await wb.settled(1000)
    expect(flushed).toEqual(['k'.repeat(64)])
    expect(await wb.pending()).toBe(0)
  })

  it('tells the other instances when an append that timed out may have landed: their L1 copy of the key goes', async () => {
    const writer = cacheOn(redis().url, 'wbf-announce', 300)
    const reader = cacheOn(redis().url, 'wbf-announce')
    await Promise.all([writer.ready(), reader.ready()])
    const wb = writer.writeBehind<string>({
      name: 'x',
      flusher: false,
      closeTimeout: 0,
      flush: async () => {},
    })
    await wb.set('warm', 'x')
    await writer.set('k', 'old')
    expect(await reader.get('k')).toBe('old')
    expect(reader.peek('k')).toBe('old')
    redis().pause()
    // Rejected (its reply never came in time), but Redis runs it once it answers again.
    await expect(wb.set('k', 'new')).rejects.toMatchObject({ code: 'E_L2_TIMEOUT' })
    redis().resume()
    // Well within the bus's silence bound (5 s): a resynchronisation would drop the copy anyway.
    await vi.waitFor(() => expect(reader.peek('k')).toBeUndefined(), { timeout: 2000, interval: 20 })
    expect(await reader.get('k')).toBe('new')
  })

  it('loses no acknowledged write when Redis is paused longer than the visibility timeout during appends and flushes', async () => {
    const cache = cacheOn(redis().url, 'wbf-pause')
    const db = table()
    const wb = cache.writeBehind<number>({
      name: 'x',
      flush: db.flush,
      maxDelay: 5,
      visibilityTimeout: 600,
      retryMax: 200,
    })
    let stop = false
    const load = writeUntil(wb, () => stop)
    await new Promise((resolve) => setTimeout(resolve, 500))
    redis().pause()
    await new Promise((resolve) => setTimeout(resolve, 1200))
    redis().resume()
    await new Promise((resolve) => setTimeout(resolve, 500))
    stop = true
    const { acks, rejected } = await load
    await wb.settled(15_000)
    expect(acks.size).toBe(200)
    expect([...rejected.keys()].every((code) => code.startsWith('E_L2'))).toBe(true)
    expect(lost(acks, db.rows)).toEqual([])
  }, 30_000)

  it('flushes what a read delivered while Redis was paused (its reply came after the call timed out), the lease never changing hands', async () => {
    const cache = cacheOn(redis().url, 'wbf-stranded', 300)
    const db = table()
    const wb = cache.writeBehind<number>({
      name: 'x',
      flush: db.flush,
      maxDelay: 5,
      // Renewals fail for the pause only: the lease stays with this flusher throughout.
      visibilityTimeout: 20_000,
      retryMax: 100,
      closeTimeout: 100,
    })
    const leases: unknown[] = []
    wb.on('partition', (e) => leases.push(e))
    let stop = false
    const load = writeUntil(wb, () => stop)
    await new Promise((resolve) => setTimeout(resolve, 300))
    redis().pause()
    await new Promise((resolve) => setTimeout(resolve, 800))
    redis().resume()
    await new Promise((resolve) => setTimeout(resolve, 300))
    stop = true
    const { acks, rejected } = await load
    expect(rejected.get('E_L2_TIMEOUT') ?? 0).toBeGreaterThan(0)
    // Before: the entries that read delivered stayed pending for this consumer, unseen, until the
    // lease changed hands (20 s here; never, while the process lived and renewed it).
    await wb.settled(5000)
    expect(leases).toEqual([{ partition: 0, owned: true }])
    expect(lost(acks, db.rows)).toEqual([])
    expect(await wb.pending()).toBe(0)
  }, 30_000)

  it('loses no acknowledged write when Redis (appendfsync always) is SIGKILLed and restarted during appends and flushes', async () => {
    aof = new AofRedis('always')
    await aof.start()
    const cache = cacheOn(aof.url, 'wbf-kill', 1000)
    const db = table()
    const wb = cache.writeBehind<number>({
      name: 'x',
      flush: db.flush,
      maxDelay: 5,
      visibilityTimeout: 1000,
      retryMax: 200,
    })
    let stop = false
    const load = writeUntil(wb, () => stop)
    await new Promise((resolve) => setTimeout(resolve, 500))
    await aof.kill()
    await new Promise((resolve) => setTimeout(resolve, 300))
    await aof.start()
    await new Promise((resolve) => setTimeout(resolve, 500))
    stop = true
    const { acks, rejected } = await load
    await wb.settled(15_000)
    expect(rejected.get('E_L2') ?? 0).toBeGreaterThan(0)
    expect([...rejected.keys()].every((code) => code.startsWith('E_L2'))).toBe(true)
    expect(lost(acks, db.rows)).toEqual([])
  }, 30_000)

  it('keeps at most maxDeadLetters dead letters in Redis under a flood of poison writes, and reports each one it drops', async () => {
    const cache = cacheOn(redis().url, 'wbf-poison-flood')
    const db = table()
    const wb = cache.writeBehind<number>({
      name: 'x',
      maxAttempts: 1,
      maxDeadLetters: 5,
      maxDelay: 1,
      retryBase: 1,
      retryMax: 5,
      flush: async (batch) => {
        if (batch.some((op) => op.key.startsWith('poison'))) throw new Error('CHECK constraint violated')
        await db.flush(batch)
      },
    })
    const dropped: { count: number; letters: readonly { key: string }[] }[] = []
    wb.on('dead-letter-dropped', (event) => dropped.push(event))
    let n = 0
    for (let i = 0; i < 30; i++) await Promise.all([wb.set(`poison:${i}`, i), wb.set(`good:${n}`, n++)])
    // Good writes keep flowing: a key is dead-lettered only while the database takes the others.
    await vi.waitFor(
      async () => {
        await wb.set(`good:${n}`, n++)
        expect(wb.stats().deadLettered).toBe(30)
      },
      { timeout: 15_000, interval: 20 },
    )
    // Before: all 30 stayed in Redis (and a flood of them grew it without bound).
    expect(await redis().command('XLEN', '!wb:{wbf-poison-flood:x}:dlq')).toBe(5)
    expect(wb.stats().deadLettersDropped).toBe(25)
    expect(dropped.reduce((sum, event) => sum + event.count, 0)).toBe(25)
    // Every poison write is accounted for: kept as a dead letter, or reported when dropped.
    const kept = (await wb.deadLetters.list()).map((dead) => dead.key)
    const reported = dropped.flatMap((event) => event.letters.map((letter) => letter.key))
    expect([...kept, ...reported].sort()).toEqual(Array.from({ length: 30 }, (_, i) => `poison:${i}`).sort())
    await wb.settled(5000)
    expect(await wb.pending()).toBe(0)
  }, 30_000)

  it("settles on its own writes, not on another process's older poison write still being retried", async () => {
    const db = table()
    const flush = async (batch: readonly WriteBehindOp<unknown>[]) => {
      if (batch.some((op) => op.key.endsWith(':poison'))) throw new Error('CHECK constraint violated')
      await db.flush(batch)
    }
    const other = cacheOn(redis().url, 'wbf-own').writeBehind<number>({ name: 'x', flusher: false, flush })
    const mine = cacheOn(redis().url, 'wbf-own').writeBehind<number>({
      name: 'x',
      flush,
      maxDelay: 5,
      retryBase: 5,
      retryMax: 20,
      maxAttempts: 1000,
    })
    await other.set('theirs:poison', 1)
    await mine.set('mine', 2)
    // Before: it waited for the older poison write of the other process, and timed out.
    await mine.settled(3000)
    expect(db.rows.get('mine')?.value).toBe(2)
    expect(await mine.pending()).toBe(1)
  })

  it('abandons a flush that hangs past flushTimeout and delivers its writes on the next try', async () => {
    const cache = cacheOn(redis().url, 'wbf-hang')
    const db = table()
    let hang = true
    const wb = cache.writeBehind<number>({
      name: 'x',
      flushTimeout: 100,
      retryBase: 10,
      retryMax: 50,
      maxDelay: 5,
      flush: async (batch) => {
        if (hang) {
          hang = false
          await new Promise(() => {})
        }
        await db.flush(batch)
      },
    })
    const retried = new Promise((resolve) => wb.on('retry', resolve))
    await wb.set('a', 1)
    expect(await retried).toMatchObject({ error: { message: expect.stringMatching(/flushTimeout/) } })
    await wb.settled(5000)
    expect(db.rows.get('a')?.value).toBe(1)
  })
})
