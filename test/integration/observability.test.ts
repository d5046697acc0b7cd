import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { main } from '../../dist/cli/main.js'
import { type CacheSnapshot, createCache, subscribeSnapshots } from '../../dist/index.js'
import { instrumentOpenTelemetry } from '../../dist/observability/otel.js'
import { registerPrometheus } from '../../dist/observability/prometheus.js'
import { captureCli } from '../helpers/cli.js'
import { manualClock } from '../helpers/clock.js'
import { closeAfterEach } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

/**
 * health(), alerts, published snapshots and `stratacache diagnose` against a real redis-server
 * this file starts (so it may set maxmemory, freeze the server and restore it).
 */
const server = useRedisServer()
const track = closeAfterEach()
const WINDOW = 10_000

afterEach(async () => {
  await server().command('CONFIG', 'SET', 'maxmemory', '0')
  await server().command('CONFIG', 'SET', 'maxmemory-policy', 'noeviction')
})

function redisCache(extra: Parameters<typeof createCache>[0] = {}) {
  const clock = manualClock()
  const cache = track(
    createCache({
      namespace: uniqueNamespace('obs'),
      clock,
      l2: { redis: server().url },
      observability: { window: WINDOW, alerts: { p99Above: 10 } },
      ...extra,
    }),
  )
  return { clock, cache }
}

const names = (health: { alerts: readonly { name: string }[] }) => health.alerts.map((a) => a.name)

describe('health() reads Redis memory and eviction figures', () => {
  it('warns while Redis has no maxmemory, and stops once it has a limit and an evicting policy', async () => {
    const { cache } = redisCache()
    const unlimited = await cache.health()
    expect(unlimited.l2?.memory).toMatchObject({ maxBytes: 0, policy: 'noeviction', usage: 0 })
    expect(unlimited.l2?.memory?.usedBytes).toBeGreaterThan(0)
    expect(names(unlimited)).toEqual(['redis-eviction-misconfigured'])
    expect(unlimited.warnings[0]).toMatch(/no maxmemory/)

    await server().command('CONFIG', 'SET', 'maxmemory', String(256 * 2 ** 20))
    await server().command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu')
    const configured = await cache.health()
    expect(configured.alerts).toEqual([])
    expect(configured.warnings).toEqual([])
    expect(configured.status).toBe('healthy')
  })

  it('memory-high (and Redis evictions): fires when a tiny maxmemory fills, clears when it is raised', async () => {
    const { clock, cache } = redisCache({ l1: false })
    await server().command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
    const info = String(await server().command('INFO', 'memory'))
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1])
    // A limit a little above what the empty server uses, then 2 MB of values.
    await server().command('CONFIG', 'SET', 'maxmemory', String(used + 512 * 1024))
    await cache.health()
    const value = 'x'.repeat(20_000)
    for (let i = 0; i < 100; i++) await cache.set(`big:${i}`, value)
    clock.advance(1000)
    const full = await cache.health()
    expect(names(full)).toContain('memory-high')
    expect(full.l2?.memory?.usage).toBeGreaterThan(0.9)
    expect(full.l2?.memory?.evictedKeysPerSecond).toBeGreaterThan(10)
    expect(names(full)).toContain('evictions-high')
    const diagnosis = await cache.diagnose()
    expect(diagnosis.findings.map((f) => f.kind)).toContain('redis-evicting')

    await server().command('CONFIG', 'SET', 'maxmemory', String(512 * 2 ** 20))
    clock.advance(WINDOW + 1)
    await cache.health()
    clock.advance(1000)
    const roomy = await cache.health()
    expect(names(roomy)).not.toContain('memory-high')
    expect(names(roomy)).not.toContain('evictions-high')
  })

  it('latency-high: fires while Redis is frozen under reads, clears once fast reads fill the window', async () => {
    const { clock, cache } = redisCache({
      l1: false,
      lock: false,
      // 20 ms, not the 5 ms default: other suites share these two cores, and a fast read must stay fast.
      observability: { window: WINDOW, alerts: { p99Above: 0.02 } },
    })
    await server().command('CONFIG', 'SET', 'maxmemory', String(256 * 2 ** 20))
    await server().command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu')
    await cache.set('k', 1)
    // The injected fault: the server stops answering for 100 ms while 20 reads wait on it.
    server().pause()
    const reads = Promise.all(Array.from({ length: 20 }, () => cache.get('k')))
    await new Promise((resolve) => setTimeout(resolve, 100))
    server().resume()
    expect(await reads).toEqual(Array(20).fill(1))
    const slow = await cache.health()
    expect(names(slow)).toEqual(['latency-high'])
    expect(slow.window.p99).toBeGreaterThan(0.08)

    clock.advance(WINDOW + 1)
    await cache.health()
    for (let i = 0; i < 300; i++) await cache.get('k')
    const fast = await cache.health()
    expect(fast.alerts, `p99 ${fast.window.p99}`).toEqual([])
  })
})

