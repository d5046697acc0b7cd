import { randomUUID } from 'node:crypto'
import { coarseClock } from '../base/clock.js'
import { within } from '../base/deadline.js'
import { type Duration, parseDuration } from '../base/duration.js'
import { type HeldLock, KeyLocks } from '../coordination/key-lock.js'
import { SingleFlight } from '../coordination/single-flight.js'
import {
  ClosedError,
  FactoryError,
  FactoryHardTimeoutError,
  InvalidKeyError,
  InvalidOptionError,
  L2Error,
  L2TimeoutError,
  L2UnavailableError,
  SerializationError,
  StrataError,
  ValueTooLargeError,
} from '../errors.js'
import type { Bus } from '../invalidation/bus.js'
import { BusCodec, type BusMessage } from '../invalidation/messages.js'
import type { InvalidationMode, InvalidationStore, TagMarker } from '../invalidation/store.js'
import { globToRegExp } from '../keys/glob.js'
import { shortenKey } from '../keys/key.js'
import { assertPattern, assertTags, keyTooLong } from '../keys/limits.js'
import { AccessRing } from '../observability/access-ring.js'
import { type OperationContext, operationChannel, type TracedOperation } from '../observability/channels.js'
import { type Diagnosis, diagnoseReads } from '../observability/diagnose.js'
import { HealthMonitor } from '../observability/health.js'
import { type LatencyHistogram, LatencyRecorder } from '../observability/histogram.js'
import { publishSnapshots } from '../observability/publisher.js'
import { type CacheStats, emptyCounters, type WriteBehindStatName } from '../observability/stats.js'
import type {
  CacheHealth,
  CacheSnapshot,
  KeyGroupCount,
  OperationName,
  TierLabel,
} from '../observability/types.js'
import { CircuitBreakerTier } from '../resilience/circuit-breaker.js'
import { EntryCrypto, emptySecurityStats, type SecurityStats, securityStats } from '../security/entries.js'
import { decodeEnvelope, encodeEnvelope } from '../serialization/envelope.js'
import { MsgpackSerializer } from '../serialization/msgpack.js'
import type { Serializer } from '../serialization/serializer.js'
import { TaggedJsonSerializer } from '../serialization/tagged-json.js'
import {
  ATTENTION,
  CLONE_ON_READ,
  EAGER,
  type EntryView,
  MemoryStore,
  MISS,
} from '../tiers/memory/memory-store.js'
import {
  ConnectionReport,
  connectionOf,
  describeConnectionError,
  unreachableWarning,
  untilAnswering,
} from '../tiers/redis/connection.js'
import { createRedisTier } from '../tiers/redis/create.js'
import type { RemoteEntry, RemoteInfo, RemoteTier } from '../tiers/tier.js'
import { AdaptiveTtl } from '../ttl/adaptive.js'
import {
  closeWriteBehinds,
  type WriteBehind,
  type WriteBehindOptions,
  writeBehindFor,
  writeBehindsOf,
} from '../write/index.js'
import { EntryContext } from './entry-context.js'
import {
  CacheEventEmitter,
  type CacheEventListener,
  type CacheEventName,
  type CacheEvents,
} from './events.js'
import { type DeepReadonly, deepFreeze, type Isolation } from './isolation.js'
import {
  type CacheOptions,
  DEFAULTS,
  type EntryOptions,
  type GetOrSetManyOptions,
  type GetOrSetOptions,
  hasResilienceOptions,
  type L2Options,
  type Resilience,
  type ResilienceOptions,
  type ResolvedOptions,
  resolveOptions,
  resolveResilience,
  resolveTtl,
  type WriteThroughOptions,
} from './options.js'
import type { StandardSchemaV1 } from './standard-schema.js'

/**
 * What an L2 write failure leads to: `'suppress'` for write-backs of loaded values (nothing is
 * outdated), `'repair'` for explicit writes (the L2 copy is outdated: rethrow or queue its deletion).
 */
type L2Failure = 'suppress' | 'repair'

/** What an L2 read returns when the L2 itself failed (as opposed to not having the key). */
const L2_UNAVAILABLE = Symbol('l2-unavailable')

interface Decoded {
  value: unknown
  createdAt: number
  /** End of freshness. */
  expiresAt: number
  loadMs: number
  tags: readonly string[]
  size: number
  /** False for a value past its fresh time but within the reader's grace. */
  fresh: boolean
}

/** A value that can stand in for a fresh one: stale within grace, or still fresh and being refreshed early. */
interface Stale {
  value: unknown
  freshUntil: number
  /** End of grace: after this the value may not be served. */
  expiresAt: number
}

/** An in-flight load, as writes and deletes see it. */
interface LoadToken {
  overtaken: boolean
  startedAt: number
  /** Which tier the load's value came from (for latency by tier): 'origin' until it is known. */
  tier: TierLabel
}

/** How many L1 entries dropped by expiry or for room are remembered, to classify the misses that follow. */
const DROPPED_MEMORY = 4096
/** The hit countdown without latency: reaching 0 only restarts it (a Smi, like every countdown value). */
const UNTIMED_COUNTDOWN = 0x3fffffff
/** How often published snapshots recompute their diagnosis (at the latest). */
const DIAGNOSIS_EVERY_MS = 30_000
/** How long ready() waits for Redis and the bus by default. */
const READY_TIMEOUT = '5s'
/** How many key groups' TTLs are remembered for diagnose(). */
const TTL_GROUPS = 256

/** A value computed by a factory: when its load started (its creation time) and how long it took. */
interface Load {
  startedAt: number
  ms: number
}

/** How a load got past the key's distributed lock. */
type LockOutcome =
  | { lock: HeldLock | undefined; value?: undefined; l2Failed?: boolean }
  | { value: { v: unknown } }

/**
 * XFetch's exponential draw −ln(U) is truncated at this many factory durations: entries enter
 * their refresh window this long before expiry (times δ·β), and a draw beyond it has a
 * probability of e^−12 ≈ 6·10⁻⁶ — the hit path compares one number until then.
 */
const XFETCH_SPAN = 12
/** First and longest pause between two looks at the L2 while another process holds the key's lock. */
const LOCK_POLL_FIRST_MS = 10
const LOCK_POLL_MAX_MS = 100
/** Keys whose L2 copy must be deleted once the L2 answers again; past this many, the oldest are dropped (counted). */
const MAX_PENDING_REPAIRS = 100_000
const REPAIR_CHUNK = 500
/**
 * How long a deleted key keeps its tombstone: a load that started before the delete and finishes
 * within this long cannot write its result back. Loads longer than this are not protected.
 */
const TOMBSTONE_MS = 60_000
/** Life of a tag marker created by an invalidation (writes with the tag extend it to cover their entries). */
const MARKER_MS = 86_400_000
/** Tag markers this instance remembers (what it invalidated or heard on the bus, or read). */
const MAX_KNOWN_MARKERS = 100_000
/** How far before the entry that creates a tag marker the marker's "deleted at" is set. */
const MARKER_EPSILON_MS = 0.001
/** Tags that stand for "depends on key K" (reserved: user tags may not start with it). */
const DEPENDENCY_TAG = '@key:'
/** The security counter a dropped bus message adds to (a malformed one only counts as dropped). */
const BUS_DROP_COUNTER = {
  oversized: 'busOversized',
  unauthenticated: 'busUnauthenticated',
  replayed: 'busReplayed',
  expired: 'busExpired',
} as const

type TagState = 'fresh' | 'stale' | 'gone'

/**
 * A two-tier cache: an in-process L1 in front of an optional shared L2, behind one `getOrSet`.
 * Create it with {@link createCache}.
 */
export class Cache {
  /** This cache's namespace: every key it stores starts with `<name>:<version>:`. */
  readonly name: string
  readonly version: string
  readonly #options: ResolvedOptions
  /** The options as given, for {@link namespace} children. */
  readonly #given: CacheOptions
  readonly #children = new Set<Cache>()
  readonly #l1: MemoryStore | undefined
  readonly #l1TtlMs: number
  readonly #isolation: Isolation
  readonly #l2: RemoteTier | undefined
  /** The L2 without its circuit breaker (repairs run on it while the breaker is half-open). */
  readonly #l2Direct: RemoteTier | undefined
  readonly #keyLocks: KeyLocks | undefined
  readonly #resilience: Resilience
  readonly #events: CacheEventEmitter
  /** Latency histograms (undefined with `observability.latency: false`). */
  readonly #latency: LatencyRecorder | undefined
  /** getOrSet / get answered by the L1: the hot path's histograms, kept at hand. */
  readonly #l1HitLatency: LatencyHistogram | undefined
  readonly #l1GetLatency: LatencyHistogram | undefined
  /**
   * Hits until the next timed one. Always a small integer: a double here (Infinity) would box a
   * new number on every decrement — an allocation per hit.
   */
  #hitCountdown: number
  readonly #hitSampling: number
  /** The latest reads, for hot key groups and diagnose() (undefined with `recentReads: 0`). */
  readonly #recent: AccessRing | undefined
  readonly #monitor: HealthMonitor
  /** L1 entries recently dropped by expiry or for room: a miss of one of them is classified. */
  readonly #dropped = new Map<string, 'capacity' | 'expired'>()
  /** The TTL last written per key group, for diagnose(). */
  readonly #ttlByGroup = new Map<string, number>()
  /** Redis' memory figures from the last health check. */
  #lastInfo: RemoteInfo | undefined
  #lastInfoAnswered = true
  /** Answers that did not come from a load: an L1 value in its refresh window, a stale stand-in. */
  readonly #answeredBy = new WeakMap<Promise<unknown>, TierLabel>()
  #stopPublishing: (() => void) | undefined
  /** The diagnosis published snapshots carry (recomputed every DIAGNOSIS_EVERY_MS: it replays the latest reads). */
  #diagnosis: Diagnosis | undefined
  #diagnosedReads = 0
  #hot: { at: number; groups: readonly KeyGroupCount[] } | undefined
  /** Storage keys whose L2 copy is outdated because a write or delete failed: deleted when the L2 answers. */
  /** Storage key → cache key, in queue order. */
  readonly #pendingRepairs = new Map<string, string>()
  #repairing = false
  /** Factories running now: aborted on close(). */
  readonly #controllers = new Set<AbortController>()
  /** This instance's id on the bus (its own messages are ignored). */
  readonly #source = randomUUID()
  readonly #store: InvalidationStore | undefined
  readonly #bus: Bus | undefined
  readonly #channel: string
  /** Whether the bus is delivering: only then are remembered tag markers trusted without a read. */
  #busUp = false
  /** Why the bus could not subscribe, for ready(). */
  #busError: unknown
  /** The L2 connection's last error, for ready(), health() and diagnose(). */
  #connection = new ConnectionReport()
  #unsubscribe: Promise<(() => Promise<void>) | undefined> | undefined
  #unsubscribeNow: (() => Promise<void>) | undefined
  /** Tag markers this instance knows (its own invalidations, the bus, reads), bounded. */
  readonly #markers = new Map<string, TagMarker>()
  /** When this namespace was last cleared, as far as this instance knows. */
  #clearedAt = 0
  readonly #serializer: Serializer
  readonly #clock: () => number
  readonly #prefix: string
  readonly #flights = new SingleFlight<unknown>()
  /** Loads in flight that a write or delete has overtaken: their result must not be stored. */
  readonly #overtaken = new Map<string, LoadToken>()
  readonly #counters = emptyCounters()
  /** Refused entries and bus messages (never a key or a value). */
  readonly #security = emptySecurityStats()
  /** Encryption of L2 entries, when configured. */
  readonly #crypto: EntryCrypto | undefined
  /** Signs, numbers and checks bus messages. */
  readonly #busCodec: BusCodec
  /** `<namespace>[@<tenant>]`: what every key, tag marker, lock and the bus channel are scoped by. */
  readonly #scope: string
  #closed = false

