import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Registry, type RegistryContentType } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { ALERT_NAMES, registerPrometheus } from '../../dist/observability/prometheus.js'
import type { CacheSnapshot } from '../../dist/observability/types.js'
import { alert, BOUNDS, type ParsedFamily, parsePrometheusText, series, snapshot } from './snapshots.js'

const ALLOWED_LABELS = new Set(['cache', 'tier', 'result', 'operation', 'cause', 'alert', 'le'])

/** A source whose snapshot the test changes between scrapes. */
function mutable(initial: CacheSnapshot) {
  let current = initial
  let reads = 0
  return {
    source: {
      snapshot() {
        reads++
        return current
      },
    },
    set(next: CacheSnapshot) {
      current = next
    },
    reads: () => reads,
  }
}

async function scrape(registry: Registry<RegistryContentType>): Promise<Map<string, ParsedFamily>> {
  return parsePrometheusText(await registry.metrics())
}

function value(
  families: Map<string, ParsedFamily>,
  sample: string,
  labels: Record<string, string>,
): number | undefined {
  for (const family of families.values()) {
    for (const s of family.samples) {
      if (s.name !== sample) continue
      if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) return s.value
    }
  }
  return undefined
}

describe('registerPrometheus', () => {
  it('exposes the write-behinds: outcomes and retries as counters, the backlog and its age as gauges (the largest an instance saw: each sees every process)', async () => {
    const registry = new Registry()
    const one = snapshot({
      instance: 'i1',
      stats: {
        writeBehindFlushed: 40,
        writeBehindDeadLettered: 3,
        writeBehindDeadLettersDropped: 1,
        writeBehindRejected: 2,
        writeBehindRetries: 5,
        writeBehindPending: 120,
        writeBehindLagMs: 1500,
      },
    })
    const two = snapshot({
      instance: 'i2',
      stats: { writeBehindFlushed: 2, writeBehindPending: 100, writeBehindLagMs: 900 },
    })
    registerPrometheus(() => [one, two], { registry })
    const families = await scrape(registry)
    expect(families.get('stratacache_write_behind_writes_total')?.type).toBe('counter')
    const writes = (result: string) =>
      value(families, 'stratacache_write_behind_writes_total', { cache: 'products', result })
    expect([
      writes('flushed'),
      writes('dead_lettered'),
      writes('dead_letter_dropped'),
      writes('rejected'),
    ]).toEqual([42, 3, 1, 2])
    expect(value(families, 'stratacache_write_behind_retries_total', { cache: 'products' })).toBe(5)
    expect(families.get('stratacache_write_behind_pending')?.type).toBe('gauge')
    expect(value(families, 'stratacache_write_behind_pending', { cache: 'products' })).toBe(120)
    expect(value(families, 'stratacache_write_behind_lag_seconds', { cache: 'products' })).toBe(1.5)
  })

  it('exposes stats counters as _total counters read at scrape time, with tier/cause/result labels', async () => {
    const registry = new Registry()
    const target = mutable(snapshot({ stats: { l1Hits: 7, l2Hits: 3, misses: 2 } }))
    registerPrometheus(target.source, { registry })

    let families = await scrape(registry)
    expect(families.get('stratacache_hits_total')?.type).toBe('counter')
    expect(value(families, 'stratacache_hits_total', { cache: 'products', tier: 'l1' })).toBe(7)
    expect(value(families, 'stratacache_hits_total', { cache: 'products', tier: 'l2' })).toBe(3)
    expect(value(families, 'stratacache_misses_total', { cache: 'products' })).toBe(2)

    target.set(
      snapshot({
        stats: { l1Hits: 9, l2Hits: 3, misses: 5, l2Timeouts: 4, busMessagesDropped: 1, l1Evictions: 6 },
      }),
    )
    families = await scrape(registry)
    expect(value(families, 'stratacache_hits_total', { tier: 'l1' })).toBe(9)
    expect(value(families, 'stratacache_misses_total', {})).toBe(5)
    expect(value(families, 'stratacache_l2_errors_total', { cause: 'timeout' })).toBe(4)
    expect(value(families, 'stratacache_l2_errors_total', { cause: 'error' })).toBe(0)
    expect(value(families, 'stratacache_bus_messages_total', { result: 'dropped' })).toBe(1)
    expect(value(families, 'stratacache_evictions_total', { tier: 'l1' })).toBe(6)
  })

  it('takes one snapshot per cache per scrape, shared by every metric', async () => {
    const registry = new Registry()
    const target = mutable(snapshot())
    registerPrometheus(target.source, { registry })
    await registry.metrics()
    expect(target.reads()).toBe(1)
    await registry.metrics()
    expect(target.reads()).toBe(2)
  })

  it('exposes latency as a _seconds histogram with the exact bucket bounds, cumulative buckets, _sum and _count', async () => {
    const registry = new Registry()
    const latency = [
      series('getOrSet', 'l1', [5, 3, 0, 1]),
      series('getOrSet', 'origin', [0, 0, 0, 0, 2, 0, 0, 0, 1]),
    ]
    registerPrometheus(mutable(snapshot({ latency })).source, { registry })
    const family = (await scrape(registry)).get('stratacache_operation_duration_seconds')
    expect(family?.type).toBe('histogram')
    const buckets = family!.samples.filter((s) => s.name.endsWith('_bucket') && s.labels.tier === 'l1')
    expect(buckets.map((s) => s.labels.le)).toEqual([...BOUNDS.map(String), '+Inf'])
    expect(buckets.map((s) => s.value)).toEqual([5, 8, 8, 9, 9, 9, 9, 9, 9])
    expect(
      value(new Map([['f', family!]]), 'stratacache_operation_duration_seconds_count', { tier: 'origin' }),
    ).toBe(3)
    const originInf = family!.samples.find(
      (s) => s.name.endsWith('_bucket') && s.labels.tier === 'origin' && s.labels.le === '+Inf',
    )
    expect(originInf?.value).toBe(3)
    const sum = family!.samples.find((s) => s.name.endsWith('_sum') && s.labels.tier === 'l1')
    expect(sum?.value).toBeCloseTo(5 * BOUNDS[0]! + 3 * BOUNDS[1]! + BOUNDS[3]!, 12)
    expect(family!.samples.every((s) => s.labels.operation === 'getOrSet')).toBe(true)
  })

  it('exposes gauges: L1 entries and bytes, breaker state, in-flight, health status, one alert_firing series per alert', async () => {
    const registry = new Registry()
    const snap = snapshot({
      stats: { l1Entries: 42, l1Bytes: 4096, inFlight: 2 },
      health: {
        status: 'degraded',
        l2: { connected: true, breaker: 'half-open' },
        alerts: [alert('low-hit-ratio')],
      },
    })
    registerPrometheus(mutable(snap).source, { registry })
    const families = await scrape(registry)
    expect(value(families, 'stratacache_l1_entries', {})).toBe(42)
    expect(value(families, 'stratacache_l1_bytes', {})).toBe(4096)
    expect(value(families, 'stratacache_in_flight', {})).toBe(2)
    expect(value(families, 'stratacache_breaker_state', {})).toBe(1)
    expect(value(families, 'stratacache_health_status', {})).toBe(1)
    const firing = families.get('stratacache_alert_firing')!.samples
    expect(firing.map((s) => s.labels.alert).sort()).toEqual([...ALERT_NAMES].sort())
    expect(firing.filter((s) => s.value === 1).map((s) => s.labels.alert)).toEqual(['low-hit-ratio'])
  })

  it('alert_firing has a series for every alert health() can raise, bus-silent included', async () => {
    const registry = new Registry()
    const snap = snapshot({ health: { status: 'degraded', alerts: [alert('bus-silent', 12, 0)] } })
    registerPrometheus(mutable(snap).source, { registry })
    const families = await scrape(registry)
    expect(value(families, 'stratacache_alert_firing', { alert: 'bus-silent' })).toBe(1)
    expect(ALERT_NAMES).toContain('bus-silent')
  })

  it('adds up the snapshots of one cache published by several instances, and keeps caches apart', async () => {
    const registry = new Registry()
    const snapshots = [
      snapshot({ instance: 'a', stats: { l1Hits: 1, l1Entries: 10 }, latency: [series('get', 'l1', [1])] }),
      snapshot({ instance: 'b', stats: { l1Hits: 2, l1Entries: 5 }, latency: [series('get', 'l1', [0, 4])] }),
      snapshot({ cache: 'sessions', instance: 'a', stats: { l1Hits: 100 } }),
    ]
    registerPrometheus(() => snapshots, { registry })
    const families = await scrape(registry)
    expect(value(families, 'stratacache_hits_total', { cache: 'products', tier: 'l1' })).toBe(3)
    expect(value(families, 'stratacache_hits_total', { cache: 'sessions', tier: 'l1' })).toBe(100)
    expect(value(families, 'stratacache_l1_entries', { cache: 'products' })).toBe(15)
    expect(value(families, 'stratacache_instances', { cache: 'products' })).toBe(2)
    expect(
      value(families, 'stratacache_operation_duration_seconds_count', {
        cache: 'products',
        operation: 'get',
      }),
    ).toBe(5)
  })

  it('keeps counters and histograms of added-up instances monotonic when one stops reporting, and when it comes back', async () => {
    // An instance that stops publishing ages out of the feed: without its share kept, the sum
    // drops, and rate() reads the drop as a counter reset — the whole remaining total counted
    // again as new reads, a spike an operator would chase.
    const registry = new Registry()
    const a = (hits: number, at: number) =>
      snapshot({ instance: 'a', at, stats: { l1Hits: hits }, latency: [series('get', 'l1', [hits])] })
    const b = (hits: number, at: number) =>
      snapshot({ instance: 'b', at, stats: { l1Hits: hits }, latency: [series('get', 'l1', [0, hits])] })
    let current: CacheSnapshot[] = [a(100, 1), b(50, 1)]
    registerPrometheus(() => current, { registry })
    const read = async () => {
      const families = await scrape(registry)
      return {
        hits: value(families, 'stratacache_hits_total', { tier: 'l1' }),
        count: value(families, 'stratacache_operation_duration_seconds_count', { operation: 'get' }),
        inf: value(families, 'stratacache_operation_duration_seconds_bucket', {
          operation: 'get',
          le: '+Inf',
        }),
        instances: value(families, 'stratacache_instances', {}),
      }
    }
    expect(await read()).toEqual({ hits: 150, count: 150, inf: 150, instances: 2 })
    current = [a(110, 2)]
    expect(await read()).toEqual({ hits: 160, count: 160, inf: 160, instances: 1 })
    // A new instance adds from zero; b coming back (it was only unheard) is not counted twice.
    current = [a(120, 3), snapshot({ instance: 'c', at: 3, stats: { l1Hits: 5 } })]
    expect((await read()).hits).toBe(175)
    current = [a(130, 4), b(60, 4), snapshot({ instance: 'c', at: 4, stats: { l1Hits: 5 } })]
    expect(await read()).toMatchObject({ hits: 195, instances: 3 })
  })

  it('follows Prometheus naming: valid names, counters end in _total, histograms in _seconds, only the bounded labels', async () => {
    const registry = new Registry()
    const snap = snapshot({
      latency: [series('getOrSet', 'l2', [1]), series('l2', 'l2', [1]), series('factory', 'all', [1])],
      health: { l2: { connected: false, breaker: 'open' }, alerts: [alert('l2-unavailable')] },
    })
    registerPrometheus(mutable(snap).source, { registry })
    const families = await scrape(registry)
    expect(families.size).toBeGreaterThan(20)
    for (const family of families.values()) {
      expect(family.name).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/)
      expect(family.name.startsWith('stratacache_')).toBe(true)
      if (family.type === 'counter') expect(family.name).toMatch(/_total$/)
      else expect(family.name).not.toMatch(/_total$/)
      if (family.type === 'histogram') expect(family.name).toMatch(/_seconds$/)
      for (const sample of family.samples) {
        for (const label of Object.keys(sample.labels)) expect(ALLOWED_LABELS).toContain(label)
      }
    }
  })

  it('renders OpenMetrics too (counters named without _total in TYPE, with it on samples)', async () => {
    const registry = new Registry<RegistryContentType>()
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    registerPrometheus(mutable(snapshot({ stats: { misses: 4 } })).source, { registry })
    const text = await registry.metrics()
    expect(text).toContain('# TYPE stratacache_misses counter')
    expect(text).toContain('stratacache_misses_total{cache="products"} 4')
    expect(text.endsWith('# EOF\n')).toBe(true)
  })

  it('honours the prefix option and rejects an invalid one', async () => {
    const registry = new Registry()
    const registration = registerPrometheus(mutable(snapshot()).source, { registry, prefix: 'app_cache_' })
    expect(registration.metricNames).toContain('app_cache_hits_total')
    expect(await registry.metrics()).toContain('app_cache_misses_total{cache="products"} 0')
    expect(() => registerPrometheus(mutable(snapshot()).source, { registry, prefix: '1-bad' })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
  })

  it('refuses a second registration of the same names in one registry, and unregister removes its metrics', async () => {
    const registry = new Registry()
    const first = registerPrometheus(mutable(snapshot()).source, { registry })
    expect(() => registerPrometheus(mutable(snapshot()).source, { registry })).toThrow(
      /already has a metric named/,
    )
    // The failed call left the first registration intact.
    expect(registry.getMetricsAsArray()).toHaveLength(first.metricNames.length)
    first.unregister()
    expect(registry.getMetricsAsArray()).toHaveLength(0)
    expect(() => registerPrometheus(mutable(snapshot()).source, { registry })).not.toThrow()
  })

  it('rejects a target without snapshot()', () => {
    expect(() => registerPrometheus({} as never, { registry: new Registry() })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
  })

  it('does not load prom-client on import: only a call without a registry does', () => {
    const script = `
      import { createRequire } from 'node:module'
      await import(${JSON.stringify(new URL('../../dist/observability/prometheus.js', import.meta.url).href)})
      const loaded = Object.keys(createRequire(import.meta.url).cache).filter((p) => p.includes('prom-client'))
      process.stdout.write(String(loaded.length))
    `
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(out).toBe('0')
  })

  it('exposes every metric the Grafana dashboard in docs/ queries', async () => {
    const registry = new Registry()
    const snap = snapshot({
      latency: [series('getOrSet', 'l1', [1])],
      health: {
        l2: {
          connected: true,
          breaker: 'closed',
          memory: {
            readAt: 0,
            usedBytes: 1,
            maxBytes: 2,
            policy: 'allkeys-lru',
            usage: 0.5,
            evictedKeysPerSecond: 0,
          },
        },
      },
    })
    registerPrometheus(mutable(snap).source, { registry })
    const exposed = new Set<string>()
    for (const family of (await scrape(registry)).values())
      for (const s of family.samples) exposed.add(s.name)
    const dashboard = readFileSync(new URL('../../docs/grafana-dashboard.json', import.meta.url), 'utf8')
    const queried = new Set(dashboard.match(/stratacache_[a-z0-9_]+/g))
    expect(queried.size).toBeGreaterThan(10)
    for (const name of queried) expect(exposed, name).toContain(name)
  })
})