describe('Redis figures that Redis no longer confirms', () => {
  it('health() on a frozen Redis: its last memory figures are not shown nor judged, and Redis is reported as not answering', async () => {
    const { clock, cache } = redisCache({ l2: { redis: server().url, timeout: '200ms' } })
    await server().command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
    const info = String(await server().command('INFO', 'memory'))
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1])
    // A limit Redis is already near: memory-high fires while Redis answers.
    await server().command('CONFIG', 'SET', 'maxmemory', String(Math.ceil(used / 0.95)))
    const answering = await cache.health()
    expect(names(answering)).toEqual(['memory-high'])
    expect(answering.l2?.memory?.readAt).toBe(clock())

    server().pause()
    try {
      clock.advance(1000)
      const frozen = await cache.health()
      // Unknown, not the figures of a Redis that no longer answers (nor alerts computed from them).
      expect(frozen.l2?.memory).toBeUndefined()
      expect(names(frozen)).toEqual(['l2-unavailable'])
      expect(frozen.l2?.connected).toBe(false)
      expect(frozen.status).toBe('degraded')
      // Minutes later, still unknown.
      clock.advance(120_000)
      const later = await cache.health()
      expect(later.l2?.memory).toBeUndefined()
      expect(names(later)).toEqual(['l2-unavailable'])
      expect(cache.snapshot().health.l2?.memory).toBeUndefined()
    } finally {
      server().resume()
    }
    clock.advance(1000)
    const back = await cache.health()
    expect(back.l2?.memory?.readAt).toBe(clock())
    expect(names(back)).toEqual(['memory-high'])
  })

  it('snapshot() (what Prometheus and dashboards read) drops figures older than 3 times the cadence of the reads', async () => {
    const { clock, cache } = redisCache()
    await server().command('CONFIG', 'SET', 'maxmemory', String(256 * 2 ** 20))
    await server().command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lfu')
    const readAt = (await cache.health()).l2?.memory?.readAt
    expect(readAt).toBe(clock())
    // Read once: they count as re-read every second (watchers sample once a second).
    clock.advance(3000)
    expect(cache.snapshot().health.l2?.memory?.readAt).toBe(readAt)
    clock.advance(1)
    expect(cache.snapshot().health.l2?.memory).toBeUndefined()
    expect(cache.snapshot().health.alerts).toEqual([])

    // Read every 5 s (a dashboard with intervalMs 5000): figures up to 15 s old still count.
    await cache.health()
    clock.advance(5000)
    await cache.health()
    clock.advance(5000)
    const last = (await cache.health()).l2?.memory?.readAt
    clock.advance(15_000)
    expect(cache.snapshot().health.l2?.memory?.readAt).toBe(last)
    clock.advance(1)
    expect(cache.snapshot().health.l2?.memory).toBeUndefined()
  })
})

