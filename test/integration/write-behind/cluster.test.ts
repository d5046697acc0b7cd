/**
 * Write-behind on a real Redis Cluster (3 masters, started by the test): each partition's stream,
 * consumer group, sequence hash and lease share one slot (a hash tag), the partitions are placed
 * on slots spread over the masters, and four writer processes flushing into PostgreSQL end with
 * every key at its last acknowledged value — in PostgreSQL and in the cache — with every
 * partition's stream empty and no sequence kept for any key.
 */
import { loadavg } from 'node:os'
import { afterEach, describe, expect, it } from 'vitest'
import { createCache } from '../../../dist/index.js'
import { useRedisCluster } from '../../helpers/redis-cluster.js'
import { uniqueNamespace } from '../../helpers/redis-server.js'
import { lastByKey, startWorker, usePostgresSchema, type Worker, type WriteSummary } from './harness.js'

const cluster = useRedisCluster(3)
const db = usePostgresSchema('cluster')
const workers: Worker[] = []
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()))
})

const KEYS = Array.from({ length: 1000 }, (_, i) => `cart:${i}`)
/** Fewer than the single-Redis test's 25,000: on a cluster the cache is written after the append (its keys live in other slots), a few round trips a write. */
const WRITES_PER_PROCESS = 5000
const PARTITIONS = 4

describe('write-behind on a Redis Cluster with 4 writer processes and PostgreSQL', () => {
  it('ends with the last acknowledged value of every key in PostgreSQL and in the cache, every partition drained, no sequence kept', async () => {
    const namespace = uniqueNamespace('wbc')
    for (let i = 0; i < 4; i++) workers.push(await startWorker())
    await Promise.all(
      workers.map((w) =>
        w.call('open', {
          cluster: cluster().urls,
          namespace,
          name: 'carts',
          schema: db.schema,
          pg: db.connection(),
          options: {
            partitions: PARTITIONS,
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
    const reports = await Promise.all(workers.map((w) => w.call<{ drained: boolean }>('close')))

    const acks = workers.flatMap((w) => w.acks)
    expect(acks).toHaveLength(4 * WRITES_PER_PROCESS)
    expect(summaries.every((s) => s.rejected === 0)).toBe(true)
    expect(reports.every((r) => r.drained)).toBe(true)
    const expected = lastByKey(acks)
    const rows = await db.rows()
    const wrong = [...expected.keys()].filter((key) => rows.get(key)?.value !== expected.get(key)?.value)
    expect(wrong).toEqual([])

    // Every partition's keys on one slot, the partitions spread over the masters.
    const masters = new Set<number>()
    for (let p = 0; p < PARTITIONS; p++) {
      const stream = (await cluster().scan(`!wb:{${namespace}:carts:${p}~*}:log`))[0]
      if (stream === undefined) throw new Error(`no stream for partition ${p}`)
      const tag = stream.slice(stream.indexOf('{'), stream.indexOf('}') + 1)
      const slots = new Set(
        await Promise.all(['log', 'seq', 'top'].map((what) => cluster().slotOf(`!wb:${tag}:${what}`))),
      )
      expect(slots.size).toBe(1)
      masters.add((await cluster().nodeOf(stream)).port)
      expect(Number(await cluster().commandForKey(stream, 'XLEN', stream))).toBe(0)
      const seq = `!wb:${tag}:seq`
      expect(Number(await cluster().commandForKey(seq, 'HLEN', seq))).toBe(0)
    }
    expect(masters.size).toBe(3)

    // The cache (its L2, read by an instance without L1) holds the last acknowledged value, or
    // nothing where two writers' cache updates crossed (never an older value): a key is missing
    // only where a writer withdrew its update, having seen a newer write of the key from another
    // process (counted in stats().cacheWithdrawn). A flush between a writer's cache write and its
    // check no longer counts as a crossing (the sequence is held until the check).
    const reader = createCache({ namespace, l1: false, l2: { redis: { cluster: cluster().urls } } })
    try {
      const cached = await reader.getMany([...expected.keys()])
      const keys = [...expected.keys()]
      const older = keys.filter((key, i) => cached[i] !== undefined && cached[i] !== expected.get(key)?.value)
      const missing = keys.filter((_, i) => cached[i] === undefined)
      const withdrawn = summaries.reduce((n, s) => n + (s.stats.cacheWithdrawn ?? 0), 0)
      expect(older).toEqual([])
      expect(missing.length).toBeLessThanOrEqual(withdrawn)
      console.log(
        `[write-behind cluster] 4 processes x ${WRITES_PER_PROCESS} writes over ${KEYS.length} keys, ${PARTITIONS} partitions on ${masters.size} masters: ` +
          `${Math.round((4 * WRITES_PER_PROCESS) / (acknowledgedMs / 1000))} writes/s acknowledged; cache: ${keys.length - missing.length} keys at their last value, ${missing.length} missing; ` +
          `${withdrawn} cache updates withdrawn (crossed writes) in all; loadavg ${loadavg()
            .map((n) => n.toFixed(1))
            .join(' ')}`,
      )
    } finally {
      await reader.close()
    }
  }, 180_000)
})
