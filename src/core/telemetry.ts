import { L2Error, L2TimeoutError, L2UnavailableError, StrataError } from '../errors.js'
import { AccessRing } from '../observability/access-ring.js'
import { type OperationContext, operationChannel, type TracedOperation } from '../observability/channels.js'
import { HealthMonitor } from '../observability/health.js'
import { type LatencyHistogram, LatencyRecorder } from '../observability/histogram.js'
import { emptyCounters } from '../observability/stats.js'
import type { KeyGroupCount, OperationName } from '../observability/types.js'
import { emptySecurityStats } from '../security/entries.js'
import { CacheEventEmitter } from './events.js'
import type { Loaded } from './flights.js'
import type { ResolvedObservability } from './options.js'

/** How many L1 entries dropped by expiry or for room are remembered, to classify the misses that follow. */
const DROPPED_MEMORY = 4096
/** The hit countdown without latency: reaching 0 only restarts it (a Smi, like every countdown value). */
const UNTIMED_COUNTDOWN = 0x3fffffff
/** How many key groups' TTLs are remembered for diagnose(). */
const TTL_GROUPS = 256

/**
 * What the cache counts and measures: counters, latency histograms (one hit in `hitSampling`
 * timed), the latest reads, events, the `stratacache:operation` tracing channel, and the inputs of
 * health() and diagnose(). Every part reports here; none reads another part's numbers.
 */
export class Telemetry {
  readonly counters = emptyCounters()
  /** Refused entries and bus messages (never a key or a value). */
  readonly security = emptySecurityStats()
  readonly events: CacheEventEmitter
  /** Latency histograms (undefined with `observability.latency: false`). */
  readonly latency: LatencyRecorder | undefined
  /** getOrSet / get answered by the L1: the hot path's histograms, kept at hand. */
  readonly l1HitLatency: LatencyHistogram | undefined
  readonly l1GetLatency: LatencyHistogram | undefined
  /**
   * Hits until the next timed one. Always a small integer: a double here (Infinity) would box a
   * new number on every decrement — an allocation per hit.
   */
  hitCountdown: number
  readonly hitSampling: number
  /** The latest reads, for hot key groups and diagnose() (undefined with `recentReads: 0`). */
  readonly recent: AccessRing | undefined
  readonly monitor: HealthMonitor
  /** L1 entries recently dropped by expiry or for room: a miss of one of them is classified. */
  readonly dropped = new Map<string, 'capacity' | 'expired'>()
  /** The TTL last written per key group, for diagnose(). */
  readonly ttlByGroup = new Map<string, number>()
  /** How long the bus has been silent past `bus.maxSilence` (set by the BusWatch, for health()). */
  busSilentMs: () => number = () => 0
  readonly #cache: string
  #hot: { at: number; groups: readonly KeyGroupCount[] } | undefined

  constructor(cache: string, observability: ResolvedObservability, now: number) {
    this.#cache = cache
    this.events = new CacheEventEmitter(cache)
    this.latency = observability.latency ? new LatencyRecorder() : undefined
    this.l1HitLatency = this.latency?.histogram('getOrSet', 'l1')
    this.l1GetLatency = this.latency?.histogram('get', 'l1')
    this.hitSampling = observability.hitSampling
    this.hitCountdown = observability.latency ? observability.hitSampling : UNTIMED_COUNTDOWN
    this.recent = observability.recentReads > 0 ? new AccessRing(observability.recentReads) : undefined
    this.monitor = new HealthMonitor(cache, observability.windowMs, observability.alerts, now)
  }

  /** Starts timing a sampled L1 hit. */
  sampleStart(): number {
    if (this.latency === undefined) {
      this.hitCountdown = UNTIMED_COUNTDOWN
      return 0
    }
    this.hitCountdown = this.hitSampling
    return performance.now()
  }

  /** An L1 miss: counted, and classified when the L1 had dropped the key by expiry or for room. */
  l1Missed(key: string): void {
    this.counters.l1Misses++
    if (this.dropped.size === 0) return
    const cause = this.dropped.get(key)
    if (cause === undefined) return
    this.dropped.delete(key)
    if (cause === 'expired') this.counters.missesAfterExpiry++
    else this.counters.missesAfterEviction++
  }

  /** A read found in no tier. */
  missed(key: string): void {
    this.counters.misses++
    if (this.events.watchingReads) this.events.emit('miss', { key })
  }

  /** A value was written: counted, and its TTL remembered for the key's group (bounded) for diagnose(). */
  wrote(key: string, ttlMs: number): void {
    this.counters.sets++
    this.events.emit('set', { key })
    if (this.recent === undefined) return
    const group = this.recent.groupOf(key)
    if (!this.ttlByGroup.has(group) && this.ttlByGroup.size >= TTL_GROUPS) return
    this.ttlByGroup.set(group, ttlMs)
  }

  onL1Removed(key: string, cause: 'capacity' | 'expired'): void {
    if (this.recent !== undefined) {
      if (this.dropped.size >= DROPPED_MEMORY) {
        const oldest = this.dropped.keys().next()
        if (oldest.done !== true) this.dropped.delete(oldest.value)
      }
      this.dropped.set(key, cause)
    }
    if (cause === 'capacity') this.events.emit('evict', { key, cause })
    else this.events.emit('expire', { key })
  }