describe('metrics read from snapshots say what Redis says now', () => {
  /** The value of one Prometheus sample line (`name{labels} value`), or undefined when absent. */
  function sample(text: string, name: string): number | undefined {
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) return Number(line.split(' ').at(-1))
    }
    return undefined
  }

  it('Prometheus: a scrape while Redis is frozen shows it disconnected, without memory figures; once resumed, connected with fresh figures', async () => {
    // No health() call anywhere: Prometheus is all that watches this cache.
    const { cache } = redisCache({ l2: { redis: server().url, timeout: '200ms' } })
    const registry = new Registry()
    registerPrometheus(cache, { registry })
    const answering = await registry.metrics()
    expect(sample(answering, 'stratacache_l2_connected')).toBe(1)
    expect(sample(answering, 'stratacache_redis_memory_used_bytes')).toBeGreaterThan(0)

    server().pause()
    let frozen: string
    try {
      frozen = await registry.metrics()
    } finally {
      server().resume()
    }
    expect(sample(frozen, 'stratacache_l2_connected')).toBe(0)
    expect(sample(frozen, 'stratacache_health_status')).toBe(1)
    expect(frozen).toContain(`stratacache_alert_firing{cache="${cache.name}",alert="l2-unavailable"} 1`)
    expect(sample(frozen, 'stratacache_redis_memory_used_bytes')).toBeUndefined()

    const resumed = await registry.metrics()
    expect(sample(resumed, 'stratacache_l2_connected')).toBe(1)
    expect(sample(resumed, 'stratacache_redis_memory_used_bytes')).toBeGreaterThan(0)
  })

  it('OpenTelemetry: a collection while Redis is frozen shows it disconnected, without memory figures', async () => {
    const { cache } = redisCache({ l2: { redis: server().url, timeout: '200ms' } })
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 })
    const provider = new MeterProvider({ readers: [reader] })
    const stop = instrumentOpenTelemetry({ caches: cache, meter: provider.getMeter('test'), traces: false })
    const collect = async () => {
      await reader.forceFlush()
      const points = new Map<string, unknown>()
      for (const scope of exporter.getMetrics().at(-1)?.scopeMetrics ?? [])
        for (const metric of scope.metrics) points.set(metric.descriptor.name, metric.dataPoints[0]?.value)
      return points
    }
    try {
      const answering = await collect()
      expect(answering.get('stratacache.l2_connected')).toBe(1)
      expect(answering.get('stratacache.redis_memory_used_bytes')).toBeGreaterThan(0)
      server().pause()
      let frozen: Map<string, unknown>
      try {
        frozen = await collect()
      } finally {
        server().resume()
      }
      expect(frozen.get('stratacache.l2_connected')).toBe(0)
      expect(frozen.get('stratacache.health_status')).toBe(1)
    } finally {
      stop()
      await provider.shutdown()
    }
  })
})

describe('Redis counters across a Redis restart', () => {
  /** Redis' evicted_keys (since it started: earlier tests' evictions count too). */
  async function evictedKeys(): Promise<number> {
    return Number(/evicted_keys:(\d+)/.exec(String(await server().command('INFO', 'stats')))?.[1])
  }

  /** Fills Redis past a maxmemory just above its use with `count` 20 KB values; answers its evicted_keys. */
  async function evict(count: number): Promise<number> {
    await server().command('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru')
    const used = Number(/used_memory:(\d+)/.exec(String(await server().command('INFO', 'memory')))?.[1])
    await server().command('CONFIG', 'SET', 'maxmemory', String(used + 512 * 1024))
    const value = 'x'.repeat(20_000)
    for (let i = 0; i < count; i++) await server().command('SET', `evict:${i}`, value)
    return evictedKeys()
  }

  it('evictions after a restart count from 0 (its evicted_keys started again), not as none', async () => {
    const { clock, cache } = redisCache({
      l1: false,
      observability: { window: WINDOW, alerts: { p99Above: 10, evictionsPerSecondAbove: 1 } },
    })
    const start = await evictedKeys()
    await cache.health()
    const before = await evict(100)
    clock.advance(1000)
    // Redis may go on evicting in the background: the count lies between the ones read around the call.
    const first = (await cache.health()).l2?.memory?.evictedKeysPerSecond ?? Number.NaN
    expect(first).toBeGreaterThanOrEqual(before - start)
    expect(first).toBeLessThanOrEqual((await evictedKeys()) - start)
    // The window now starts at that count.
    clock.advance(WINDOW + 1)
    await cache.health()

    await server().restart()
    const after = await evict(60)
    // Fewer than before the restart: subtracting the old count would read as no eviction at all.
    expect(after).toBeGreaterThan(10)
    expect(after).toBeLessThan(before)
    clock.advance(1000)
    await vi.waitFor(async () => expect((await cache.health()).l2?.memory).toBeDefined(), { timeout: 10_000 })
    const restarted = await cache.health()
    const evicted = Math.round(
      (restarted.l2?.memory?.evictedKeysPerSecond ?? 0) * ((WINDOW + 1 + 1000) / 1000),
    )
    expect(evicted).toBeGreaterThanOrEqual(after)
    expect(evicted).toBeLessThanOrEqual(await evictedKeys())
    expect(names(restarted)).toContain('evictions-high')
  })
})

