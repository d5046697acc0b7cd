import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { afterEach, describe, expect, it } from 'vitest'
import { createCache } from '../../dist/index.js'
import { type OperationContext, operationChannel } from '../../dist/observability/channels.js'
import { instrumentOpenTelemetry, type OpenTelemetryShutdown } from '../../dist/observability/otel.js'
import { alert, series, snapshot } from './snapshots.js'

function telemetry() {
  const spans = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: 3_600_000,
  })
  const meterProvider = new MeterProvider({ readers: [reader] })
  return {
    spans,
    tracer: tracerProvider.getTracer('test'),
    meter: meterProvider.getMeter('test'),
    /** Every metric point exported by a forced collection, by metric name. */
    async metrics() {
      await reader.forceFlush()
      const exported = metricExporter.getMetrics().at(-1)
      const byName = new Map<string, { attributes: Record<string, unknown>; value: unknown }[]>()
      for (const scope of exported?.scopeMetrics ?? []) {
        for (const metric of scope.metrics) {
          byName.set(
            metric.descriptor.name,
            metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value })),
          )
        }
      }
      return byName
    },
    async close() {
      await meterProvider.shutdown()
      await tracerProvider.shutdown()
    },
  }
}

/** Plays one traced call the way the core does: start, then the async outcome. */
function call(
  operation: OperationContext['operation'],
  key: string,
  outcome: { tier?: OperationContext['tier']; error?: Error; cache?: string },
): Promise<unknown> {
  const context: OperationContext = { cache: outcome.cache ?? 'products', operation, key }
  return operationChannel.tracePromise(async () => {
    await Promise.resolve()
    if (outcome.tier !== undefined) context.tier = outcome.tier
    if (outcome.error !== undefined) throw outcome.error
    return { secret: 'value-never-exported' }
  }, context)
}

const stops: OpenTelemetryShutdown[] = []
const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const stop of stops.splice(0)) stop()
  for (const close of closers.splice(0)) await close()
})

function instrument(options: Parameters<typeof instrumentOpenTelemetry>[0]) {
  const stop = instrumentOpenTelemetry(options)
  stops.push(stop)
  return stop
}

function setup() {
  const t = telemetry()
  closers.push(() => t.close())
  return t
}

