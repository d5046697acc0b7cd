/**
 * `stratacache/otel`: spans and metrics for OpenTelemetry, through `@opentelemetry/api` only (the
 * application installs and configures the SDK).
 *
 * Spans come from the `stratacache:operation` tracing channel: one span per getOrSet / get / set /
 * delete / invalidate, named `stratacache.<operation>`, with `cache.name`, `cache.operation`,
 * `cache.tier` and `cache.hit`. Values are never recorded; keys only with `recordKeys: true`
 * (they may identify users). The channel's context objects are held in a WeakMap only until the
 * call ends.
 *
 * Metrics: `stratacache.operation.duration` (a Histogram fed by the same channel, durations
 * measured here) and, for the caches you pass, observable counters and gauges read from
 * `cache.snapshot()` at collection time, after `cache.health()`: the same families as the
 * Prometheus adapter.
 */
import {
  type Attributes,
  type BatchObservableResult,
  type Meter,
  metrics,
  type Observable,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api'
import { InvalidOptionError } from '../errors.js'
import { freshSnapshots, groupByCache } from './aggregate.js'
import { type OperationContext, operationChannel } from './channels.js'
import { FAMILIES, type Family } from './metric-families.js'
import type { SnapshotSource } from './prometheus.js'

export type { SnapshotSource }

export interface OpenTelemetryOptions {
  /** Default: `trace.getTracer('stratacache')` (the global TracerProvider). */
  tracer?: Tracer
  /** Default: `metrics.getMeter('stratacache')` (the global MeterProvider). */
  meter?: Meter
  /** Put the key on spans as `cache.key`. Default false: keys may identify users. */
  recordKeys?: boolean
  /** Caches whose statistics become observable counters and gauges. Spans and the duration histogram cover every cache in the process either way. */
  caches?: SnapshotSource | readonly SnapshotSource[]
  /** Create spans. Default true. */
  traces?: boolean
}

/** Stops the instrumentation: unsubscribes from the channel and removes the observable callbacks. Idempotent. */
export type OpenTelemetryShutdown = () => void

const SCOPE = 'stratacache'

/** The core's Prometheus bucket bounds (1, 2.5, 5 × 10^k seconds, 1 µs … 50 s), advised to the SDK. */
const DURATION_BOUNDARIES: readonly number[] = (() => {
  const bounds: number[] = []
  for (let exponent = -6; exponent <= 1; exponent++) {
    for (const step of [1, 2.5, 5]) bounds.push(Number((step * 10 ** exponent).toPrecision(3)))
  }
  return bounds
})()

const READS = new Set(['getOrSet', 'get'])
const HITS = new Set(['l1', 'l2', 'stale'])

interface Pending {
  readonly span: Span | undefined
  readonly startedAt: number
}

/** A bounded description of an error: its StrataError code, else its class name. Never its message (it may hold a key). */
function errorType(error: unknown): string {
  if (error !== null && typeof error === 'object') {
    const code = (error as { code?: unknown }).code
    if (typeof code === 'string' && /^E_[A-Z0-9_]+$/.test(code)) return code
    const name = (error as { name?: unknown }).name
    if (typeof name === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(name)) return name
  }
  return '_OTHER'
}

function otelName(family: Family): string {
  return `${SCOPE}.${family.name.replace(/_total$/, '')}`
}

function otelAttributes(labels: Readonly<Record<string, string>>): Attributes {
  const attributes: Attributes = {}
  for (const [label, value] of Object.entries(labels)) {
    attributes[label === 'cache' ? 'cache.name' : `cache.${label}`] = value
  }
  return attributes
}

/**
 * Instruments every cache of the process for OpenTelemetry. Call once at startup, after the SDK
 * is set up (or pass your own `tracer` and `meter`); call the returned function to stop.
 *
 * ```ts
 * import { instrumentOpenTelemetry } from 'stratacache/otel'
 * const stop = instrumentOpenTelemetry({ caches: [products] })
 * ```
 */
export function instrumentOpenTelemetry(options: OpenTelemetryOptions = {}): OpenTelemetryShutdown {
  const recordKeys = options.recordKeys ?? false
  if (typeof recordKeys !== 'boolean') {
    throw new InvalidOptionError(
      `instrumentOpenTelemetry: recordKeys must be a boolean; got ${typeof recordKeys}.`,
    )
  }
  const sources: readonly SnapshotSource[] =
    options.caches === undefined
      ? []
      : Array.isArray(options.caches)
        ? options.caches
        : [options.caches as SnapshotSource]
  for (const source of sources) {
    if (typeof source?.snapshot !== 'function') {
      throw new InvalidOptionError(
        'instrumentOpenTelemetry: caches must be caches (anything with snapshot()).',
      )
    }
  }
  const tracer = options.traces === false ? undefined : (options.tracer ?? trace.getTracer(SCOPE))
  const meter = options.meter ?? metrics.getMeter(SCOPE)

  const duration = meter.createHistogram('stratacache.operation.duration', {
    description:
      'Duration of cache operations; cache.tier says which tier answered a read (origin: the factory ran).',
    unit: 's',
    advice: { explicitBucketBoundaries: DURATION_BOUNDARIES.slice() },
  })

  // Keyed by the channel's context object, dropped when the call ends: nothing outlives the call.
  const pending = new WeakMap<OperationContext, Pending>()

  const finish = (context: OperationContext): void => {
    const state = pending.get(context)
    if (state === undefined) return
    pending.delete(context)
    const seconds = (performance.now() - state.startedAt) / 1000
    const tier = context.tier ?? 'all'
    const failed = context.error !== undefined
    const attributes: Attributes = {
      'cache.name': context.cache,
      'cache.operation': context.operation,
      'cache.tier': tier,
    }
    if (failed) attributes['error.type'] = errorType(context.error)
    duration.record(seconds, attributes)

    const span = state.span
    if (span === undefined) return
    span.setAttribute('cache.tier', tier)
    if (READS.has(context.operation) && context.tier !== undefined)
      span.setAttribute('cache.hit', HITS.has(tier))
    if (failed) {
      const type = errorType(context.error)
      span.setAttribute('error.type', type)
      // The message and stack may quote the key: only with recordKeys.
      const error = context.error
      if (recordKeys && error instanceof Error) span.recordException(error)
      else span.recordException({ name: type, message: type })
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: recordKeys && error instanceof Error ? error.message : type,
      })
    }
    span.end()
  }

  const handlers = {
    start(message: unknown) {
      const context = message as OperationContext
      let span: Span | undefined
      if (tracer !== undefined) {
        const attributes: Attributes = { 'cache.name': context.cache, 'cache.operation': context.operation }
        if (recordKeys) attributes['cache.key'] = context.key
        span = tracer.startSpan(`${SCOPE}.${context.operation}`, { kind: SpanKind.INTERNAL, attributes })
      }
      pending.set(context, { span, startedAt: performance.now() })
    },
    end(message: unknown) {
      // A synchronous throw publishes `error` then `end`, and no asyncEnd follows.
      const context = message as OperationContext
      if (context.error !== undefined) finish(context)
    },
    asyncStart() {},
    asyncEnd(message: unknown) {
      finish(message as OperationContext)
    },
    error() {},
  }
  operationChannel.subscribe(handlers)

  // Observable counters and gauges: one snapshot per cache per collection, shared by all of them.
  const observables: { family: Family; observable: Observable }[] = []
  const observe = async (result: BatchObservableResult): Promise<void> => {
    const groups = groupByCache(await freshSnapshots(sources))
    for (const { family, observable } of observables) {
      for (const [cache, snapshots] of groups) {
        for (const sample of family.samples(cache, snapshots, family.name)) {
          result.observe(observable, sample.value, otelAttributes(sample.labels))
        }
      }
    }
  }
  if (sources.length > 0) {
    for (const family of FAMILIES) {
      if (family.type === 'histogram') continue // the channel-fed Histogram above
      const unit = family.name.endsWith('bytes') ? 'By' : '1'
      const observable =
        family.type === 'counter'
          ? meter.createObservableCounter(otelName(family), { description: family.help, unit })
          : meter.createObservableGauge(otelName(family), { description: family.help, unit })
      observables.push({ family, observable })
    }
    meter.addBatchObservableCallback(
      observe,
      observables.map((o) => o.observable),
    )
  }

  let stopped = false
  return () => {
    if (stopped) return
    stopped = true
    operationChannel.unsubscribe(handlers)
    if (observables.length > 0) {
      meter.removeBatchObservableCallback(
        observe,
        observables.map((o) => o.observable),
      )
    }
  }
}