describe('published snapshots', () => {
  it('reach another process’s subscriber with stats, health, hot key groups and a diagnosis — never a key', async () => {
    const namespace = uniqueNamespace('pub')
    const publisher = track(
      createCache({
        namespace,
        l2: { redis: server().url },
        observability: { publish: { interval: '100ms' } },
      }),
    )
    const watcher = track(createCache({ namespace, l1: false, l2: { redis: server().url } }))
    const received: CacheSnapshot[] = []
    const unsubscribe = await subscribeSnapshots(watcher, (snapshot) => received.push(snapshot))
    for (let i = 0; i < 200; i++)
      await publisher.getOrSet({ key: `customer:${1000 + (i % 50)}`, factory: () => i })
    // Snapshots published during the loop show part of it; wait for one taken after it.
    // (hot key groups are recomputed at most once a second)
    await vi.waitFor(
      () => {
        expect(received.at(-1)?.stats.l1Hits).toBe(150)
        expect(received.at(-1)?.hotKeyGroups[0]?.count).toBe(200)
      },
      { timeout: 5000 },
    )
    await unsubscribe()
    const snapshot = received.at(-1) as CacheSnapshot
    expect(snapshot.cache).toBe(namespace)
    expect(snapshot.stats.misses).toBe(50)
    expect(snapshot.stats.l1Hits).toBe(150)
    expect(snapshot.hotKeyGroups[0]).toEqual({ group: 'customer:{n}', count: 200, share: 1 })
    // The diagnosis is recomputed at most every 30 s: it may describe an earlier part of the loop.
    expect(snapshot.diagnosis?.sampledReads).toBeGreaterThan(0)
    expect(snapshot.diagnosis?.sampledReads).toBeLessThanOrEqual(200)
    expect(snapshot.health.l2?.memory?.usedBytes).toBeGreaterThan(0)
    expect(JSON.stringify(received)).not.toMatch(/customer:1\d{3}/)
  })

  /** An instance of `namespace` with a 5-entry L1 that publishes its snapshot every 100 ms. */
  const publishing = (namespace: string) =>
    track(
      createCache({
        namespace,
        l1: { maxEntries: 5 },
        l2: { redis: server().url },
        observability: { publish: { interval: '100ms' } },
      }),
    )

  it('`stratacache diagnose --redis` reports each publishing instance and what Redis says', async () => {
    const namespace = uniqueNamespace('cli')
    const publisher = publishing(namespace)
    // A second instance: what is said about the shared Redis must still be said once.
    const other = publishing(namespace)
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 40; i++) {
        await publisher.getOrSet({ key: `page:${i}`, factory: () => i, skipL2: true })
        await other.getOrSet({ key: `page:${i}`, factory: () => i })
      }
    }
    const cli = captureCli()
    const code = await main(
      ['diagnose', '--redis', server().url, '--namespace', namespace, '--wait', '1s'],
      cli.ctx,
    )
    expect(cli.stderr()).toBe('')
    expect(code).toBe(0)
    expect(cli.stdout()).toContain(`Namespace "${namespace}": 2 instance(s)`)
    // Each alert once (the eviction-policy one was printed per instance and again under Redis).
    const alerts = cli.stdout().match(/ALERT .*/g) ?? []
    expect(alerts.filter((line) => line.startsWith('ALERT redis-eviction-misconfigured'))).toHaveLength(1)
    // Every share is of the right total: none above 100% (the L2-backed instance's L1 misses are L2 hits).
    const shares = [...cli.stdout().matchAll(/(\d+(?:\.\d+)?)% of/g)].map((m) => Number(m[1]))
    expect(shares.length).toBeGreaterThan(0)
    for (const share of shares) expect(share).toBeLessThanOrEqual(100)
    // The eviction advice agrees with docs/write-behind.md: the write-behind log's Redis must not evict.
    expect(cli.stdout()).toMatch(/write-behind log must use noeviction/)
    expect(cli.stdout()).not.toMatch(/keep maxmemory-policy allkeys-lfu/)
    expect(cli.stdout()).toMatch(/evictions-high: .*l1\.maxEntries 5/)
    expect(cli.stdout()).toMatch(/Set l1\.maxEntries to about 40/)
    expect(cli.stdout()).toMatch(/Redis: .* used of no limit \(noeviction\)/)
    expect(cli.stdout()).toContain('Hottest key groups: page:{n} 100.0%')
  })

  it('`stratacache diagnose` prints what other instances publish without their control characters (no terminal escape reaches the screen)', async () => {
    const namespace = uniqueNamespace('cli-escape')
    const publisher = publishing(namespace)
    // Keys an application took from its users: a group name that clears the screen and retitles the terminal.
    for (let i = 0; i < 40; i++) {
      await publisher.getOrSet({ key: `\u001b[2J\u001b]0;owned\u0007:${i}`, factory: () => i, skipL2: true })
    }
    const cli = captureCli()
    const code = await main(
      ['diagnose', '--redis', server().url, '--namespace', namespace, '--wait', '1s'],
      cli.ctx,
    )
    expect(code).toBe(0)
    expect(cli.stdout()).toContain('Hottest key groups:')
    // Shown escaped, as JSON would: visible, inert.
    expect(cli.stdout()).toContain('\\u001b]{n};owned\\u0007')
    const controls = [...cli.stdout()].filter((c) => {
      const code = c.charCodeAt(0)
      return (code < 0x20 && c !== '\n') || (code >= 0x7f && code < 0xa0)
    })
    expect(controls).toEqual([])
  })

  it('`stratacache diagnose` says so when no instance publishes, and fails clearly on an unreachable Redis', async () => {
    const idle = captureCli()
    const code = await main(
      ['diagnose', '--redis', server().url, '--namespace', 'nobody', '--wait', '200ms'],
      idle.ctx,
    )
    expect(code).toBe(0)
    expect(idle.stdout()).toContain('No instance publishes')

    const unreachable = captureCli()
    const down = await main(
      ['diagnose', '--redis', 'redis://user:hunter2@127.0.0.1:1', '--namespace', 'x', '--wait', '0'],
      unreachable.ctx,
    )
    expect(down).toBe(1)
    // Named by host:port, with what happened (a refusal, not a silence) and what to check.
    expect(unreachable.stderr()).toContain('Redis at 127.0.0.1:1 refused the connection')
    expect(unreachable.stderr()).toMatch(/ECONNREFUSED .*nothing listens there/)
    expect(unreachable.stderr()).not.toContain('hunter2')
  })
})

