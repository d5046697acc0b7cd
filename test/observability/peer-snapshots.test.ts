/**
 * Snapshots received from other processes over the stats channel are foreign input: another
 * version, a buggy publisher, or anyone who can PUBLISH on the Redis. Whatever arrives, the
 * dashboard's /metrics, /health and history keep answering, no label takes a value a peer chose
 * beyond the cache name, and nothing thrown in a subscriber reaches the Redis client.
 */

import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { collectSnapshots, createDashboardHandler } from '../../dist/observability/dashboard/index.js'
import { PROMETHEUS_BOUNDS } from '../../dist/observability/histogram.js'
import {
  parseSnapshot,
  publishSnapshots,
  snapshotChannel,
  subscribeSnapshots,
} from '../../dist/observability/publisher.js'
import type { CacheSnapshot, HistogramData } from '../../dist/observability/types.js'
import { pollUntil } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { parsePrometheusText, series, snapshot } from './snapshots.js'

const redis = useRedisServer()

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function cache(options: Parameters<typeof createCache>[0]): Cache {
  const c = createCache(options)
  cleanups.push(() => c.close())
  return c
}

/** A histogram over `bounds` holding `n` observations in its first bucket. */
function histogramOver(bounds: readonly number[], n: number): HistogramData {
  const counts = new Array<number>(bounds.length + 1).fill(0)
  counts[0] = n
  return { bounds: [...bounds], counts, count: n, sum: n * bounds[0]! }
}

const bytes = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))

/** Snapshot JSON shaped at will: any field may be replaced by anything. */
// biome-ignore lint/suspicious/noExplicitAny: test data a hostile peer shapes at will
type Loose = Record<string, any>

/** A valid snapshot of `cache`, as JSON text, with `change` applied to it. */
const mutated =
  (change: (s: Loose) => void) =>
  (cache: string): Buffer => {
    const data = JSON.parse(JSON.stringify(snapshot({ cache }))) as Loose
    change(data)
    return bytes(data)
  }

/** A valid snapshot of `cache` as JSON text, with `from` replaced by `to` in the text. */
const edited = (from: string, to: string) => (cache: string) =>
  bytes(JSON.stringify(snapshot({ cache })).replace(from, to))

const MALFORMED: [string, (cache: string) => Buffer][] = [
  [
    'a latency series without a histogram',
    mutated((s) => (s.latency = [{ operation: 'get', tier: 'l1', histogram: null }])),
  ],
  [
    'a histogram whose counts are not numbers',
    mutated(
      (s) =>
        (s.latency = [
          { ...series('get', 'l1', [1]), histogram: { bounds: [1], counts: 'x', count: 1, sum: 1 } },
        ]),
    ),
  ],
  [
    'a histogram with one count fewer than its buckets',
    mutated(
      (s) =>
        (s.latency = [
          { ...series('get', 'l1', [1]), histogram: { bounds: [1, 2], counts: [1, 0], count: 1, sum: 1 } },
        ]),
    ),
  ],
  [
    'an operation label of its own',
    mutated((s) => (s.latency = [{ ...series('get', 'l1', [1]), operation: 'evil"} 1\n' }])),
  ],
  [
    'a tier label of its own',
    mutated((s) => (s.latency = [{ ...series('get', 'l1', [1]), tier: `t${'x'.repeat(50)}` }])),
  ],
  ['a counter that is a string', mutated((s) => (s.stats.l1Hits = '12'))],
  ['a counter of 1e999 (Infinity once parsed)', edited('"l1Hits":0', '"l1Hits":1e999')],
  ['a negative counter', mutated((s) => (s.stats.misses = -5))],
  ['alerts that are not an array', mutated((s) => (s.health.alerts = 'fire'))],
  [
    'an alert without a message',
    mutated((s) => (s.health.alerts = [{ name: 'memory-high', severity: 'warning' }])),
  ],
  ['an unknown health status', mutated((s) => (s.health.status = 'exploded'))],
  ['a health without its window', mutated((s) => delete s.health.window)],
  ['an unknown breaker state', mutated((s) => (s.health.l2 = { connected: true, breaker: 'melted' }))],
  ['key groups that are not objects', mutated((s) => (s.hotKeyGroups = [42]))],
  ['a time that is not finite', edited('"at":0', '"at":1e999')],
  ['a diagnosis without findings', mutated((s) => (s.diagnosis = { cache: 'products', at: 0 }))],
]