  /** The hottest key groups, recomputed at most once a second (dashboards and scrapes ask often). */
  hotGroups(now: number): readonly KeyGroupCount[] {
    if (this.recent === undefined) return []
    if (this.#hot === undefined || now - this.#hot.at >= 1000 || now < this.#hot.at) {
      this.#hot = { at: now, groups: this.recent.hotGroups() }
    }
    return this.#hot.groups
  }

  /** Starts timing an L2 call (0 when latency is off). */
  l2Started(): number {
    return this.latency === undefined ? 0 : performance.now()
  }

  l2Finished(started: number): void {
    if (started !== 0) this.latency?.record('l2', 'l2', (performance.now() - started) / 1000)
  }

  /**
   * The value of a read that left the L1, recording how long it took under the tier that answered
   * ('stale' when a stale value stood in). `started` is 0 unless this call was sampled earlier.
   */
  timed(
    operation: OperationName,
    started: number,
    answer: Promise<Loaded>,
    context: OperationContext | undefined,
  ): Promise<unknown> {
    if (this.latency === undefined && context === undefined) return answer.then(loadedValue)
    const from = started === 0 ? performance.now() : started
    return answer.then(
      (loaded) => {
        this.latency?.record(operation, loaded.tier, (performance.now() - from) / 1000)
        if (context !== undefined) context.tier = loaded.tier
        return loaded.value
      },
      (error: unknown) => {
        this.latency?.record(operation, 'origin', (performance.now() - from) / 1000)
        if (context !== undefined) context.tier = 'origin'
        throw error
      },
    )
  }

  /**
   * Runs `run` as a traced operation on the `stratacache:operation` channel (only when someone
   * subscribes), publishing what `tracePromise` would — start, end, then error / asyncStart /
   * asyncEnd — but without its promise wrapping: an L1 hit answers synchronously and is traced
   * as such, for a fraction of tracePromise's cost.
   */
  traced(operation: TracedOperation, key: string, run: (context: OperationContext) => unknown): unknown {
    const context: OperationContext = { cache: this.#cache, operation, key }
    const { start, end, asyncStart, asyncEnd, error } = operationChannel
    start.publish(context)
    let answer: unknown
    try {
      answer = run(context)
    } catch (thrown) {
      context.error = thrown
      error.publish(context)
      throw thrown
    } finally {
      end.publish(context)
    }
    const settled = () => {
      asyncStart.publish(context)
      asyncEnd.publish(context)
    }
    if (!(answer instanceof Promise)) {
      context.result = answer
      settled()
      return answer
    }
    return answer.then(
      (value: unknown) => {
        context.result = value
        settled()
        return value
      },
      (thrown: unknown) => {
        context.error = thrown
        error.publish(context)
        settled()
        throw thrown
      },
    )
  }

  /**
   * Runs a write timed (when latency is on) and traced (when someone subscribes), tier 'all'.
   * `subject` (the key, or the keys or tags joined) is built only for a subscriber.
   */
  observedWrite(operation: TracedOperation, subject: () => string, run: () => Promise<void>): Promise<void> {
    if (!operationChannel.hasSubscribers) return this.#measured(operation, run)
    // `traced` hands back what its callback returned: here, always the measured promise.
    return this.traced(operation, subject(), (context) => {
      context.tier = 'all'
      return this.#measured(operation, run)
    }) as Promise<void>
  }

  /**
   * Runs `run` and records how long it took (tier 'all'), when latency is on — from before it
   * starts: a write's synchronous part (encoding the value, the L1) is part of what it costs.
   */
  #measured<T>(operation: OperationName, run: () => Promise<T>): Promise<T> {
    const latency = this.latency
    if (latency === undefined) return run()
    const started = performance.now()
    const done = () => latency.record(operation, 'all', (performance.now() - started) / 1000)
    let running: Promise<T>
    try {
      running = run()
    } catch (error) {
      done()
      return Promise.reject(error)
    }
    // One reaction for the outcome (an async function with try/finally cost two).
    return running.then(
      (value) => {
        done()
        return value
      },
      (error: unknown) => {
        done()
        throw error
      },
    )
  }

  /** Counts an L2 failure and returns the error a caller should see if it must see one. */
  l2Failure(error: unknown, operation: string): StrataError {
    if (error instanceof L2UnavailableError) {
      this.counters.l2Skipped++
      return error
    }
    this.events.emit('l2-error', { operation, error })
    if (error instanceof L2TimeoutError) {
      this.counters.l2Timeouts++
      return error
    }
    if (error instanceof StrataError) return error
    this.counters.l2Errors++
    // Our words: the client's message (often about its internals) stays in `cause`.
    return new L2Error(
      `The L2 ${operation} failed (the Redis client's error is this error's cause). The L1 was updated; retry, or check Redis and l2.redis.`,
      { cause: error },
    )
  }
}

function loadedValue(loaded: Loaded): unknown {
  return loaded.value
}