describe('write-behind in the cache’s observability', () => {
  it('reports flushes and retries as write-behind events and its backlog in stats()', async () => {
    const { cache } = redisCache({ l2: { redis: server().url, timeout: '5s' } })
    const events: string[] = []
    cache.on('write-behind', (e) => events.push(`${e.name}:${e.kind}:${e.count}`))
    let failures = 1
    const flushed: string[] = []
    const wb = cache.writeBehind<number>({
      name: 'carts',
      maxDelay: 10,
      retryBase: 10,
      flush: async (batch) => {
        if (failures-- > 0) throw new Error('database restarting')
        for (const op of batch) flushed.push(op.key)
      },
    })
    await wb.set('a', 1)
    await wb.set('b', 2)
    await vi.waitFor(() => expect(cache.stats().writeBehindFlushed).toBe(2), { timeout: 10_000 })
    const stats = cache.stats()
    expect(stats.writeBehindRetries).toBeGreaterThanOrEqual(1)
    expect(stats.writeBehindDeadLettered).toBe(0)
    expect(flushed.sort()).toEqual(['a', 'b'])
    // The failed batch held 'a', or 'a' and 'b' (whether 'b' was appended before the first flush).
    expect(events.some((e) => /^carts:retry:[12]$/.test(e))).toBe(true)
    expect(events.filter((e) => e.startsWith('carts:flushed')).length).toBeGreaterThanOrEqual(1)
    await vi.waitFor(async () => {
      expect(cache.stats().writeBehindPending).toBe(0)
    })
  })

  it('reports dead letters dropped past maxDeadLetters as an event and in stats()', async () => {
    const { cache } = redisCache({ l2: { redis: server().url, timeout: '5s' } })
    const dropped: number[] = []
    cache.on('write-behind', (e) => {
      if (e.kind === 'dead-letter-dropped') dropped.push(e.count)
    })
    const wb = cache.writeBehind<number>({
      name: 'poisoned',
      maxDelay: 10,
      retryBase: 10,
      retryMax: 50,
      maxAttempts: 1,
      maxDeadLetters: 1,
      // The database refuses the poison keys and takes the others (so it is not down: an outage
      // never dead-letters).
      flush: async (batch) => {
        if (batch.some((op) => op.key.startsWith('poison'))) throw new Error('rejected by the database')
      },
    })
    for (const key of ['poison:a', 'poison:b', 'poison:c']) await wb.set(key, 1)
    let ok = 0
    await vi.waitFor(
      async () => {
        await wb.set(`ok:${ok++}`, 1)
        expect(cache.stats().writeBehindDeadLettered).toBe(3)
      },
      { timeout: 10_000, interval: 20 },
    )
    expect(cache.stats().writeBehindDeadLettersDropped).toBe(2)
    expect(dropped.reduce((a, b) => a + b, 0)).toBe(2)
  })
})