describe('parseSnapshot: what a peer publishes is checked field by field', () => {
  it.each(MALFORMED)('drops %s', (_, message) => {
    expect(parseSnapshot(message('products'))).toBeUndefined()
  })

  it('keeps only the known fields, and leaves out a latency series with bucket bounds of its own (never `le` values a peer chose)', () => {
    const ours = { ...series('get', 'l1', [1]), histogram: histogramOver(PROMETHEUS_BOUNDS, 2) }
    const theirs = { ...series('get', 'l2', [1]), histogram: histogramOver([0.123, 4.56], 2) }
    const parsed = parseSnapshot(
      mutated((s) => {
        s.latency = [ours, theirs]
        s.extra = 'x'.repeat(1000)
      })('products'),
    )
    expect(parsed?.latency).toEqual([ours])
    expect(parsed).not.toHaveProperty('extra')
  })

  it("keeps when Redis' memory figures were read; an older version's figures, without it, read as of its health check", () => {
    const memory = {
      usedBytes: 10,
      maxBytes: 100,
      policy: 'allkeys-lfu',
      usage: 0.1,
      evictedKeysPerSecond: 0,
    }
    const withMemory = (readAt?: number) =>
      mutated((s) => {
        s.health.checkedAt = 5000
        s.health.l2 = {
          connected: true,
          breaker: 'closed',
          memory: readAt === undefined ? memory : { ...memory, readAt },
        }
      })('products')
    expect(parseSnapshot(withMemory(4000))?.health.l2?.memory).toEqual({ ...memory, readAt: 4000 })
    expect(parseSnapshot(withMemory())?.health.l2?.memory).toEqual({ ...memory, readAt: 5000 })
    expect(parseSnapshot(withMemory(Number.NaN))).toBeUndefined()
  })

  it('accepts what a real instance publishes, diagnosis included (an unbounded L1 bound, null in JSON, reads as Infinity again)', async () => {
    const namespace = uniqueNamespace('peer')
    const publisher = cache({
      namespace,
      l1: { maxEntries: 1000 },
      l2: { redis: redis().url },
      observability: { publish: { interval: '50ms' } },
    })
    const watcher = cache({ namespace, l1: false, l2: { redis: redis().url } })
    const received: CacheSnapshot[] = []
    const stop = await subscribeSnapshots(watcher, (s) => received.push(s))
    cleanups.push(stop)
    for (let i = 0; i < 60; i++) await publisher.getOrSet({ key: `product:${i % 7}`, factory: () => i })
    expect(
      await pollUntil(() => received.some((s) => s.diagnosis !== undefined && s.latency.length > 0), 10_000),
    ).toBe(true)
    const published = received.find((s) => s.diagnosis !== undefined)!
    expect(published.cache).toBe(namespace)
    expect(published.health.l1?.maxBytes).toBe(Number.POSITIVE_INFINITY)
    expect(parseSnapshot(bytes(published))).toEqual(published)
  })
})

