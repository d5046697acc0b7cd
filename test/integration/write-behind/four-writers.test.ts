import { afterEach, describe, expect, it } from 'vitest'
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
          // updateCache: false: what is measured and checked here is the log and the flush (the
          // cache's own write path costs 3-5x more CPU than the append and would make this test
          // take minutes on a loaded 2-core machine; sigkill.test.ts writes through the cache, and
          // bench/write-behind.js measures both).
          options: {
            partitions: 4,
            maxBatch: 1000,
            maxDelay: 50,
            maxPending: 1_000_000,
            visibilityTimeout: 5000,
            updateCache: false,
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
    expect(Number(await redis().command('XLEN', `!wb:{${namespace}:carts:0}:log`))).toBe(0)

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