describe('instrumentOpenTelemetry', () => {
  it('creates a span per operation with cache.name, cache.operation, cache.tier and cache.hit, without key or value', async () => {
    const t = setup()
    instrument({ tracer: t.tracer, meter: t.meter })
    await call('getOrSet', 'user:42', { tier: 'l1' })
    await call('getOrSet', 'user:43', { tier: 'origin' })
    await call('set', 'user:44', { tier: 'all' })
    const spans = t.spans.getFinishedSpans()
    expect(spans.map((s) => s.name)).toEqual([
      'stratacache.getOrSet',
      'stratacache.getOrSet',
      'stratacache.set',
    ])
    expect(spans[0]!.attributes).toEqual({
      'cache.name': 'products',
      'cache.operation': 'getOrSet',
      'cache.tier': 'l1',
      'cache.hit': true,
    })
    expect(spans[1]!.attributes['cache.hit']).toBe(false)
    expect(spans[2]!.attributes['cache.hit']).toBeUndefined()
    const exported = JSON.stringify(spans.map((s) => [s.attributes, s.events]))
    expect(exported).not.toContain('user:4')
    expect(exported).not.toContain('value-never-exported')
  })

  it('puts the key on spans as cache.key only with recordKeys: true', async () => {
    const t = setup()
    instrument({ tracer: t.tracer, meter: t.meter, recordKeys: true })
    await call('get', 'user:42', { tier: 'miss' })
    const [span] = t.spans.getFinishedSpans()
    expect(span!.attributes['cache.key']).toBe('user:42')
    expect(span!.attributes['cache.hit']).toBe(false)
  })

  it('marks a failed call as an error with a bounded error.type, and keeps the message (which may quote the key) out by default', async () => {
    const t = setup()
    instrument({ tracer: t.tracer, meter: t.meter })
    const error = Object.assign(new Error('factory for user:42 failed'), { code: 'E_FACTORY' })
    await expect(call('getOrSet', 'user:42', { error })).rejects.toBe(error)
    const [span] = t.spans.getFinishedSpans()
    expect(span!.status).toEqual({ code: 2, message: 'E_FACTORY' })
    expect(span!.attributes['error.type']).toBe('E_FACTORY')
    expect(JSON.stringify([span!.attributes, span!.events, span!.status])).not.toContain('user:42')
  })

  it('ends the span of a call that throws synchronously', () => {
    const t = setup()
    instrument({ tracer: t.tracer, meter: t.meter })
    const context: OperationContext = { cache: 'products', operation: 'delete', key: 'k' }
    expect(() =>
      operationChannel.traceSync(() => {
        throw new TypeError('bad')
      }, context),
    ).toThrow(TypeError)
    const [span] = t.spans.getFinishedSpans()
    expect(span!.name).toBe('stratacache.delete')
    expect(span!.attributes['error.type']).toBe('TypeError')
  })

  it('records stratacache.operation.duration in seconds per cache, operation and tier', async () => {
    const t = setup()
    instrument({ tracer: t.tracer, meter: t.meter })
    await call('getOrSet', 'a', { tier: 'l1' })
    await call('getOrSet', 'b', { tier: 'l1' })
    await call('getOrSet', 'c', { tier: 'l2', cache: 'sessions' })
    const points = (await t.metrics()).get('stratacache.operation.duration')!
    const l1 = points.find((p) => p.attributes['cache.tier'] === 'l1')
    expect(l1?.attributes).toEqual({
      'cache.name': 'products',
      'cache.operation': 'getOrSet',
      'cache.tier': 'l1',
    })
    const value = l1?.value as { count: number; sum: number; buckets: { boundaries: number[] } }
    expect(value.count).toBe(2)
    expect(value.sum).toBeGreaterThan(0)
    expect(value.sum).toBeLessThan(5)
    expect(value.buckets.boundaries[0]).toBe(0.000001)
    expect(points.find((p) => p.attributes['cache.name'] === 'sessions')?.attributes['cache.tier']).toBe('l2')
  })

  it('observes the statistics of the given caches as counters and gauges at collection time', async () => {
    const t = setup()
    let current = snapshot({
      stats: { l1Hits: 5, l2Hits: 1, misses: 2, l1Entries: 9 },
      latency: [series('getOrSet', 'l1', [5])],
      health: { alerts: [alert('memory-high')] },
    })
    instrument({ tracer: t.tracer, meter: t.meter, caches: [{ snapshot: () => current }] })
    let metrics = await t.metrics()
    const hits = metrics.get('stratacache.hits')!
    expect(hits.find((p) => p.attributes['cache.tier'] === 'l1')).toEqual({
      attributes: { 'cache.name': 'products', 'cache.tier': 'l1' },
      value: 5,
    })
    expect(metrics.get('stratacache.misses')).toEqual([
      { attributes: { 'cache.name': 'products' }, value: 2 },
    ])
    expect(metrics.get('stratacache.l1_entries')?.[0]?.value).toBe(9)
    const firing = metrics.get('stratacache.alert_firing')!
    expect(firing.find((p) => p.attributes['cache.alert'] === 'memory-high')?.value).toBe(1)
    expect(firing.find((p) => p.attributes['cache.alert'] === 'low-hit-ratio')?.value).toBe(0)
    current = snapshot({ stats: { l1Hits: 8, misses: 2 } })
    metrics = await t.metrics()
    expect(metrics.get('stratacache.hits')!.find((p) => p.attributes['cache.tier'] === 'l1')?.value).toBe(8)
  })

  it('stops creating spans and observing after shutdown (idempotent)', async () => {
    const t = setup()
    let reads = 0
    const stop = instrument({
      tracer: t.tracer,
      meter: t.meter,
      caches: {
        snapshot: () => {
          reads++
          return snapshot()
        },
      },
    })
    stop()
    stop()
    await call('getOrSet', 'a', { tier: 'l1' })
    await t.metrics()
    expect(t.spans.getFinishedSpans()).toHaveLength(0)
    expect(reads).toBe(0)
    expect(operationChannel.start.hasSubscribers).toBe(false)
  })

  it('with traces: false, records the duration histogram but no spans', async () => {
    const t = setup()
    instrument({ tracer: t.tracer, meter: t.meter, traces: false })
    await call('get', 'a', { tier: 'l2' })
    expect(t.spans.getFinishedSpans()).toHaveLength(0)
    expect((await t.metrics()).get('stratacache.operation.duration')).toHaveLength(1)
  })

  it('rejects caches without snapshot() and a non-boolean recordKeys', () => {
    expect(() => instrumentOpenTelemetry({ caches: [{}] as never })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
    expect(() => instrumentOpenTelemetry({ recordKeys: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
  })

  it('with a real cache: getOrSet spans say which tier answered, failures are errors, and the meters read its stats', async () => {
    const t = setup()
    const products = createCache({ namespace: 'products', l1: { maxEntries: 100 } })
    closers.push(() => products.close())
    instrument({ tracer: t.tracer, meter: t.meter, caches: [products] })
    await products.getOrSet({ key: 'user:42', factory: () => ({ name: 'secret-value' }) })
    await products.getOrSet({ key: 'user:42', factory: () => ({ name: 'secret-value' }) })
    await expect(
      products.getOrSet({
        key: 'user:43',
        factory: () => {
          throw new Error('database down for user:43')
        },
      }),
    ).rejects.toThrow()
    await products.set('user:44', 1)

    const spans = t.spans.getFinishedSpans()
    expect(spans.map((s) => [s.name, s.attributes['cache.tier'], s.attributes['cache.hit']])).toEqual([
      ['stratacache.getOrSet', 'origin', false],
      ['stratacache.getOrSet', 'l1', true],
      ['stratacache.getOrSet', expect.any(String), expect.anything()],
      ['stratacache.set', 'all', undefined],
    ])
    expect(spans[2]!.status.code).toBe(2)
    expect(spans[2]!.attributes['error.type']).toBe('E_FACTORY')
    const exported = JSON.stringify(spans.map((s) => [s.attributes, s.events, s.status]))
    expect(exported).not.toMatch(/user:4|secret-value/)

    const metrics = await t.metrics()
    const hits = metrics.get('stratacache.hits')!.find((p) => p.attributes['cache.tier'] === 'l1')
    expect(hits?.value).toBe(products.stats().l1Hits)
    expect(metrics.get('stratacache.factory_calls')?.[0]?.value).toBe(2)
    const durations = metrics.get('stratacache.operation.duration')!
    const origin = durations.find((p) => p.attributes['cache.tier'] === 'origin')
    expect((origin!.value as { count: number }).count).toBe(1)
  })
})
