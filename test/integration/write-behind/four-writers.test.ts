import { afterEach, describe, expect, it } from 'vitest'
import { createCache } from '../../../dist/index.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { lastByKey, startWorker, usePostgresSchema, type Worker, type WriteSummary } from './harness.js'

const redis = useRedisServer()
const db = usePostgresSchema('four')
const workers: Worker[] = []
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()))
})

const KEYS = Array.from({ length: 1000 }, (_, i) => `cart:${i}`)
const WRITES_PER_PROCESS = 25_000

describe('write-behind with 4 writer processes on one Redis and PostgreSQL', () => {
  it('ends with exactly the last acknowledged value of each of 1,000 keys after 100,000 writes', async () => {
    const namespace = uniqueNamespace('wb4')
    for (let i = 0; i < 4; i++) workers.push(await startWorker())
    await Promise.all(
      workers.map((w) =>
        w.call('open', {
          redisUrl: redis().url,
          namespace,
          name: 'carts',
          schema: db.schema,
          pg: db.connection(),
          // The cache is updated too (the default): its L2 entry goes with the append.
          options: {
            partitions: 4,
            maxBatch: 1000,
            maxDelay: 50,
            maxPending: 1_000_000,
            visibilityTimeout: 5000,
            updateCache: true,
          },
        }),
      ),
    )
    const started = performance.now()
    const summaries = await Promise.all(
      workers.map((w, i) =>
        w.call<WriteSummary>('write', {
          keys: KEYS,
          count: WRITES_PER_PROCESS,
          concurrency: 64,
          tag: `w${i}`,
        }),
      ),
    )
    const acknowledgedMs = performance.now() - started
    // Drain: every worker's close() waits until its own writes are flushed.
    const reports = await Promise.all(workers.map((w) => w.call<{ drained: boolean }>('close')))
    const drainedMs = performance.now() - started

    const acks = workers.flatMap((w) => w.acks)
    expect(acks).toHaveLength(4 * WRITES_PER_PROCESS)
    expect(summaries.every((s) => s.rejected === 0)).toBe(true)
    expect(reports.every((r) => r.drained)).toBe(true)
    const expected = lastByKey(acks)
    expect(expected.size).toBe(KEYS.length)
    // Sequences per key are dense: every acknowledged write of a key got its own.
    const seqs = new Map<string, Set<number>>()
    for (const a of acks) seqs.set(a.key, (seqs.get(a.key) ?? new Set()).add(a.seq))
    expect([...seqs.values()].reduce((n, s) => n + s.size, 0)).toBe(acks.length)
    const rows = await db.rows()
    expect(rows.size).toBe(KEYS.length)
    const wrong = KEYS.filter((key) => rows.get(key)?.value !== expected.get(key)?.value)
    expect(wrong).toEqual([])
    for (let p = 0; p < 4; p++) {
      const stream = `!wb:{${namespace}:carts:${p}}:log`
      expect(Number(await redis().command('XLEN', stream))).toBe(0)
      // Nothing delivered and left unacknowledged either.
      expect(((await redis().command('XPENDING', stream, 'flushers')) as number[])[0]).toBe(0)
      // Nothing pending: no sequence kept for any key.
      expect(Number(await redis().command('HLEN', `!wb:{${namespace}:carts:${p}}:seq`))).toBe(0)
    }
    // The cache (its L2, read by an instance without L1) holds every key's last acknowledged value.
    const reader = createCache({ namespace, l1: false, l2: { redis: redis().url } })
    try {
      const cached = await reader.getMany(KEYS)
      const stale = KEYS.filter((key, i) => cached[i] !== expected.get(key)?.value)
      expect(stale).toEqual([])
    } finally {
      await reader.close()
    }

    const flushes = summaries.reduce((n, s) => n + (s.stats.flushes ?? 0), 0)
    const lags = summaries.map((s) => s.stats.lastLagMs ?? 0)
    console.log(
      `[write-behind] 4 processes x ${WRITES_PER_PROCESS} writes over ${KEYS.length} keys: ` +
        `${Math.round((4 * WRITES_PER_PROCESS) / (acknowledgedMs / 1000))} writes/s acknowledged ` +
        `(${Math.round(acknowledgedMs)} ms); all flushed ${Math.round(drainedMs - acknowledgedMs)} ms after the last ack; ` +
        `flushes ${flushes}; end-to-end lag of the last batches ${lags.map(Math.round).join('/')} ms`,
    )
  }, 120_000)
})