  constructor(options: CacheOptions = {}) {
    const resolved = resolveOptions(options)
    this.#given = options
    this.#options = resolved
    this.name = resolved.namespace
    this.version = resolved.version
    this.#clock = options.clock === undefined ? coarseClock(resolved.clock) : resolved.clock
    this.#events = new CacheEventEmitter(resolved.namespace)
    const observability = resolved.observability
    this.#latency = observability.latency ? new LatencyRecorder() : undefined
    this.#l1HitLatency = this.#latency?.histogram('getOrSet', 'l1')
    this.#l1GetLatency = this.#latency?.histogram('get', 'l1')
    this.#hitSampling = observability.hitSampling
    this.#hitCountdown = observability.latency ? observability.hitSampling : UNTIMED_COUNTDOWN
    this.#recent = observability.recentReads > 0 ? new AccessRing(observability.recentReads) : undefined
    this.#monitor = new HealthMonitor(
      resolved.namespace,
      observability.windowMs,
      observability.alerts,
      this.#clock(),
    )
    const security = resolved.security
    this.#scope = security.scope
    this.#prefix = `${security.scope}:${resolved.version}:`
    this.#channel = `!bus:${security.scope}`
    this.#crypto =
      security.encryption === undefined
        ? undefined
        : new EntryCrypto(security.encryption.ring, security.encryption.all, this.#security)
    this.#busCodec = new BusCodec({ secret: security.busSecret, maxAgeMs: security.busMaxAgeMs })
    this.#resilience = resolved.resilience
    this.#serializer =
      resolved.serializer === 'json'
        ? new TaggedJsonSerializer()
        : resolved.serializer === 'msgpack'
          ? new MsgpackSerializer()
          : resolved.serializer
    if (resolved.l1) {
      this.#l1 = new MemoryStore({
        maxEntries: resolved.l1.maxEntries,
        maxBytes: resolved.l1.maxBytes,
        policy: resolved.l1.policy,
      })
      this.#l1TtlMs = resolved.l1.ttlMs
      this.#isolation = resolved.l1.isolation
      this.#l1.onRemoved = (key, cause) => this.#onL1Removed(key, cause)
    } else {
      this.#l1TtlMs = 0
      this.#isolation = 'none'
    }
    if (resolved.l2) {
      const direct =
        resolved.l2.tier ??
        createRedisTier(resolved.l2, {
          timeoutMs: resolved.l2TimeoutMs,
          batchSize: resolved.l2BatchSize,
          onError: () => {
            this.#counters.l2ConnectionErrors++
          },
        })
      this.#l2Direct = direct
      this.#connection = connectionOf(direct)
      // Announced by the cache that opened the connection (namespaces share it, and its report).
      if (resolved.l2.tier === undefined)
        this.#connection.onFirstFailure((error) => {
          // Once per connection: a wrong URL must not be silent, nor flood the log while it retries.
          const warning = unreachableWarning(error)
          this.#events.emit('l2-error', { operation: 'connect', error: warning })
          process.emitWarning(warning)
        })
      this.#l2 =
        resolved.breaker === false
          ? direct
          : new CircuitBreakerTier(direct, {
              failureThreshold: resolved.breaker.threshold,
              breakDurationMs: resolved.breaker.breakDurationMs,
              clock: Date.now,
              onStateChange: (state) => {
                if (state === 'open') this.#counters.breakerOpened++
                this.#events.emit('breaker', { state })
              },
              onRecover: () => this.#repair(direct),
            })
      this.#store = this.#l2.invalidation
      if (resolved.bus && this.#l2.bus !== undefined) {
        this.#bus = this.#l2.bus
        this.#unsubscribe = this.#bus
          .subscribe(
            this.#channel,
            (message) => this.#onBusMessage(message),
            (state) => this.#onBusState(state),
          )
          .then(
            (unsubscribe) => {
              this.#busUp = true
              this.#unsubscribeNow = unsubscribe
              return unsubscribe
            },
            (error: unknown) => {
              this.#busError = error
              this.#l2Failure(error, 'subscribe')
              return undefined
            },
          )
      }
      if (resolved.lock !== false && this.#l2.locks !== undefined) {
        this.#keyLocks = new KeyLocks(this.#l2.locks, {
          ttlMs: resolved.lock.ttlMs,
          onError: (error) => this.#l2Failure(error, 'lock'),
        })
      }
      const bus = this.#l2.bus
      if (observability.publishMs > 0 && bus !== undefined) {
        this.#stopPublishing = publishSnapshots(this.name, bus, observability.publishMs, async () => {
          const now = this.#clock()
          const reads = this.#recent?.total ?? 0
          // Every 30 s, and sooner while traffic ramps up (each time the reads seen have doubled).
          if (
            this.#diagnosis === undefined ||
            now - this.#diagnosis.at >= DIAGNOSIS_EVERY_MS ||
            reads >= 2 * this.#diagnosedReads
          ) {
            this.#diagnosis = await this.diagnose()
            this.#diagnosedReads = Math.max(1, reads)
          } else await this.health()
          return { ...this.snapshot(), diagnosis: this.#diagnosis }
        })
      }
    }
  }

  /** Listens to what the cache does to protect callers (stale served, early refreshes, lock waits, timeouts, breaker). */
  on<E extends CacheEventName>(name: E, listener: CacheEventListener<E>): this {
    this.#events.on(name, listener)
    return this
  }

  off<E extends CacheEventName>(name: E, listener: CacheEventListener<E>): this {
    this.#events.off(name, listener)
    return this
  }

  /** The L2 in use, if any (for diagnostics and tests). */
  get l2(): RemoteTier | undefined {
    return this.#l2
  }

  /**
   * Returns the cached value for `key`, or runs `factory` once (however many callers ask at the
   * same time in this process), caches what it returns and returns it. `undefined` from the
   * factory is returned but never cached; `null` is cached (with `negativeTtl` when set).
   */
  async getOrSet<T>(options: GetOrSetOptions<T>): Promise<DeepReadonly<T>> {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('getOrSet expects { key, factory, ttl? }.')
    }
    const key = options.key
    if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
      throw this.#invalidKey(key)
    if (typeof options.factory !== 'function') {
      throw new InvalidOptionError('getOrSet: `factory` must be a function that loads the value.')
    }
    if (this.#closed) throw closed()
    if (operationChannel.hasSubscribers) {
      return this.#traced('getOrSet', key, (context) => this.#getOrSet(key, options, context)) as
        | DeepReadonly<T>
        | Promise<DeepReadonly<T>>
    }
    return this.#getOrSet(key, options, undefined) as DeepReadonly<T> | Promise<DeepReadonly<T>>
  }

  /** getOrSet after validation: the value itself on an L1 hit (no promise of its own), else a promise. */
  #getOrSet<T>(key: string, options: GetOrSetOptions<T>, context: OperationContext | undefined): unknown {
    const ttl = options.ttl ?? this.#options.ttl
    if (typeof ttl === 'object') ttl.record(key)
    // A clock read costs as much as a hit: one hit in `hitSampling` is timed.
    const started = --this.#hitCountdown === 0 ? this.#sampleStart() : 0
    const now = this.#clock()
    this.#recent?.record(key, now)
    if (this.#l1 !== undefined && options.forceFresh !== true && options.skipL1 !== true) {
      const value = this.#l1.lookup(key, now)
      if (value !== MISS) {
        if (value !== ATTENTION) {
          this.#counters.l1Hits++
          if (started !== 0)
            this.#l1HitLatency?.record((performance.now() - started) / 1000, this.#hitSampling)
          if (this.#events.watchingReads) this.#events.emit('hit', { key, tier: 'l1' })
          if (context !== undefined) context.tier = 'l1'
          return value
        }
        const view = this.#l1.inspect(key, now)
        if (view !== undefined) {
          const answer = this.#attention(key, options, view, now)
          return this.#timed('getOrSet', started, answer, key, context)
        }
      }
      this.#l1Missed(key)
    }
    let flight: Promise<unknown> | undefined
    if (options.forceFresh !== true) flight = this.#flights.get(key)
    flight ??= this.#refresh(key, options, this.#resilienceOf(options), undefined, true)
    return this.#timed('getOrSet', started, flight, key, context)
  }

  /** Starts timing a sampled L1 hit. */
  #sampleStart(): number {
    if (this.#latency === undefined) {
      this.#hitCountdown = UNTIMED_COUNTDOWN
      return 0
    }
    this.#hitCountdown = this.#hitSampling
    return performance.now()
  }

  /**
   * Records how long a read that left the L1 took, under the tier its load says answered it
   * ('stale' when a stale value stood in). `started` is 0 unless this call was sampled earlier.
   */
  #timed(
    operation: OperationName,
    started: number,
    answer: Promise<unknown>,
    key: string,
    context: OperationContext | undefined,
  ): Promise<unknown> {
    if (this.#latency === undefined && context === undefined) return answer
    const from = started === 0 ? performance.now() : started
    const token = this.#overtaken.get(key)
    const done = (tier: TierLabel) => {
      this.#latency?.record(operation, tier, (performance.now() - from) / 1000)
      if (context !== undefined) context.tier = tier
    }
    return answer.then(
      (value) => {
        done(this.#answeredBy.get(answer) ?? token?.tier ?? 'origin')
        return value
      },
      (error: unknown) => {
        done(token?.tier ?? 'origin')
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
  #traced(operation: TracedOperation, key: string, run: (context: OperationContext) => unknown): unknown {
    const context: OperationContext = { cache: this.name, operation, key }
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

  /** An L1 miss: counted, and classified when the L1 had dropped the key by expiry or for room. */
  #l1Missed(key: string): void {
    this.#counters.l1Misses++
    if (this.#dropped.size === 0) return
    const cause = this.#dropped.get(key)
    if (cause === undefined) return
    this.#dropped.delete(key)
    if (cause === 'expired') this.#counters.missesAfterExpiry++
    else this.#counters.missesAfterEviction++
  }

  /** Remembers the TTL written for `key`'s group (bounded), for diagnose(). */
  #noteTtl(key: string, ttlMs: number): void {
    const group = (this.#recent as AccessRing).groupOf(key)
    if (!this.#ttlByGroup.has(group) && this.#ttlByGroup.size >= TTL_GROUPS) return
    this.#ttlByGroup.set(group, ttlMs)
  }

  #onL1Removed(key: string, cause: 'capacity' | 'expired'): void {
    if (this.#recent !== undefined) {
      if (this.#dropped.size >= DROPPED_MEMORY) {
        const oldest = this.#dropped.keys().next()
        if (oldest.done !== true) this.#dropped.delete(oldest.value)
      }
      this.#dropped.set(key, cause)
    }
    if (cause === 'capacity') this.#events.emit('evict', { key, cause })
    else this.#events.emit('expire', { key })
  }

  /** The cached value for `key` from either tier, or `undefined`. */
  async get<T = unknown>(
    key: string,
    options?: Pick<EntryOptions, 'skipL1' | 'skipL2'> & { schema?: StandardSchemaV1<unknown, T> },
  ): Promise<DeepReadonly<T> | undefined> {
    if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
      throw this.#invalidKey(key)
    if (this.#closed) throw closed()
    if (operationChannel.hasSubscribers) {
      return this.#traced('get', key, (context) => this.#get(key, options, context)) as
        | DeepReadonly<T>
        | undefined
        | Promise<DeepReadonly<T> | undefined>
    }
    return this.#get(key, options, undefined) as
      | DeepReadonly<T>
      | undefined
      | Promise<DeepReadonly<T> | undefined>
  }

  /** get after validation: the value itself on an L1 hit, else a promise. */
  #get(
    key: string,
    options:
      | (Pick<EntryOptions, 'skipL1' | 'skipL2'> & { schema?: StandardSchemaV1<unknown, unknown> })
      | undefined,
    context: OperationContext | undefined,
  ): unknown {
    const started = --this.#hitCountdown === 0 ? this.#sampleStart() : 0
    const now = this.#clock()
    this.#recent?.record(key, now)
    const skipL1 = options?.skipL1 === true
    if (this.#l1 !== undefined && !skipL1) {
      const value = this.#l1.get(key, now)
      if (value !== MISS) {
        this.#counters.l1Hits++
        if (started !== 0) this.#l1GetLatency?.record((performance.now() - started) / 1000, this.#hitSampling)
        if (this.#events.watchingReads) this.#events.emit('hit', { key, tier: 'l1' })
        if (context !== undefined) context.tier = 'l1'
        return value
      }
      this.#l1Missed(key)
    }
    return this.#getPastL1(key, options, skipL1, started === 0 ? performance.now() : started, context)
  }

  async #getPastL1(
    key: string,
    options: { skipL2?: boolean; schema?: StandardSchemaV1<unknown, unknown> } | undefined,
    skipL1: boolean,
    started: number,
    context: OperationContext | undefined,
  ): Promise<unknown> {
    let tier: TierLabel = 'miss'
    let value: unknown
    if (this.#l2 !== undefined && options?.skipL2 !== true) {
      const found = await this.#readL2(key, options?.schema, skipL1)
      if (found !== undefined && found !== L2_UNAVAILABLE && found.fresh) {
        tier = 'l2'
        value = found.value
      }
    }
    if (tier === 'miss') {
      this.#counters.misses++
      if (this.#events.watchingReads) this.#events.emit('miss', { key })
    }
    this.#latency?.record('get', tier, (performance.now() - started) / 1000)
    if (context !== undefined) context.tier = tier
    return value
  }

  /** Synchronous L1-only read: the value if this process holds it, else `undefined`. */
  peek<T = unknown>(key: string): T | undefined {
    if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
      throw this.#invalidKey(key)
    const value = this.#l1 === undefined ? MISS : this.#l1.get(key, this.#clock())
    return value === MISS ? undefined : (value as T)
  }

  /** Values for `keys` (aligned; `undefined` where absent): L1 first, then one L2 round trip for the rest. */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(DeepReadonly<T> | undefined)[]> {
    this.#assertKeys(keys)
    if (this.#closed) throw closed()
    const out: (T | undefined)[] = new Array(keys.length)
    const missing: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const value = this.#l1 === undefined ? MISS : this.#l1.get(keys[i] as string, this.#clock())
      if (value !== MISS) {
        this.#counters.l1Hits++
        out[i] = value as T
      } else {
        if (this.#l1 !== undefined) this.#l1Missed(keys[i] as string)
        missing.push(i)
      }
    }
    if (missing.length > 0 && this.#l2 !== undefined) {
      const found = await this.#readManyL2(
        missing.map((i) => keys[i] as string),
        undefined,
      )
      missing.forEach((index, j) => {
        out[index] = found[j]?.value as T | undefined
      })
    }
    for (const index of missing) if (out[index] === undefined) this.#counters.misses++
    return out as (DeepReadonly<T> | undefined)[]
  }

  /** True when either tier holds a live value for `key`. */
  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined
  }

  /**
   * Stores `value` in both tiers (write-through to the cache). Rejects with E_L2 if the L2 write
   * failed — the L1 holds the value regardless.
   */
  async set<T>(key: string, value: T, options: EntryOptions = {}): Promise<void> {
    if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
      throw this.#invalidKey(key)
    if (this.#closed) throw closed()
    if (value === undefined) {
      throw new InvalidOptionError(
        'set: undefined is never cached; call delete(key) to remove an entry, or cache null.',
      )
    }
    await this.#observedWrite(
      'set',
      () => key,
      () => this.#set(key, value, options),
    )
  }

  /**
   * Runs a write timed (when latency is on) and traced (when someone subscribes), tier 'all'.
   * `subject` (the key, or the keys or tags joined) is built only for a subscriber.
   */
  #observedWrite(operation: TracedOperation, subject: () => string, run: () => Promise<void>): unknown {
    if (!operationChannel.hasSubscribers) return this.#measured(operation, run())
    return this.#traced(operation, subject(), (context) => {
      context.tier = 'all'
      return this.#measured(operation, run())
    })
  }

  /** Records how long `operation` took (tier 'all'), when latency is on. */
  async #measured<T>(operation: OperationName, running: Promise<T>): Promise<T> {
    if (this.#latency === undefined) return running
    const started = performance.now()
    try {
      return await running
    } finally {
      this.#latency.record(operation, 'all', (performance.now() - started) / 1000)
    }
  }

  async #set<T>(key: string, value: T, options: EntryOptions): Promise<void> {
    this.#overtake(key)
    const ttl = this.#ttlFor(key, value, options)
    const tags = this.#tagsOf(options)
    const at = this.#stamp()
    // What was derived from the old value is outdated, here and (below) everywhere.
    const dependents = this.#dropDependents([key], at)
    const written = await this.#write(key, value, ttl, tags, options, 'repair', this.#resilienceOf(options))
    // When the L2 failed, the queued repair tells the others once it answers: nothing waits twice.
    if (!written || options.skipL2 === true || this.#l2 === undefined) return
    await Promise.all([
      this.#bumpDependents(dependents, at),
      // Other instances drop their copy of the old value (and read the new one from the L2).
      this.#publish({ op: 'delete', source: this.#source, at, version: this.version, keys: [key] }),
    ])
  }

  /**
   * Runs `write(value)` against the source of truth first and caches the value only if it
   * succeeded; if it throws, the cache is untouched and the error propagates as is.
   */
  async writeThrough<T>(options: WriteThroughOptions<T>): Promise<DeepReadonly<T>> {
    if (typeof options !== 'object' || options === null || typeof options.write !== 'function') {
      throw new InvalidOptionError('writeThrough expects { key, value, write: (value) => Promise }.')
    }
    if (
      typeof options.key !== 'string' ||
      options.key.length === 0 ||
      options.key.length > this.#maxKeyLength
    )
      throw this.#invalidKey(options.key)
    await options.write(options.value)
    await this.set(options.key, options.value, options)
    return options.value as DeepReadonly<T> // frozen by set
  }

  /**
   * Write-behind: `set` updates the cache and appends the write to a durable log in this cache's
   * Redis (a stream named after the namespace and `options.name`); flushers call `options.flush`
   * with batches. `close()` drains it. See docs/write-behind.md.
   */
  writeBehind<T>(options: WriteBehindOptions<T>): WriteBehind<T> {
    if (this.#closed) throw closed()
    const wb = writeBehindFor<T>(this, this.#l2Direct, options)
    const name = options.name
    const emit = (kind: CacheEvents['write-behind']['kind'], count: number, ms: number) =>
      this.#events.emit('write-behind', { name, kind, count, ms })
    wb.on('flushed', (e) => emit('flushed', e.keys, e.lagMs))
    wb.on('retry', (e) => emit('retry', e.keys, e.delayMs))
    wb.on('dead-letter', () => emit('dead-letter', 1, 0))
    wb.on('backpressure', (e) => emit('backpressure', e.pending, 0))
    return wb
  }

  /** Removes `key` from both tiers. Rejects with E_L2 if the L2 delete failed. */
  async delete(key: string): Promise<void> {
    await this.deleteMany([key])
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#assertKeys(keys)
    if (this.#closed) throw closed()
    if (keys.length === 0) return
    await this.#observedWrite(
      'delete',
      () => keys.join(','),
      () => this.#deleteMany(keys),
    )
  }

  async #deleteMany(keys: readonly string[]): Promise<void> {
    this.#events.emit('delete', { keys })
    const at = this.#stamp()
    for (const key of keys) {
      this.#overtake(key)
      this.#l1?.delete(key)
    }
    const dependents = this.#dropDependents(keys, at)
    this.#counters.deletes += keys.length
    if (this.#l2 === undefined) return
    const storageKeys = keys.map((k) => this.#storageKey(k))
    try {
      if (this.#store !== undefined) {
        // Tombstones, not UNLINK: a load that started before this delete cannot write back. The
        // dependency markers live elsewhere (another slot on a cluster): their failure is counted
        // but does not make the delete fail (the bus still tells every instance).
        await Promise.all([
          this.#store.tombstone(storageKeys, at, TOMBSTONE_MS),
          this.#bumpDependents(dependents, at),
        ])
      } else await this.#l2.delete(storageKeys)
      for (const key of storageKeys) this.#written(key)
    } catch (error) {
      const failure = this.#l2Failure(error, 'delete')
      if (this.#options.l2WriteErrors === 'throw') throw failure
      // The repair deletes them and tells the others once the L2 answers.
      this.#queueRepair(keys)
      return
    }
    await this.#publish({ op: 'delete', source: this.#source, at, version: this.version, keys: [...keys] })
  }

  /** Removes every entry of this cache's namespace (all versions) — never FLUSHDB, never KEYS. */
  async clear(): Promise<void> {
    if (this.#closed) throw closed()
    this.#clearedAt = Math.max(this.#clearedAt, this.#stamp())
    for (const key of this.#overtaken.keys()) this.#overtake(key)
    this.#l1?.clear()
    if (this.#l2 === undefined) return
    try {
      await this.#l2.deleteByPrefix(`${this.#scope}:`)
    } catch (error) {
      throw this.#l2Failure(error, 'clear')
    }
    await this.#publish({ op: 'clear', source: this.#source, at: this.#stamp() })
  }

  /**
   * Invalidates every entry carrying any of `tags`, in every tier and every instance, in O(number
   * of tags): each tag's marker records the time, and an entry created before it is gone
   * (`mode: 'delete'`, the default) or stale (`'expire'`: never served as fresh, still usable by
   * grace and fail-safe) — checked when the entry is read. Rejects (E_L2…) if the L2 could not
   * record it; the local L1 and the bus are updated regardless.
   */
  async invalidateTags(tags: readonly string[], options: { mode?: InvalidationMode } = {}): Promise<void> {
    if (
      !Array.isArray(tags) ||
      tags.length === 0 ||
      tags.some((t) => typeof t !== 'string' || t.length === 0)
    ) {
      throw new InvalidOptionError('invalidateTags expects a non-empty array of non-empty tag strings.')
    }
    const mode = options?.mode ?? 'delete'
    if (mode !== 'delete' && mode !== 'expire') {
      throw new InvalidOptionError(
        `invalidateTags: mode must be 'delete' or 'expire'; got ${JSON.stringify(mode)}.`,
      )
    }
    if (this.#closed) throw closed()
    await this.#observedWrite(
      'invalidate',
      () => tags.join(','),
      () => this.#invalidateTags(tags, mode),
    )
  }

  async #invalidateTags(tags: readonly string[], mode: InvalidationMode): Promise<void> {
    const at = this.#stamp()
    this.#applyTags(tags, mode, at)
    this.#counters.tagInvalidations += tags.length
    if (this.#store !== undefined) {
      try {
        await this.#store.bumpMarkers(
          tags.map((t) => this.#markerKey(t)),
          at,
          mode,
          MARKER_MS,
        )
      } catch (error) {
        await this.#publish({ op: 'tags', source: this.#source, at, tags: [...tags], mode })
        throw this.#l2Failure(error, 'invalidateTags')
      }
    }
    await this.#publish({ op: 'tags', source: this.#source, at, tags: [...tags], mode })
  }

  /**
   * Deletes every key of this namespace and version matching the glob `pattern` (`*`, `?`,
   * `[…]`; build the literal parts with `key()`, which escapes them, so user input cannot widen
   * the pattern): SCAN in batches and UNLINK in the L2 (never KEYS), and the L1 of every instance.
   * Resolves to how many keys the L2 held (the L1's count without an L2).
   */
  async deleteMatching(pattern: string): Promise<number> {
    if (typeof pattern !== 'string' || pattern.length === 0) {
      throw new InvalidOptionError("deleteMatching expects a glob pattern such as key('user', id) + ':*'.")
    }
    assertPattern(pattern)
    if (this.#closed) throw closed()
    const removed = this.#deleteMatchingL1(pattern)
    if (this.#l2 === undefined) return removed
    let deleted: number
    try {
      deleted = await this.#l2.deleteByPrefix(this.#prefix, pattern)
    } catch (error) {
      throw this.#l2Failure(error, 'deleteMatching')
    }
    await this.#publish({
      op: 'pattern',
      source: this.#source,
      at: this.#stamp(),
      version: this.version,
      pattern,
    })
    return deleted
  }

  /**
   * A cache for the namespace `<this namespace>.<name>`, with this cache's options, sharing its L2
   * connection and bus (each has its own L1, counters and breaker). Its `clear()` removes only its
   * own namespace. Closed with this cache.
   */
  namespace(name: string): Cache {
    if (this.#closed) throw closed()
    const l2 = this.#given.l2
    const child = new Cache({
      ...this.#given,
      namespace: `${this.#options.namespace}.${name}`,
      l2:
        l2 && this.#l2Direct !== undefined ? { ...withoutRedis(l2), tier: borrowed(this.#l2Direct) } : false,
    })
    this.#children.add(child)
    return child
  }

  /**
   * Resolves once Redis answers and this instance hears the bus (immediately without an L2):
   * invalidations from others reach it from then on. Rejects after `timeout` (default 5 s) with an
   * {@link L2Error} naming the connection's error (ECONNREFUSED, ENOTFOUND, WRONGPASS, NOAUTH…).
   */
  async ready(options: { timeout?: Duration } = {}): Promise<void> {
    const timeoutMs = parseDuration(options.timeout ?? READY_TIMEOUT, 'ready({ timeout })')
    const l2 = this.#l2Direct
    if (l2 === undefined || this.#closed) return
    await untilAnswering({
      ping: () => l2.ping(),
      subscribed: (this.#unsubscribe ?? Promise.resolve()).then(() =>
        this.#unsubscribe === undefined || this.#busUp ? { ok: true } : { ok: false, error: this.#busError },
      ),
      report: this.#connection,
      timeoutMs,
    })
  }

  /**
   * Bulk read-through: L1, then one L2 round trip for what L1 lacked, then one `factory` call with
   * only the keys still missing. Keys already loading (by any getOrSet) are joined, not reloaded.
   */
  async getOrSetMany<T>(options: GetOrSetManyOptions<T>): Promise<Map<string, DeepReadonly<T>>> {
    if (typeof options !== 'object' || options === null || typeof options.factory !== 'function') {
      throw new InvalidOptionError('getOrSetMany expects { keys, factory: async (missingKeys) => Map }.')
    }
    this.#assertKeys(options.keys)
    if (this.#closed) throw closed()
    const result = new Map<string, T>()
    const joined: [string, Promise<unknown>][] = []
    const toLoad: string[] = []
    const seen = new Set<string>()
    for (const key of options.keys) {
      if (seen.has(key)) continue
      seen.add(key)
      const value =
        options.skipL1 === true || this.#l1 === undefined ? MISS : this.#l1.get(key, this.#clock())
      if (value !== MISS) {
        this.#counters.l1Hits++
        result.set(key, value as T)
        continue
      }
      const flight = this.#flights.get(key)
      if (flight !== undefined) joined.push([key, flight])
      else toLoad.push(key)
    }
    if (toLoad.length > 0) {
      const settle = new Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>()
      for (const key of toLoad) {
        const flight = this.#track(
          key,
          () => new Promise((resolve, reject) => settle.set(key, { resolve, reject })),
        )
        joined.push([key, flight])
      }
      this.#loadMany(toLoad, options, settle).catch((error: unknown) => {
        for (const { reject } of settle.values()) reject(error)
      })
    }
    for (const [key, flight] of joined) {
      const value = await flight
      if (value !== undefined) result.set(key, value as T)
    }
    return result as Map<string, DeepReadonly<T>>
  }

  /** Pre-loads `keys` in batches through `loader` (skipping those already cached); resolves to how many are now cached. */
  async warm<T>(
    keys: readonly string[],
    loader: (keys: string[]) => Promise<ReadonlyMap<string, T>> | ReadonlyMap<string, T>,
    options: EntryOptions & { batchSize?: number } = {},
  ): Promise<number> {
    const batchSize = options.batchSize ?? 100
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new InvalidOptionError('warm: batchSize must be an integer ≥ 1.')
    let cached = 0
    for (let i = 0; i < keys.length; i += batchSize) {
      const found = await this.getOrSetMany({
        ...options,
        keys: keys.slice(i, i + batchSize),
        factory: loader,
      })
      cached += found.size
    }
    return cached
  }

  /**
   * Wraps an async function so its results are cached by the key `options.key(...args)` — the
   * typed equivalent of a `@cached` decorator.
   */
  wrap<A extends unknown[], R>(
    fn: (...args: A) => R | Promise<R>,
    options: EntryOptions & { key: (...args: A) => string },
  ): (...args: A) => Promise<DeepReadonly<R>> {
    if (typeof fn !== 'function' || typeof options?.key !== 'function') {
      throw new InvalidOptionError(
        'wrap(fn, { key: (...args) => string }) needs a function and a key builder.',
      )
    }
    const { key, ...entry } = options
    return (...args: A) => this.getOrSet<R>({ ...entry, key: key(...args), factory: () => fn(...args) })
  }

  /** Counters since creation, plus current sizes and ratios. Every field is a number. */
  stats(): CacheStats & SecurityStats {
    const c = this.#counters
    const ratio = (hits: number, total: number) => (total === 0 ? 1 : hits / total)
    const factory = this.#latency?.histogram('factory', 'origin')
    return {
      ...c,
      l1Evictions: this.#l1?.evictions ?? 0,
      l1Expirations: this.#l1?.expirations ?? 0,
      l1Entries: this.#l1?.size ?? 0,
      l1Bytes: this.#l1?.bytes ?? 0,
      inFlight: this.#flights.size,
      l1HitRatio: ratio(c.l1Hits, c.l1Hits + c.l1Misses),
      l2HitRatio: ratio(c.l2Hits, c.l2Hits + c.l2Misses),
      hitRatio: ratio(c.l1Hits + c.l2Hits, c.l1Hits + c.l2Hits + c.misses),
      breakerOpen: this.#breakerState() === 'closed' ? 0 : 1,
      factorySeconds: factory?.sum ?? 0,
      ...securityStats(this.#security),
      ...this.#writeBehindStats(),
    }
  }

  /** The write-behinds of this cache, summed (lag: the worst). */
  #writeBehindStats(): Pick<CacheStats, WriteBehindStatName> {
    const out = {
      writeBehindPending: 0,
      writeBehindLagMs: 0,
      writeBehindFlushed: 0,
      writeBehindRetries: 0,
      writeBehindDeadLettered: 0,
      writeBehindRejected: 0,
    }
    for (const wb of writeBehindsOf(this)) {
      const s = wb.stats()
      out.writeBehindPending += s.pending
      out.writeBehindLagMs = Math.max(out.writeBehindLagMs, s.lagMs)
      out.writeBehindFlushed += s.flushed
      out.writeBehindRetries += s.retries
      out.writeBehindDeadLettered += s.deadLettered
      out.writeBehindRejected += s.rejected
    }
    return out
  }

  #breakerState(): 'closed' | 'open' | 'half-open' {
    return this.#l2 instanceof CircuitBreakerTier ? this.#l2.state : 'closed'
  }

  /**
   * Everything this instance reports at once: stats, latency histograms, health over the window
   * (with Redis' memory figures from the last `health()` call) and the hottest key groups.
   */
  snapshot(): CacheSnapshot {
    return {
      cache: this.name,
      instance: this.#source,
      at: this.#clock(),
      stats: this.stats(),
      latency: this.#latency?.series() ?? [],
      health: this.#evaluateHealth(),
      hotKeyGroups: this.#hotGroups(),
    }
  }

  /** The hottest key groups, recomputed at most once a second (dashboards and scrapes ask often). */
  #hotGroups(): readonly KeyGroupCount[] {
    if (this.#recent === undefined) return []
    const now = this.#clock()
    if (this.#hot === undefined || now - this.#hot.at >= 1000 || now < this.#hot.at) {
      this.#hot = { at: now, groups: this.#recent.hotGroups() }
    }
    return this.#hot.groups
  }

  /**
   * Health over the window: status, hit ratio, L1 usage, Redis memory (`INFO`), breaker state and
   * the alerts that fire. Asks Redis for its memory figures (under the L2 deadline).
   */
  async health(): Promise<CacheHealth> {
    const info = this.#l2?.info
    if (info !== undefined && !this.#closed) {
      try {
        this.#lastInfo = await info.call(this.#l2)
        this.#lastInfoAnswered = true
      } catch {
        this.#lastInfoAnswered = false
      }
    }
    return this.#evaluateHealth()
  }

  #evaluateHealth(): CacheHealth {
    const c = this.#counters
    const l1Options = this.#options.l1
    return this.#monitor.evaluate({
      now: this.#clock(),
      hits: c.l1Hits + c.l2Hits,
      misses: c.misses,
      l1Evictions: this.#l1?.evictions ?? 0,
      readHistograms: this.#latency?.reads() ?? [],
      ...(this.#l1 === undefined || l1Options === false
        ? {}
        : {
            l1: {
              entries: this.#l1.size,
              bytes: this.#l1.bytes,
              maxEntries: l1Options.maxEntries,
              maxBytes: l1Options.maxBytes,
            },
          }),
      ...(this.#l2 === undefined
        ? {}
        : {
            l2: {
              breaker: this.#breakerState(),
              info: this.#lastInfo,
              answered: this.#lastInfoAnswered,
              ...(this.#connection.cause === undefined
                ? {}
                : { error: describeConnectionError(this.#connection.cause) }),
            },
          }),
      closed: this.#closed,
    })
  }

  /**
   * Explains a low hit ratio with evidence: TTLs shorter than the time between reads, an L1 too
   * small (with the size that would fix it, from replaying the latest reads through its policy),
   * key cardinality explosion, near-duplicate keys, one-hit wonders, Redis evicting.
   */
  async diagnose(): Promise<Diagnosis> {
    const health = await this.health()
    const recent = this.#recent?.recent() ?? { keys: [], times: [] }
    const l1Options = this.#options.l1
    const c = this.#counters
    return diagnoseReads({
      cache: this.name,
      now: this.#clock(),
      keys: recent.keys,
      times: recent.times,
      hits: c.l1Hits + c.l2Hits,
      misses: c.misses,
      l1Misses: c.l1Misses,
      health,
      ttlByGroup: this.#ttlByGroup,
      dropped: this.#dropped,
      missesAfterExpiry: c.missesAfterExpiry,
      missesAfterEviction: c.missesAfterEviction,
      ...(l1Options === false ? {} : { l1: { maxEntries: l1Options.maxEntries, policy: l1Options.policy } }),
    })
  }

  /** Releases every handle the cache opened (a client you passed in stays open). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#stopPublishing?.()
    // Write-behinds first: draining them needs the L2.
    await closeWriteBehinds(this)
    await Promise.all([...this.#children].map((child) => child.close()))
    for (const controller of this.#controllers) controller.abort(closed())
    this.#keyLocks?.stopAll()
    this.#l1?.clear()
    // Not awaiting a subscription still in progress (Redis may be unreachable): closing the tier ends it.
    await this.#unsubscribeNow?.().catch(ignore)
    await this.#l2?.close()
  }

  // ---- internals -------------------------------------------------------------------------

  /** Registers a load as the key's flight, with a token that a later write or delete can mark overtaken. */
  #track(key: string, start: (token: LoadToken) => Promise<unknown>): Promise<unknown> {
    const token: LoadToken = { overtaken: false, startedAt: this.#stamp(), tier: 'origin' }
    this.#overtaken.set(key, token)
    const flight = this.#flights.track(key, start(token))
    const done = () => {
      if (this.#overtaken.get(key) === token) this.#overtaken.delete(key)
    }
    flight.then(done, done)
    return flight
  }

  /**
   * A write or delete of `key` happened (at `at`, for one heard on the bus): an in-flight load of
   * it that started before must not store its (older) result. One that started after read the new
   * data and stays.
   */
  #overtake(key: string, at = Number.POSITIVE_INFINITY): void {
    const token = this.#overtaken.get(key)
    if (token !== undefined && token.startedAt <= at) {
      token.overtaken = true
      this.#overtaken.delete(key)
      this.#flights.forget(key)
    }
  }

  /** The per-call resilience options, resolved (the cache-wide object when the call sets none). */
  #resilienceOf(options: ResilienceOptions): Resilience {
    return hasResilienceOptions(options) ? resolveResilience(options, this.#resilience) : this.#resilience
  }

  /**
   * An L1 entry that is stale (within grace) or in its refresh window. In the window, the caller
   * gets the value and, when XFetch's draw (or the eager fraction) says so, a background refresh
   * starts. Past its fresh time, the value stands in while the refresh runs (see #preferFresh).
   */
  #attention<T>(key: string, options: GetOrSetOptions<T>, view: EntryView, now: number): Promise<unknown> {
    const res = this.#resilienceOf(options)
    const stale: Stale = { value: view.value, freshUntil: view.freshUntil, expiresAt: view.expiresAt }
    if (now < view.freshUntil) {
      this.#counters.l1Hits++
      if (!this.#flights.has(key) && this.#refreshDue(view, now)) {
        const kind = view.flags & EAGER ? 'eager' : 'xfetch'
        this.#counters.earlyRefreshes++
        this.#events.emit('early-refresh', { key, kind })
        this.#refresh(key, options, res, stale, true).catch(ignore)
      }
      const answer = Promise.resolve(view.value)
      this.#answeredBy.set(answer, 'l1')
      return answer
    }
    const flight = this.#flights.get(key) ?? this.#refresh(key, options, res, stale, true)
    return this.#preferFresh(key, flight, stale, res)
  }

  /** XFetch (Vattani et al., 2015): refresh when now − δ·β·ln(U) ≥ expiry; δ·β is encoded in the window's width. */
  #refreshDue(view: EntryView, now: number): boolean {
    if (view.flags & EAGER) return true
    const deltaBeta = (view.freshUntil - view.softAt) / XFETCH_SPAN
    return now - deltaBeta * Math.log(this.#options.random()) >= view.freshUntil
  }

  /**
   * Races the refresh against the soft timeout when a stale value can stand in: whichever comes
   * first answers. With the default soft timeout of 0 the stale value answers at once
   * (stale-while-revalidate) and the refresh finishes in the background.
   */
  #preferFresh(key: string, flight: Promise<unknown>, stale: Stale, res: Resilience): Promise<unknown> {
    const serveStale = (reason: 'soft-timeout' | 'refreshing') => {
      this.#counters.staleServed++
      this.#events.emit('stale-served', {
        key,
        ageMs: Math.max(0, this.#clock() - stale.freshUntil),
        reason,
      })
      return stale.value
    }
    if (res.softTimeoutMs <= 0) {
      flight.catch(ignore)
      const answer = Promise.resolve(serveStale('refreshing'))
      this.#answeredBy.set(answer, 'stale')
      return answer
    }
    const answer = new Promise((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        this.#counters.factoryTimeouts++
        this.#events.emit('factory-timeout', { key, kind: 'soft' })
        this.#answeredBy.set(answer, 'stale')
        resolve(serveStale('soft-timeout'))
      }, res.softTimeoutMs)
      flight.then(
        (value) => {
          if (settled) return
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          if (settled) return
          clearTimeout(timer)
          reject(error)
        },
      )
    })
    return answer
  }

  /** Starts (and registers as the key's flight) a load: L2, then the key's lock, then the factory. */
  #refresh<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    stale: Stale | undefined,
    readL2: boolean,
  ): Promise<unknown> {
    return this.#track(key, (token) => this.#load(key, options, res, token, stale, readL2))
  }

  async #load<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    token: LoadToken,
    stale: Stale | undefined,
    readL2: boolean,
  ): Promise<unknown> {
    let writeOptions: EntryOptions = options
    const useL2 = this.#l2 !== undefined && options.skipL2 !== true
    const seen: { bytes?: Uint8Array } = {}
    if (useL2 && readL2 && options.forceFresh !== true) {
      const found = await this.#readL2(key, options.schema, options.skipL1 === true, res, seen)
      // The L2 just failed this key: do not make the caller wait a second deadline for the write-back.
      if (found === L2_UNAVAILABLE) writeOptions = { ...options, skipL2: true }
      else if (found !== undefined) {
        if (found.fresh && isNewer(found, stale)) {
          if (stale !== undefined) this.#tookFromL2(key)
          token.tier = 'l2'
          return found.value
        }
        if (!found.fresh && stale === undefined) {
          // Stale in the L2 (within grace): it stands in while a refresh runs.
          const fromL2: Stale = {
            value: found.value,
            freshUntil: found.expiresAt,
            expiresAt: found.expiresAt + res.graceMs,
          }
          token.tier = 'stale'
          return this.#preferFresh(key, this.#refresh(key, options, res, fromL2, false), fromL2, res)
        }
      }
    }
    let lock: HeldLock | undefined
    if (
      useL2 &&
      writeOptions.skipL2 !== true &&
      this.#keyLocks !== undefined &&
      options.forceFresh !== true
    ) {
      const outcome = await this.#lockOrValue(key, options, res, stale, seen)
      if (outcome.value !== undefined) {
        token.tier = 'l2'
        return outcome.value.v
      }
      lock = outcome.lock
      // The L2 just failed: no second deadline for the write-back either.
      if (outcome.l2Failed === true) writeOptions = { ...writeOptions, skipL2: true }
    }
    try {
      return await this.#runFactory(key, options, res, token, stale, writeOptions)
    } finally {
      lock?.release()
    }
  }

  /**
   * Distributed single-flight: take the key's lock, or wait for the process that holds it to
   * store the value (polling the L2 with backoff). A holder that died leaves a lock that expires
   * after its TTL; a waiter then takes it. A refresh (a value at hand) never waits: someone else
   * is refreshing, so the current value stays. An L2 failure lets the load go on without a lock.
   */
  async #lockOrValue<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    stale: Stale | undefined,
    seen: { bytes?: Uint8Array },
  ): Promise<LockOutcome> {
    const lockOptions = this.#options.lock as { ttlMs: number; waitMs: number | undefined }
    const locks = this.#keyLocks as KeyLocks
    const lockKey = this.#lockKey(key)
    const maxWaitMs =
      lockOptions.waitMs ??
      (Number.isFinite(res.hardTimeoutMs) ? lockOptions.ttlMs + res.hardTimeoutMs : DEFAULTS.lockWaitMs)
    const started = performance.now()
    let pollMs = LOCK_POLL_FIRST_MS
    let waited = false
    const skipL1 = options.skipL1 === true
    const ordered = (this.#l2 as RemoteTier).locks?.orderedWithReads === true
    for (;;) {
      let lock: HeldLock | undefined
      // Another process may have stored the value between our L2 read and taking the lock: read
      // again after taking it — in the same round trip when the tier keeps the two in order.
      const acquiring = locks.tryAcquire(lockKey, lockOptions.ttlMs)
      const reading = ordered ? this.#readL2(key, options.schema, skipL1, res, seen) : undefined
      try {
        lock = await acquiring
      } catch (error) {
        await reading
        this.#l2Failure(error, 'lock')
        return { lock: undefined, l2Failed: true }
      }
      if (lock === undefined && reading !== undefined) {
        const found = await reading
        if (found === L2_UNAVAILABLE) return { lock: undefined, l2Failed: true }
        if (found?.fresh === true && isNewer(found, stale)) {
          this.#lockWaited(key, started, waited, 'value')
          if (stale !== undefined) this.#tookFromL2(key)
          return { value: { v: found.value } }
        }
      }
      if (lock !== undefined) {
        const found = await (reading ?? this.#readL2(key, options.schema, skipL1, res, seen))
        if (found !== L2_UNAVAILABLE && found?.fresh === true && isNewer(found, stale)) {
          lock.release()
          this.#lockWaited(key, started, waited, 'value')
          if (stale !== undefined) this.#tookFromL2(key)
          return { value: { v: found.value } }
        }
        this.#lockWaited(key, started, waited, 'acquired')
        return { lock, l2Failed: found === L2_UNAVAILABLE }
      }
      if (stale !== undefined) return { value: { v: stale.value } }
      const elapsed = performance.now() - started
      if (elapsed >= maxWaitMs) {
        this.#lockWaited(key, started, waited, 'gave-up')
        return { lock: undefined }
      }
      if (this.#closed) throw closed()
      waited = true
      await delay(Math.min(pollMs, maxWaitMs - elapsed))
      pollMs = Math.min(pollMs * 1.5, LOCK_POLL_MAX_MS)
      const found = await this.#readL2(key, options.schema, skipL1, res, seen)
      if (found === L2_UNAVAILABLE) return { lock: undefined, l2Failed: true }
      if (found?.fresh === true) {
        this.#lockWaited(key, started, waited, 'value')
        return { value: { v: found.value } }
      }
    }
  }

  #lockWaited(
    key: string,
    started: number,
    waited: boolean,
    outcome: 'value' | 'acquired' | 'gave-up',
  ): void {
    if (!waited) return
    this.#counters.lockWaits++
    this.#events.emit('lock-waited', { key, waitedMs: performance.now() - started, outcome })
  }

  #tookFromL2(key: string): void {
    this.#counters.refreshesFromL2++
    this.#events.emit('refresh-from-l2', { key })
  }

  /**
   * Runs the factory under the hard timeout, with an AbortSignal and the stale value in its
   * context; stores what it returns. When it fails and a stale value is within grace, that value
   * is served instead (fail-safe) and kept fresh for `failSafeBackoff`, so the origin is not
   * retried before then.
   */
  async #runFactory<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    token: LoadToken,
    stale: Stale | undefined,
    writeOptions: EntryOptions,
  ): Promise<unknown> {
    if (stale === undefined) {
      this.#counters.misses++
      if (this.#events.watchingReads) this.#events.emit('miss', { key })
    }
    const controller = new AbortController()
    const context = new EntryContext<T>(
      key,
      this.#ttlFor(key, undefined, options),
      this.#tagsOf(options),
      controller.signal,
      stale === undefined
        ? undefined
        : { value: stale.value as T, ageMs: Math.max(0, this.#clock() - stale.freshUntil) },
    )
    this.#counters.factoryCalls++
    this.#controllers.add(controller)
    const started = performance.now()
    const startedAt = this.#stamp()
    let value: T
    try {
      value = await this.#withHardTimeout(key, options.factory, context, controller, res.hardTimeoutMs)
      if (context.failed) {
        throw new FactoryError(`The factory declined: ${describe(context.failure)}`, key, {
          cause: context.failure,
        })
      }
    } catch (cause) {
      this.#counters.factoryErrors++
      const error =
        cause instanceof FactoryHardTimeoutError || cause instanceof FactoryError
          ? cause
          : new FactoryError(`The factory of getOrSet failed: ${describe(cause)}`, key, { cause })
      const now = this.#clock()
      const failSafe = stale !== undefined && now < stale.expiresAt
      this.#events.emit('factory-error', { key, error, staleServed: failSafe })
      if (!failSafe) throw error
      this.#counters.failSafeServed++
      this.#l1?.refreshUntil(key, now + res.failSafeBackoffMs)
      this.#events.emit('stale-served', {
        key,
        ageMs: Math.max(0, now - stale.freshUntil),
        reason: 'fail-safe',
      })
      return stale.value
    } finally {
      this.#controllers.delete(controller)
      this.#latency?.record('factory', 'origin', (performance.now() - started) / 1000)
    }
    const load: Load = { startedAt, ms: performance.now() - started }
    if (value === undefined || context.skipped || token.overtaken) return value
    const ttl = context.ttlChanged ? parseDuration(context.ttl, 'ctx.ttl') : this.#ttlFor(key, value, options)
    await this.#write(key, value, ttl, context.tags, writeOptions, 'suppress', res, load)
    return value
  }

  #withHardTimeout<T>(
    key: string,
    factory: GetOrSetOptions<T>['factory'],
    context: EntryContext<T>,
    controller: AbortController,
    hardMs: number,
  ): Promise<T> {
    // A factory that throws synchronously is a rejection like any other.
    const running = new Promise<T>((resolve) => resolve(factory(context)))
    if (!Number.isFinite(hardMs)) return running
    return within(running, hardMs, () => {
      this.#counters.factoryTimeouts++
      this.#events.emit('factory-timeout', { key, kind: 'hard' })
      const error = new FactoryHardTimeoutError(
        `The factory for "${key}" did not settle within timeout.hard (${hardMs} ms); its signal was aborted.`,
        key,
      )
      controller.abort(error)
      return error
    })
  }

  async #loadMany<T>(
    keys: string[],
    options: GetOrSetManyOptions<T>,
    settle: Map<string, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>,
  ): Promise<void> {
    const tokens = new Map(keys.map((k) => [k, this.#overtaken.get(k)]))
    let missing = keys
    if (this.#l2 !== undefined && options.skipL2 !== true) {
      const found = await this.#readManyL2(keys, options.schema, options.skipL1 === true)
      missing = []
      keys.forEach((key, i) => {
        const hit = found[i]
        if (hit !== undefined) settle.get(key)?.resolve(hit.value)
        else missing.push(key)
      })
    }
    if (missing.length === 0) return
    this.#counters.misses += missing.length
    this.#counters.factoryCalls++
    let loaded: ReadonlyMap<string, T>
    try {
      loaded = await options.factory([...missing])
      if (!(loaded instanceof Map)) throw new TypeError('the factory of getOrSetMany must resolve to a Map')
    } catch (cause) {
      this.#counters.factoryErrors++
      const error = new FactoryError(`The factory of getOrSetMany failed: ${describe(cause)}`, undefined, {
        cause,
      })
      for (const key of missing) settle.get(key)?.reject(error)
      return
    }
    const remote: (RemoteEntry & { createdAt: number })[] = []
    const tags = this.#tagsOf(options)
    for (const key of missing) {
      const value = loaded.get(key)
      if (value !== undefined && tokens.get(key)?.overtaken !== true) {
        try {
          const entry = this.#writeL1(key, value, this.#ttlFor(key, value, options), tags, options)
          if (entry !== undefined) remote.push(entry)
        } catch (error) {
          settle.get(key)?.reject(error)
          continue
        }
      }
      settle.get(key)?.resolve(value)
    }
    if (remote.length === 0) return
    try {
      const touched = this.#touchMarkers(
        tags,
        Math.max(...remote.map((r) => r.ttlMs)),
        Math.min(...remote.map((r) => r.createdAt)),
      )
      await (this.#l2 as RemoteTier).setMany(remote)
      await touched
    } catch (error) {
      this.#l2Failure(error, 'setMany')
    }
  }

  /** Reads and decodes one L2 entry; any failure is a miss (counted), never an error. */
  async #readL2(
    key: string,
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1: boolean,
    res: Resilience = this.#resilience,
    seen?: { bytes?: Uint8Array },
  ): Promise<Decoded | undefined | typeof L2_UNAVAILABLE> {
    const storageKey = this.#storageKey(key)
    // Its L2 copy is outdated (a write or delete failed): never read it back.
    if (this.#pendingRepairs.size > 0 && this.#pendingRepairs.has(storageKey)) return undefined
    let bytes: Uint8Array | undefined
    const started = this.#latency === undefined ? 0 : performance.now()
    try {
      bytes = await (this.#l2 as RemoteTier).get(storageKey)
    } catch (error) {
      this.#l2Failure(error, 'get')
      return L2_UNAVAILABLE
    } finally {
      if (started !== 0) this.#latency?.record('l2', 'l2', (performance.now() - started) / 1000)
    }
    if (bytes === undefined) {
      this.#counters.l2Misses++
      return undefined
    }
    if (seen !== undefined) {
      // A second look during the same load: the same bytes were already judged (corrupt, failing
      // the schema, stale) and counted; only a new value is worth decoding.
      if (seen.bytes !== undefined && Buffer.compare(seen.bytes, bytes) === 0) return undefined
      seen.bytes = bytes
    }
    return this.#acceptL2(key, bytes, schema, skipL1, res)
  }

  async #readManyL2(
    keys: readonly string[],
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1 = false,
  ): Promise<(Decoded | undefined)[]> {
    let values: (Uint8Array | undefined)[]
    const storageKeys = keys.map((k) => this.#storageKey(k))
    const started = this.#latency === undefined ? 0 : performance.now()
    try {
      values = await (this.#l2 as RemoteTier).getMany(storageKeys)
      if (started !== 0) this.#latency?.record('l2', 'l2', (performance.now() - started) / 1000)
      for (const bytes of values) if (bytes === undefined) this.#counters.l2Misses++
    } catch (error) {
      this.#l2Failure(error, 'getMany')
      return keys.map(() => undefined)
    }
    const decoded = await Promise.all(
      values.map((bytes, i) =>
        bytes === undefined || this.#pendingRepairs.has(storageKeys[i] as string)
          ? undefined
          : this.#acceptL2(keys[i] as string, bytes, schema, skipL1, this.#resilience),
      ),
    )
    // Bulk reads serve fresh values only.
    return decoded.map((d) => (d?.fresh === true ? d : undefined))
  }

  /**
   * Decodes, checks expiry (a value past its fresh time is kept, marked stale, when within the
   * reader's grace) and schema, counts the hit and backfills the L1 with the remaining times.
   * Synchronous unless a schema validates asynchronously: the common read path adds no await.
   */
  #acceptL2(
    key: string,
    bytes: Uint8Array,
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1: boolean,
    res: Resilience,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    const decoded = this.#decode(bytes, key)
    if (decoded === undefined) return undefined
    // A read that crossed a delete (its reply came back after the bus told us): the value is older.
    if (this.#deletedSince(key, decoded.createdAt)) return undefined
    const now = this.#clock()
    if (decoded.expiresAt <= now) {
      if (decoded.expiresAt + res.graceMs <= now) return undefined
      decoded.fresh = false
    }
    if (decoded.tags.length > 0 && this.#store !== undefined) {
      const state = this.#tagState(decoded.tags, decoded.createdAt)
      return typeof state === 'string'
        ? this.#acceptTagged(key, decoded, state, schema, skipL1, res)
        : state.then((settled) => this.#acceptTagged(key, decoded, settled, schema, skipL1, res))
    }
    return this.#acceptValid(key, decoded, schema, skipL1, res)
  }

  /** An L2 entry with tags, judged against its tags' markers. */
  #acceptTagged(
    key: string,
    decoded: Decoded,
    state: TagState,
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1: boolean,
    res: Resilience,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    if (state === 'gone' || (state === 'stale' && res.graceMs <= 0)) {
      this.#counters.tagInvalidatedReads++
      return undefined
    }
    if (state === 'stale') {
      decoded.fresh = false
      decoded.expiresAt = Math.min(decoded.expiresAt, this.#clock())
    }
    return this.#acceptValid(key, decoded, schema, skipL1, res)
  }

  #acceptValid(
    key: string,
    decoded: Decoded,
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1: boolean,
    res: Resilience,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    if (schema === undefined) return this.#acceptDecoded(key, decoded, skipL1, res)
    const result = schema['~standard'].validate(decoded.value)
    return result instanceof Promise
      ? result.then((settled) => this.#acceptValidated(key, decoded, settled, skipL1, res))
      : this.#acceptValidated(key, decoded, result, skipL1, res)
  }

  #acceptValidated(
    key: string,
    decoded: Decoded,
    result: StandardSchemaV1.Result<unknown>,
    skipL1: boolean,
    res: Resilience,
  ): Decoded | undefined {
    if (result.issues !== undefined) {
      this.#counters.schemaFailures++
      return undefined
    }
    decoded.value = result.value
    return this.#acceptDecoded(key, decoded, skipL1, res)
  }

  #acceptDecoded(key: string, decoded: Decoded, skipL1: boolean, res: Resilience): Decoded {
    if (decoded.fresh) {
      this.#counters.l2Hits++
      if (this.#events.watchingReads) this.#events.emit('hit', { key, tier: 'l2' })
    }
    if (this.#l1 !== undefined && !skipL1) {
      const now = this.#clock()
      const freshUntil = Math.min(decoded.expiresAt, now + this.#l1TtlMs)
      const expiresAt = freshUntil + res.graceMs
      const soft = this.#softAt(decoded.createdAt, freshUntil, decoded.loadMs, res)
      decoded.value = this.#storeL1(
        key,
        decoded.value,
        now,
        decoded.createdAt,
        expiresAt,
        decoded.size,
        decoded.tags,
        0,
        expiresAt,
        freshUntil,
        soft,
        res.eagerRefresh > 0,
      )
    }
    return decoded
  }

  /**
   * When an entry's refresh window opens: at the eager fraction of its TTL, or δ·β·XFETCH_SPAN
   * before its fresh time ends (XFetch), or never (its fresh time).
   */
  #softAt(createdAt: number, freshUntil: number, loadMs: number, res: Resilience): number {
    if (res.eagerRefresh > 0) return createdAt + (freshUntil - createdAt) * res.eagerRefresh
    if (res.earlyRefreshBeta > 0 && loadMs > 0) {
      return Math.max(createdAt, freshUntil - loadMs * res.earlyRefreshBeta * XFETCH_SPAN)
    }
    return freshUntil
  }

  #decode(bytes: Uint8Array, key: string): Decoded | undefined {
    // A sealed entry that does not open (moved, tampered, unknown key) or plaintext where
    // encryption is required: a miss, counted as a security event, never the value.
    const plain =
      this.#crypto === undefined ? bytes : this.#crypto.open(bytes, this.#storageKey(key), undefined)
    if (plain === undefined) return undefined
    try {
      const envelope = decodeEnvelope(plain, this.#options.maxValueBytes)
      return {
        value: this.#serializer.decode(envelope.payload),
        createdAt: envelope.createdAt,
        expiresAt: envelope.expiresAt,
        loadMs: envelope.loadMs,
        tags: envelope.tags,
        size: bytes.byteLength,
        fresh: true,
      }
    } catch {
      this.#counters.decodeErrors++
      return undefined
    }
  }

  /**
   * Writes both tiers; an L2 failure is counted and, for an explicit write (`'repair'`), the key
   * is queued for deletion from the L2 when it answers again (its copy there is now outdated), or
   * rethrown when `l2.writeErrors` is `'throw'`.
   */
  async #write(
    key: string,
    value: unknown,
    ttlMs: number,
    tags: readonly string[],
    options: EntryOptions,
    onL2Failure: L2Failure,
    res: Resilience = this.#resilience,
    load?: Load,
  ): Promise<boolean> {
    const remote = this.#writeL1(key, value, ttlMs, tags, options, res, load)
    if (remote === undefined) return true
    const started = this.#latency === undefined ? 0 : performance.now()
    try {
      const touched = this.#touchMarkers(tags, remote.ttlMs, remote.createdAt)
      if (load !== undefined && this.#store !== undefined) {
        // The lease check: not over a tombstone newer than the load's start.
        const stored = await this.#store.setLoaded(remote.key, remote.value, remote.ttlMs, load.startedAt)
        if (!stored) {
          this.#counters.writesRefused++
          this.#l1?.delete(key)
        }
      } else await (this.#l2 as RemoteTier).set(remote.key, remote.value, remote.ttlMs)
      await touched
      if (started !== 0) this.#latency?.record('l2', 'l2', (performance.now() - started) / 1000)
      this.#written(remote.key)
      return true
    } catch (error) {
      const failure = this.#l2Failure(error, 'set')
      if (onL2Failure === 'suppress') return false
      if (this.#options.l2WriteErrors === 'throw') throw failure
      this.#queueRepair([key])
      return false
    }
  }

  /** A write reached the L2: the key's copy there is current again; pending repairs can run. */
  #written(storageKey: string): void {
    if (this.#pendingRepairs.size === 0) return
    this.#pendingRepairs.delete(storageKey)
    if (this.#pendingRepairs.size > 0 && this.#l2Direct !== undefined) {
      this.#repair(this.#l2Direct).catch(ignore)
    }
  }

  #queueRepair(keys: readonly string[]): void {
    for (const key of keys) {
      const storageKey = this.#storageKey(key)
      this.#pendingRepairs.delete(storageKey)
      this.#pendingRepairs.set(storageKey, key)
    }
    this.#counters.l2RepairsQueued += keys.length
    while (this.#pendingRepairs.size > MAX_PENDING_REPAIRS) {
      this.#pendingRepairs.delete(this.#pendingRepairs.keys().next().value as string)
      this.#counters.l2RepairsDropped++
    }
  }

  /**
   * Deletes from the L2 every key whose copy there went stale while it failed (the breaker runs
   * this before it closes). Deleting, never replaying: a value written meanwhile by another
   * instance is newer than anything this one could replay.
   */
  async #repair(tier: RemoteTier): Promise<void> {
    if (this.#repairing || this.#pendingRepairs.size === 0) return
    this.#repairing = true
    try {
      // The keys pending now, every chunk at once. Keys queued meanwhile (writes failing fast
      // while the breaker is half-open) wait for the next repair: chasing them kept a busy
      // process's breaker half-open for good, a round trip per chunk on long loop turns (issue 24).
      const pending = [...this.#pendingRepairs]
      const chunks: (typeof pending)[] = []
      for (let i = 0; i < pending.length; i += REPAIR_CHUNK) chunks.push(pending.slice(i, i + REPAIR_CHUNK))
      await Promise.all(
        chunks.map(async (chunk) => {
          await tier.delete(chunk.map(([storageKey]) => storageKey))
          for (const [storageKey] of chunk) this.#pendingRepairs.delete(storageKey)
          this.#counters.l2Repairs += chunk.length
          // Instances that could not hear us meanwhile drop their copies now (the bus goes over
          // the same Redis; published directly: the breaker is still half-open during a repair).
          // Not awaited: the breaker need not stay half-open for one more round trip.
          const keys = chunk.map(([, key]) => key)
          void tier.bus
            ?.publish(
              this.#channel,
              this.#busCodec.encode({
                op: 'delete',
                source: this.#source,
                at: this.#stamp(),
                version: this.version,
                keys,
              }),
            )
            .catch((error: unknown) => this.#l2Failure(error, 'publish'))
        }),
      )
    } finally {
      this.#repairing = false
    }
  }

  /**
   * Encodes once (so bad values fail at the call in every configuration), stores the L1 entry and
   * returns the L2 entry still to write, if the L2 is in use for this call.
   */
  #writeL1(
    key: string,
    value: unknown,
    ttlMs: number,
    tags: readonly string[],
    options: EntryOptions,
    res: Resilience = this.#resilience,
    load?: Load,
  ): (RemoteEntry & { createdAt: number }) | undefined {
    if (options.encrypt === true && this.#crypto === undefined) {
      throw new InvalidOptionError('encrypt: true needs the cache option `encryption: { keys, current }`.')
    }
    const payload = this.#encode(value)
    const now = this.#clock()
    const loadMs = load?.ms ?? 0
    // A loaded value is as old as its load: an invalidation after the load started makes it stale.
    const createdAt = load?.startedAt ?? this.#stamp()
    const ttl = this.#jitter(ttlMs)
    if (!(ttl > 0)) {
      this.#l1?.delete(key)
      return undefined
    }
    const expiresAt = now + ttl
    const graceMs = Number.isFinite(ttl) ? res.graceMs : 0
    this.#counters.sets++
    this.#events.emit('set', { key })
    if (this.#recent !== undefined) this.#noteTtl(key, ttl)
    if (this.#l1 !== undefined && options.skipL1 !== true) {
      const freshUntil = Math.min(expiresAt, now + this.#l1TtlMs)
      let l1Expiry = freshUntil + graceMs
      let slideMs = 0
      let maxExpiresAt = l1Expiry
      if (options.sliding === true) {
        if (options.maxTtl === undefined) {
          throw new InvalidOptionError(
            'sliding: true needs maxTtl, the hard cap of the entry’s life (e.g. maxTtl: "1h").',
          )
        }
        slideMs = Math.min(ttl, this.#l1TtlMs)
        maxExpiresAt = Math.min(now + parseDuration(options.maxTtl, 'maxTtl'), now + this.#l1TtlMs)
        l1Expiry = Math.min(freshUntil, maxExpiresAt)
        this.#storeL1(key, value, now, createdAt, l1Expiry, payload.byteLength, tags, slideMs, maxExpiresAt)
      } else {
        this.#storeL1(
          key,
          value,
          now,
          createdAt,
          l1Expiry,
          payload.byteLength,
          tags,
          0,
          l1Expiry,
          freshUntil,
          this.#softAt(now, freshUntil, loadMs, res),
          res.eagerRefresh > 0,
        )
      }
    }
    if (this.#l2 === undefined || options.skipL2 === true) return undefined
    const envelope = encodeEnvelope(
      { createdAt, expiresAt, loadMs, tags, payload },
      this.#options.compressAbove,
    )
    const storageKey = this.#storageKey(key)
    // Sealed under its own Redis key: the bytes cannot be moved to another key.
    const bytes =
      this.#crypto === undefined ? envelope : this.#crypto.seal(envelope, storageKey, options.encrypt)
    // Redis keeps the entry through its grace, so a stale value can stand in for the factory.
    return { key: storageKey, value: bytes, ttlMs: ttl + graceMs, createdAt }
  }

  /** Puts a value in the L1 under the isolation policy; returns what callers should receive. */
  #storeL1(
    key: string,
    value: unknown,
    now: number,
    createdAt: number,
    expiresAt: number,
    size: number,
    tags: readonly string[],
    slideMs: number,
    maxExpiresAt: number,
    freshUntil = expiresAt,
    softAt = freshUntil,
    eager = false,
  ): unknown {
    let fresh = freshUntil
    if (this.#deletedSince(key, createdAt)) {
      this.#l1?.delete(key)
      return value
    }
    if (tags.length > 0) {
      // An invalidation this instance already knows of, later than the value's creation.
      const state = this.#knownTagState(tags, createdAt)
      if (state === 'gone') {
        this.#l1?.delete(key)
        return value
      }
      if (state === 'stale') fresh = Math.min(freshUntil, now)
    }
    let stored = value
    let cloneOnRead = false
    if (this.#isolation === 'freeze') cloneOnRead = !deepFreeze(value)
    else if (this.#isolation === 'clone') {
      stored = structuredClone(value)
      cloneOnRead = true
    }
    ;(this.#l1 as MemoryStore).set(
      key,
      stored,
      expiresAt,
      size,
      (cloneOnRead ? CLONE_ON_READ : 0) | (eager ? EAGER : 0),
      tags,
      now,
      slideMs,
      maxExpiresAt,
      fresh,
      Math.min(softAt, fresh),
    )
    return value
  }

  #encode(value: unknown): Uint8Array {
    let payload: Uint8Array
    try {
      payload = this.#serializer.encode(value)
    } catch (cause) {
      throw new SerializationError(
        `The ${this.#serializer.name} serializer cannot encode this value (${describe(cause)}). Cache plain data: no functions, symbols, class instances or circular references.`,
        { cause },
      )
    }
    if (payload.byteLength > this.#options.maxValueBytes) {
      throw new ValueTooLargeError(
        `The value encodes to ${payload.byteLength} bytes, over maxValueBytes (${this.#options.maxValueBytes}). Cache a smaller projection, or raise maxValueBytes.`,
      )
    }
    return payload
  }

  #ttlFor(key: string, value: unknown, options: { ttl?: unknown; negativeTtl?: Duration }): number {
    if (value === null) {
      if (options.negativeTtl !== undefined) return parseDuration(options.negativeTtl, 'negativeTtl')
      if (this.#options.negativeTtlMs !== undefined) return this.#options.negativeTtlMs
    }
    const ttl = options.ttl === undefined ? this.#options.ttl : resolveTtl(options.ttl as Duration, 'ttl')
    return ttl instanceof AdaptiveTtl ? ttl.ttlFor(key) : ttl
  }

  #jitter(ttlMs: number): number {
    const jitter = this.#options.jitter
    if (jitter === 0 || !Number.isFinite(ttlMs)) return ttlMs
    return ttlMs * (1 + (2 * this.#options.random() - 1) * jitter)
  }

  /**
   * The entry's tags: its own, plus one per key it depends on and, transitively, the dependency
   * tags of those keys' cached entries (so deleting a key reaches dependents of dependents).
   */
  #tagsOf(options: EntryOptions): readonly string[] {
    const tags = options.tags
    const dependsOn = options.dependsOn
    if (tags === undefined && dependsOn === undefined) return []
    if (tags !== undefined) {
      if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t.length === 0)) {
        throw new InvalidOptionError('tags must be an array of non-empty strings.')
      }
      if (tags.some((t) => t.startsWith(DEPENDENCY_TAG))) {
        throw new InvalidOptionError(
          `Tags starting with '${DEPENDENCY_TAG}' are reserved: use dependsOn: [key].`,
        )
      }
      if (dependsOn === undefined) {
        assertTags(tags, this.#options.security.maxTags)
        return tags
      }
    }
    if (!Array.isArray(dependsOn) || dependsOn.some((k) => typeof k !== 'string' || k.length === 0)) {
      throw new InvalidOptionError('dependsOn must be an array of cache keys.')
    }
    const all = new Set(tags)
    for (const key of dependsOn) {
      all.add(dependencyTag(key))
      for (const tag of this.#l1?.tagsOf(key) ?? []) if (tag.startsWith(DEPENDENCY_TAG)) all.add(tag)
    }
    const result = [...all]
    assertTags(result, this.#options.security.maxTags)
    return result
  }

  // ---- invalidation ---------------------------------------------------------------------

  /** Invalidation and creation times: fractional ms since the epoch, so "before" is rarely a tie. */
  #stamp(): number {
    return this.#options.clock === Date.now ? performance.timeOrigin + performance.now() : this.#clock()
  }

  #markerKey(tag: string): string {
    return shortenKey(`!tag:${this.#scope}:${tag}`, this.#options.maxKeyBytes)
  }

  /** Records an invalidation of `tag` this instance knows of (markers only ever move forward). */
  #learnMarker(tag: string, mode: InvalidationMode, at: number): void {
    const known = this.#markers.get(tag) ?? { deletedAt: 0, expiredAt: 0 }
    this.#remember(
      tag,
      mode === 'delete'
        ? { deletedAt: Math.max(known.deletedAt, at), expiredAt: known.expiredAt }
        : { deletedAt: known.deletedAt, expiredAt: Math.max(known.expiredAt, at) },
    )
  }

  #remember(tag: string, marker: TagMarker): void {
    this.#markers.delete(tag)
    this.#markers.set(tag, marker)
    if (this.#markers.size > MAX_KNOWN_MARKERS)
      this.#markers.delete(this.#markers.keys().next().value as string)
  }

  /**
   * Whether this instance knows of a delete (or clear) of `key` after `createdAt`: a value read
   * from the L2, or loaded, that is older than a change already announced. (Strictly after: a
   * write in the same instant as a delete — a manual clock — is the newer one.)
   */
  #deletedSince(key: string, createdAt: number): boolean {
    if (this.#clearedAt > createdAt) return true
    if (this.#markers.size === 0) return false
    const marker = this.#markers.get(dependencyTag(key))
    return marker !== undefined && marker.deletedAt > createdAt
  }

  /** What this instance already knows about an entry created at `createdAt` with `tags`. */
  #knownTagState(tags: readonly string[], createdAt: number): TagState {
    let state: TagState = 'fresh'
    for (const tag of tags) {
      const marker = this.#markers.get(tag)
      if (marker === undefined) continue
      const judged = judge(marker, createdAt)
      if (judged === 'gone') return 'gone'
      if (judged === 'stale') state = 'stale'
    }
    return state
  }

  /**
   * An L2 entry's state by its tags' markers: remembered ones while the bus is up (it would have
   * told us of a change), read from the L2 otherwise. A missing marker (evicted, flushed) or a
   * failed read means "unknown", and unknown is a miss: never serve what may have been invalidated.
   */
  #tagState(tags: readonly string[], createdAt: number): TagState | Promise<TagState> {
    let state: TagState = 'fresh'
    let unknown: string[] | undefined
    for (const tag of tags) {
      const marker = this.#busUp ? this.#markers.get(tag) : undefined
      if (marker === undefined) {
        unknown ??= []
        unknown.push(tag)
        continue
      }
      const judged = judge(marker, createdAt)
      if (judged === 'gone') return 'gone'
      if (judged === 'stale') state = 'stale'
    }
    if (unknown === undefined) return state
    const asked = unknown
    return (this.#store as InvalidationStore).markers(asked.map((t) => this.#markerKey(t))).then(
      (found) => {
        for (let i = 0; i < asked.length; i++) {
          const marker = found[i]
          if (marker === undefined) return 'gone'
          if (this.#busUp) this.#remember(asked[i] as string, marker)
          const judged = judge(marker, createdAt)
          if (judged === 'gone') return 'gone'
          if (judged === 'stale') state = 'stale'
        }
        return state
      },
      (error: unknown) => {
        this.#l2Failure(error, 'tag markers')
        return 'gone'
      },
    )
  }

  /** Makes the markers of `tags` outlive an entry that lives `ttlMs` (never rejects: a missing marker fails closed). */
  #touchMarkers(tags: readonly string[], ttlMs: number, createdAt: number): Promise<void> {
    if (tags.length === 0 || this.#store === undefined) return Promise.resolve()
    // A marker this creates (first use of the tag, or after it was lost) dates from just before
    // this entry: older entries with the tag are unknown, so they read as misses.
    return this.#store
      .touchMarkers(
        tags.map((t) => this.#markerKey(t)),
        ttlMs,
        createdAt - MARKER_EPSILON_MS,
      )
      .catch((error: unknown) => {
        this.#l2Failure(error, 'tag markers')
      })
  }

  /**
   * `keys` changed at `at`: this instance's entries that depend on them (transitively: their tags
   * include the whole chain) are dropped, and the change is remembered. Returns the dependency tags.
   */
  #dropDependents(keys: readonly string[], at: number): string[] {
    const dependents = keys.map(dependencyTag)
    // The markers refuse a value older than `at` that is still on its way: read from the L2, or
    // from a load in flight. With neither, nothing can consult them: no memory per key written.
    if (this.#l2 !== undefined || this.#flights.size > 0) {
      for (const tag of dependents) this.#learnMarker(tag, 'delete', at)
    }
    this.#l1?.deleteTagged(dependents)
    return dependents
  }

  /**
   * Records in the L2 that the keys behind `dependents` changed at `at` (markers that exist only:
   * nothing depends on a key nobody declared). Never rejects: the markers may live on another
   * node than the keys, and the bus tells the instances anyway; a failure is counted.
   */
  async #bumpDependents(dependents: readonly string[], at: number): Promise<void> {
    if (this.#store === undefined) return
    await this.#store
      .bumpMarkers(
        dependents.map((t) => this.#markerKey(t)),
        at,
        'delete',
        MARKER_MS,
        true,
      )
      .catch((error: unknown) => {
        this.#l2Failure(error, 'dependency markers')
      })
  }

  /** Applies a tag invalidation to this instance: remembered, and the L1's tagged entries dropped or made stale. */
  #applyTags(tags: readonly string[], mode: InvalidationMode, at: number): void {
    for (const tag of tags) this.#learnMarker(tag, mode, at)
    if (mode === 'delete') this.#l1?.deleteTagged(tags)
    else this.#l1?.expireTagged(tags, this.#clock())
  }

  #deleteMatchingL1(pattern: string, at = Number.POSITIVE_INFINITY): number {
    const match = globToRegExp(pattern)
    for (const key of [...this.#overtaken.keys()]) if (match.test(key)) this.#overtake(key, at)
    if (this.#l1 === undefined) return 0
    const matching = [...this.#l1.keys()].filter((k) => match.test(k))
    for (const key of matching) this.#l1.delete(key)
    return matching.length
  }

  async #publish(message: BusMessage): Promise<void> {
    if (this.#bus === undefined) return
    try {
      await this.#bus.publish(this.#channel, this.#busCodec.encode(message))
      this.#counters.busPublished++
    } catch (error) {
      this.#l2Failure(error, 'publish')
    }
  }

  #onBusMessage(bytes: Uint8Array): void {
    const { message, dropped } = this.#busCodec.decode(bytes)
    if (message === undefined) {
      this.#counters.busMessagesDropped++
      if (dropped !== 'malformed') this.#security[BUS_DROP_COUNTER[dropped]]++
      return
    }
    if (message.source === this.#source || this.#closed) return
    // A change dated far ahead would hide every entry until then (a forged 'clear' freezing the
    // cache): no sender's clock is trusted further ahead than the bus's maxAge.
    message.at = Math.min(message.at, this.#stamp() + this.#options.security.busMaxAgeMs)
    this.#counters.busMessages++
    this.#events.emit('bus-message', { type: message.op })
    switch (message.op) {
      case 'delete':
        if (message.version === this.version) {
          for (const key of message.keys) {
            this.#overtake(key, message.at)
            this.#l1?.delete(key)
          }
        }
        this.#dropDependents(message.keys, message.at)
        break
      case 'tags':
        this.#applyTags(message.tags, message.mode, message.at)
        break
      case 'clear':
        this.#clearedAt = Math.max(this.#clearedAt, message.at)
        for (const key of [...this.#overtaken.keys()]) this.#overtake(key, message.at)
        this.#l1?.clear()
        break
      case 'pattern':
        if (message.version === this.version) this.#deleteMatchingL1(message.pattern, message.at)
        break
    }
  }

  /**
   * The bus went down (messages may be lost from now on) or came back. While it is down, nothing
   * remembered about tags is trusted (markers are read from the L2). When it is back, the L1 is
   * dropped — it may hold values invalidated while we could not hear it — and loads in flight
   * are not stored.
   */
  #onBusState(state: 'up' | 'down'): void {
    this.#markers.clear()
    if (state === 'down') {
      this.#busUp = false
      return
    }
    for (const key of [...this.#overtaken.keys()]) this.#overtake(key)
    this.#l1?.clear()
    this.#counters.busResyncs++
    this.#busUp = true
  }

  #storageKey(key: string): string {
    return shortenKey(this.#prefix + key, this.#options.maxKeyBytes)
  }

  /** Lock keys start with '!', which no namespace may: they never collide with an entry. */
  #lockKey(key: string): string {
    return shortenKey(`!lock:${this.#prefix}${key}`, this.#options.maxKeyBytes)
  }

  #assertKeys(keys: readonly string[]): void {
    if (!Array.isArray(keys)) throw new InvalidKeyError('Expected an array of keys.')
    for (const key of keys)
      if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
        throw this.#invalidKey(key)
  }

  get #maxKeyLength(): number {
    return this.#options.security.maxKeyLength
  }

  #invalidKey(key: unknown): InvalidKeyError {
    return typeof key === 'string' && key.length > this.#maxKeyLength
      ? keyTooLong(key.length, this.#maxKeyLength)
      : invalidKey(key)
  }

  /** Counts an L2 failure and returns the error a caller should see if it must see one. */
  #l2Failure(error: unknown, operation: string): StrataError {
    if (error instanceof L2UnavailableError) {
      this.#counters.l2Skipped++
      return error
    }
    this.#events.emit('l2-error', { operation, error })
    if (error instanceof L2TimeoutError) {
      this.#counters.l2Timeouts++
      return error
    }
    if (error instanceof StrataError) return error
    this.#counters.l2Errors++
    return new L2Error(
      `The L2 ${operation} failed: ${describe(error)}. The L1 was updated; retry, or check Redis.`,
      {
        cause: error,
      },
    )
  }
}

/** Creates a cache; see {@link CacheOptions} for every option and its default. */
export function createCache(options: CacheOptions = {}): Cache {
  return new Cache(options)
}

function invalidKey(key: unknown): InvalidKeyError {
  return new InvalidKeyError(
    typeof key === 'string'
      ? 'Cache keys must not be empty: build them with key(entity, ...parts).'
      : `Cache keys must be strings; got ${key === null ? 'null' : typeof key}. Build them with key(entity, ...parts).`,
  )
}

function closed(): ClosedError {
  return new ClosedError('This cache was closed: create a new one with createCache().')
}

function ignore(): void {}

function withoutRedis(l2: L2Options): L2Options {
  const { redis: _redis, ...rest } = l2
  return rest
}

/** `tier` for a child cache: every call goes to the parent's tier, but closing it leaves it open. */
function borrowed(tier: RemoteTier): RemoteTier {
  return new Proxy(tier, {
    get(target, property) {
      if (property === 'close') return async () => {}
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

function dependencyTag(key: string): string {
  return `${DEPENDENCY_TAG}${key}`
}

function judge(marker: TagMarker, createdAt: number): TagState {
  if (marker.deletedAt >= createdAt) return 'gone'
  if (marker.expiredAt >= createdAt) return 'stale'
  return 'fresh'
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Whether an L2 value is newer than the one at hand (another instance refreshed it). */
function isNewer(found: Decoded, stale: Stale | undefined): boolean {
  return stale === undefined || found.expiresAt > stale.freshUntil
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