describe('the dashboard fed by published snapshots, under hostile messages', () => {
  it('drops malformed snapshots and ones naming another cache: /metrics, /health and the history keep answering', async () => {
    const namespace = uniqueNamespace('peer')
    const channel = snapshotChannel(namespace)
    const watcher = cache({ namespace, l1: false, l2: { redis: redis().url } })
    const collector = await collectSnapshots((listener) => subscribeSnapshots(watcher, listener))
    cleanups.push(() => collector.close())
    const handler = createDashboardHandler({ source: collector, intervalMs: 60_000 })
    cleanups.push(() => handler.close())
    const server = createServer(handler)
    server.keepAliveTimeout = 0
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

    for (const [, message] of MALFORMED) await redis().clientCommand('PUBLISH', channel, message(namespace))
    // A well-formed snapshot of another cache: its name would become a label value.
    await redis().clientCommand('PUBLISH', channel, bytes(snapshot({ cache: 'intruder', instance: 'x' })))
    // Last, a good one: once it is in, every message before it has been handled.
    const good = snapshot({
      cache: namespace,
      instance: 'good',
      stats: { l1Hits: 3 },
      latency: [{ ...series('get', 'l1', []), histogram: histogramOver(PROMETHEUS_BOUNDS, 3) }],
    })
    await redis().clientCommand('PUBLISH', channel, bytes(good))
    expect(await pollUntil(() => collector.snapshots().some((s) => s.instance === 'good'), 10_000)).toBe(true)

    expect(collector.snapshots().map((s) => [s.cache, s.instance])).toEqual([[namespace, 'good']])
    expect(() => handler.sample()).not.toThrow()
    const metrics = await fetch(`${base}/metrics`)
    expect(metrics.status).toBe(200)
    const families = parsePrometheusText(await metrics.text())
    const caches = new Set([...families.values()].flatMap((f) => f.samples.map((s) => s.labels.cache)))
    expect([...caches]).toEqual([namespace])
    expect(families.get('stratacache_hits_total')?.samples.find((s) => s.labels.tier === 'l1')?.value).toBe(3)
    const count = families
      .get('stratacache_operation_duration_seconds')
      ?.samples.find((s) => s.name.endsWith('_count'))
    expect(count?.value).toBe(3)
    expect((await fetch(`${base}/health`)).status).toBe(200)
  })

  it('a listener that throws does not throw into the Redis client (an uncaught exception in the host)', async () => {
    const namespace = uniqueNamespace('peer')
    const watcher = cache({ namespace, l1: false, l2: { redis: redis().url } })
    const uncaught: unknown[] = []
    const onUncaught = (error: unknown) => uncaught.push(error)
    process.on('uncaughtException', onUncaught)
    cleanups.push(() => process.off('uncaughtException', onUncaught))
    let calls = 0
    const stop = await subscribeSnapshots(watcher, () => {
      calls++
      throw new Error('a bug in the listener')
    })
    cleanups.push(stop)
    const received: string[] = []
    const stopOther = await subscribeSnapshots(watcher, (s) => received.push(s.instance))
    cleanups.push(stopOther)
    await redis().clientCommand(
      'PUBLISH',
      snapshotChannel(namespace),
      bytes(snapshot({ cache: namespace, instance: 'a' })),
    )
    await redis().clientCommand(
      'PUBLISH',
      snapshotChannel(namespace),
      bytes(snapshot({ cache: namespace, instance: 'b' })),
    )
    expect(await pollUntil(() => received.length === 2, 10_000)).toBe(true)
    expect(calls).toBe(2)
    expect(uncaught).toEqual([])
    expect(await watcher.get('anything')).toBeUndefined()
  })
})

describe('publishing a snapshot too large for the channel', () => {
  it('publishes it without its diagnosis and with its top key groups only, rather than not at all', async () => {
    const published: Buffer[] = []
    const bus = {
      publish: async (_channel: string, message: Uint8Array) => {
        published.push(Buffer.from(message))
      },
      subscribe: async () => async () => {},
      close: async () => {},
    }
    const groups = Array.from({ length: 20 }, (_, i) => ({ group: `g${i}:{n}`, count: 20 - i, share: 0.05 }))
    const big = {
      ...snapshot(),
      hotKeyGroups: groups,
      // A diagnosis over the publishable size: each finding's message is 20 kB.
      diagnosis: { findings: Array.from({ length: 20 }, () => ({ kind: 'x', message: 'm'.repeat(20_000) })) },
    } as unknown as CacheSnapshot
    const stop = publishSnapshots('n', bus, 10, async () => big)
    cleanups.push(stop)
    await pollUntil(async () => published.length > 0, 5000)
    const sent = JSON.parse((published[0] as Buffer).toString()) as CacheSnapshot
    expect(sent.diagnosis).toBeUndefined()
    expect(sent.hotKeyGroups).toEqual(groups.slice(0, 10))
    expect(sent.stats).toEqual(big.stats)
  })
})
