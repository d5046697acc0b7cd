import { type Duration, parseDuration } from '../base/duration.js'
import { InvalidOptionError } from '../errors.js'
import { POLICY_NAMES, type PolicyName } from '../eviction/index.js'
import { DEFAULT_MAX_KEY_BYTES } from '../keys/key.js'
import { type AlertThresholds, DEFAULT_THRESHOLDS } from '../observability/health.js'
import type { EncryptionOptions } from '../security/keyring.js'
import { type BusOptions, type ResolvedSecurity, resolveSecurity } from '../security/options.js'
import type { Serializer } from '../serialization/serializer.js'
import { isClusterUrls, parseClusterUrls } from '../tiers/redis/cluster-options.js'
import type { L2Options } from '../tiers/redis/options.js'
import { AdaptiveTtl } from '../ttl/adaptive.js'
import type { Isolation } from './isolation.js'
import { refuse } from './option-names.js'
import type { StandardSchemaV1 } from './standard-schema.js'

export type { L2Options } from '../tiers/redis/options.js'

/** A TTL: a {@link Duration} or an adaptive TTL (`ttl.adaptive({ min, max })`). */
export type TtlOption = Duration | AdaptiveTtl

/** Options of the in-process tier. */
export interface L1Options {
  /** Most entries kept. Default 10,000 when neither bound is given. */
  maxEntries?: number
  /** Most bytes kept, counting each entry's serialized size. */
  maxBytes?: number
  /** Caps how long the L1 keeps any entry (bounded staleness for an instance that misses an invalidation). Default: the entry's TTL. */
  ttl?: Duration
  /** How values are protected from callers that mutate them. Default `'freeze'`; see {@link Isolation}. */
  isolation?: Isolation
  /** Which entry leaves when the L1 is full. Default and evidence: docs/eviction.md. */
  policy?: PolicyName
}

/** Factory timeouts: `soft` gives up waiting when a stale value can stand in, `hard` gives up. */
export interface FactoryTimeouts {
  /** With a stale value (within grace) at hand, return it after this long and let the factory finish in the background. Default 0: return stale at once. */
  soft?: Duration
  /** Reject with E_FACTORY_HARD_TIMEOUT (or serve stale, fail-safe) after this long, and abort `ctx.signal`. Default: none. */
  hard?: Duration
}

/** Distributed single-flight: one process per key runs the factory, the others wait for its value. */
export interface LockOptions {
  /** Life of the lock without renewal (renewed while the factory runs). Default `'5s'`. */
  ttl?: Duration
  /** Longest a process waits for another's value before computing it itself. Default: lock TTL + `timeout.hard`, or `'30s'`. */
  wait?: Duration
}

/** The resilience options, cache-wide or per call (docs/resilience.md). */
export interface ResilienceOptions {
  /** How long an entry is kept past its TTL, stale, to stand in when the factory is slow or fails (stale-while-revalidate, fail-safe). Default: 0 (off). */
  grace?: Duration | false
  /** After the factory failed and a stale value was served, serve it as fresh for this long before calling the factory again. Default `'30s'`. */
  failSafeBackoff?: Duration
  timeout?: FactoryTimeouts
  /** XFetch's β: reads refresh an entry early, in the background, with a probability that rises as expiry nears, scaled by how long its factory took. Default 1; `false` turns it off. */
  earlyRefresh?: number | false
  /** Refresh in the background on the first read after this fraction of the TTL (e.g. 0.8). Default: off. Overrides `earlyRefresh`. */
  eagerRefresh?: number | false
}

/** What the cache measures about itself (docs/observability.md). Counters in `stats()` are always kept. */
export interface ObservabilityOptions {
  /**
   * Latency histograms per operation and tier (`snapshot().latency`, Prometheus, health's p99).
   * Default true. Calls that leave the L1 are all timed; L1 hits one in `hitSampling`.
   */
  latency?: boolean
  /** Time one L1 hit in this many (each sample counts for that many hits): a clock read costs as much as a hit. Default 64. */
  hitSampling?: number
  /** How many of the latest reads (key and time) to keep for hot key groups and `diagnose()`. Default 65,536; 0 = none. */
  recentReads?: number
  /** The window of `health()`'s rates and alerts. Default '60s'. */
  window?: Duration
  /** Alert thresholds; the defaults are the seed's: hit ratio < 0.7, memory > 0.9, > 10 evictions/s, p99 > 5 ms. */
  alerts?: Partial<AlertThresholds>
  /**
   * Publish a snapshot (stats, latency, health, hot key groups — never a key) over the L2's bus
   * every `interval` (default '2s'), for `stratacache dashboard --redis` and `diagnose --redis`.
   * Default false.
   */
  publish?: boolean | { interval?: Duration }
}

/** Options of {@link createCache}; defaults are listed in docs/options.md and `DEFAULTS`. */
export interface CacheOptions extends ResilienceOptions {
  /** Latency histograms, recent reads, health window and alerts; `false` turns off all but the counters. */
  observability?: ObservabilityOptions | false
  /** Distributed single-flight over the L2's locks; on by default when the L2 offers them. `false` turns it off. */
  lock?: LockOptions | false
  /**
   * Tell the other instances what changed (deletes, tag invalidations, clears) over the L2's bus
   * (Redis pub/sub), so each drops its L1 copy. On by default when the L2 offers a bus.
   * `{ secret }` authenticates the messages (HMAC): docs/security.md.
   */
  bus?: boolean | BusOptions
  /** Encrypt L2 entries (AES-256-GCM, bound to their Redis key): docs/security.md. Default: off. */
  encryption?: EncryptionOptions
  /** Scopes every key, tag, pattern, clear, lock and bus message to this tenant: the same key under two tenants is two entries. */
  tenant?: string
  /** Longest cache key accepted (characters); longer ones are refused with E_INVALID_KEY. Default 4096. */
  maxKeyLength?: number
  /** Most tags on one entry (its own plus its `dependsOn` keys); more are refused with E_INVALID_OPTION. Default 100. */
  maxTags?: number
  /** Prefix of every key this cache writes: `<namespace>:<version>:<key>`. Default `'cache'`. */
  namespace?: string
  /** Bump to make everything written under the old version unreachable. Default `'v1'`. */
  version?: string
  /** The in-process tier, or `false` for none. Default `{ maxEntries: 10_000 }`. */
  l1?: L1Options | false
  /** The shared tier, or `false` (default) for none. */
  l2?: L2Options | false
  /** Default TTL. Default `'1h'`. `Infinity` = no expiry. */
  ttl?: TtlOption
  /** TTL of `null` results (negative caching). Default: the normal TTL. */
  negativeTtl?: Duration
  /** Spread of every finite TTL, ±fraction (0.1 = ±10%), so entries written together do not expire together. Default 0.1. */
  jitter?: number
  /** `'json'` (default: tagged, Date/BigInt/Map/Set/Buffer survive), `'msgpack'` (needs `@msgpack/msgpack`), or your own. */
  serializer?: 'json' | 'msgpack' | Serializer
  /** Largest encoded value accepted, in bytes. Default 8 MiB. */
  maxValueBytes?: number
  /** Storage keys longer than this (UTF-8 bytes) are hashed. Default 250. */
  maxKeyBytes?: number
  /** Milliseconds since the epoch; inject a fake to test expiry without sleeping. Default `Date.now`. */
  clock?: () => number
  /** Uniform [0, 1); drives jitter. Default `Math.random`. */
  random?: () => number
}

/** Per-entry options, resolved call → cache → defaults. */
export interface EntryOptions extends ResilienceOptions {
  ttl?: TtlOption
  negativeTtl?: Duration
  /** Tags stored with the entry (invalidation by tag). */
  tags?: readonly string[]
  /** Neither read nor write the L1 for this call. */
  skipL1?: boolean
  /** Neither read nor write the L2 for this call. */
  skipL2?: boolean
  /**
   * Keys this entry is computed from: deleting (or invalidating) any of them invalidates this entry
   * too, transitively (an entry depending on this one is invalidated as well). Cycles are harmless.
   */
  dependsOn?: readonly string[]
  /** Each L1 hit pushes expiry out by the TTL again, up to `maxTtl` after creation. */
  sliding?: boolean
  /** Hard cap of a sliding entry's life. Required with `sliding`. */
  maxTtl?: Duration
  /** Encrypt this entry (with `encryption.all: false`), or store it in plaintext (with the default `all: true`). */
  encrypt?: boolean
  /**
   * `set` only: when the value's computation started (a {@link Cache.stamp} taken before its
   * first read). A delete of the key or an invalidation of one of its tags at or after it, on any
   * instance, wins over this write: the value is not kept (docs/invalidation.md).
   */
  startedAt?: number
}

/** What a factory can read and decide about the entry it is loading (adaptive caching). */
export interface FactoryContext<T = unknown> {
  readonly key: string
  /** The TTL the entry will get, in ms; assign to change it. */
  ttl: number
  /** Tags the entry will get; assign to change them. */
  tags: readonly string[]
  /** Aborted when the hard timeout fires or the cache closes: pass it to fetch / your driver. */
  readonly signal: AbortSignal
  /**
   * The value being refreshed, when there is one (stale, or about to be): a conditional refresh
   * (an API that answers 304 Not Modified) can return `stale.value` as the fresh value.
   */
  readonly stale: { readonly value: T; readonly ageMs: number } | undefined
  /** Return the value to the caller but do not cache it. */
  skip(): void
  /** Same as {@link skip}. */
  skipCache(): void
  /**
   * Declines without throwing: `return ctx.fail('upstream 503')`. The stale value is served when
   * there is one (fail-safe); otherwise the call rejects with E_FACTORY carrying `reason`.
   */
  fail(reason?: unknown): never
}

export type Factory<T> = (context: FactoryContext<T>) => T | Promise<T>

export interface GetOrSetOptions<T> extends EntryOptions {
  key: string
  factory: Factory<T>
  /** Bypass reads: run the factory and store its result. */
  forceFresh?: boolean
  /** Values read from the L2 that fail this schema are a miss (counted), not a crash. */
  schema?: StandardSchemaV1<unknown, T>
}

export interface GetOrSetManyOptions<T> extends EntryOptions {
  keys: readonly string[]
  /** Called once with only the keys found in neither tier; returns what it found. */
  factory: (missingKeys: string[]) => Promise<ReadonlyMap<string, T>> | ReadonlyMap<string, T>
  schema?: StandardSchemaV1<unknown, T>
}

export interface WriteThroughOptions<T> extends EntryOptions {
  key: string
  value: T
  /** Writes the value to the source of truth; the cache is updated only if it resolves. */
  write: (value: T) => unknown
}

/** Default of every cache-level option, in one place. */
export const DEFAULTS = {
  namespace: 'cache',
  version: 'v1',
  l1MaxEntries: 10_000,
  ttlMs: 3_600_000,
  jitter: 0.1,
  maxValueBytes: 8 * 1024 * 1024,
  maxKeyBytes: DEFAULT_MAX_KEY_BYTES,
  l2TimeoutMs: 500,
  l2BatchSize: 100,
  isolation: 'freeze' as Isolation,
  l1Policy: 'w-tinylfu' as PolicyName,
  failSafeBackoffMs: 30_000,
  earlyRefreshBeta: 1,
  lockTtlMs: 5_000,
  lockWaitMs: 30_000,
  breakerThreshold: 5,
  breakerDurationMs: 5_000,
} as const

/** Every option name, checked against the types (a name added there must be added here). */
const CACHE_OPTIONS: Record<keyof CacheOptions, true> = {
  grace: true,
  failSafeBackoff: true,
  timeout: true,
  earlyRefresh: true,
  eagerRefresh: true,
  observability: true,
  lock: true,
  bus: true,
  encryption: true,
  tenant: true,
  maxKeyLength: true,
  maxTags: true,
  namespace: true,
  version: true,
  l1: true,
  l2: true,
  ttl: true,
  negativeTtl: true,
  jitter: true,
  serializer: true,
  maxValueBytes: true,
  maxKeyBytes: true,
  clock: true,
  random: true,
}
const L1_OPTIONS: Record<keyof L1Options, true> = {
  maxEntries: true,
  maxBytes: true,
  ttl: true,
  isolation: true,
  policy: true,
}
const L2_OPTIONS: Record<keyof L2Options, true> = {
  redis: true,
  tier: true,
  client: true,
  timeout: true,
  batchSize: true,
  compressAbove: true,
  breaker: true,
  writeErrors: true,
  tls: true,
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

export interface ResolvedOptions {
  namespace: string
  version: string
  l1:
    | { maxEntries: number; maxBytes: number; ttlMs: number; isolation: Isolation; policy: PolicyName }
    | false
  l2: L2Options | false
  l2TimeoutMs: number
  l2BatchSize: number
  compressAbove: number
  ttl: number | AdaptiveTtl
  negativeTtlMs: number | undefined
  jitter: number
  serializer: 'json' | 'msgpack' | Serializer
  maxValueBytes: number
  maxKeyBytes: number
  clock: () => number
  random: () => number
  resilience: Resilience
  lock: { ttlMs: number; waitMs: number | undefined } | false
  breaker: { threshold: number; breakDurationMs: number } | false
  l2WriteErrors: 'suppress' | 'throw'
  bus: boolean
  observability: ResolvedObservability
  security: ResolvedSecurity
}

export interface ResolvedObservability {
  latency: boolean
  hitSampling: number
  recentReads: number
  windowMs: number
  alerts: AlertThresholds
  /** Publishing interval in ms; 0 = off. */
  publishMs: number
}

/** {@link ResilienceOptions} in milliseconds, validated. */
export interface Resilience {
  graceMs: number
  failSafeBackoffMs: number
  softTimeoutMs: number
  hardTimeoutMs: number
  /** XFetch β; 0 = off. */
  earlyRefreshBeta: number
  /** Fraction of the TTL; 0 = off. */
  eagerRefresh: number
}

/** Cache-wide resilience options, validated. */
export function resolveResilience(options: ResilienceOptions, base?: Resilience): Resilience {
  const grace = options.grace
  const timeout = options.timeout
  if (timeout !== undefined && (typeof timeout !== 'object' || timeout === null)) {
    throw new InvalidOptionError("timeout must be an object like { soft: '100ms', hard: '2s' }.")
  }
  const earlyRefresh = options.earlyRefresh
  const eagerRefresh = options.eagerRefresh
  return {
    graceMs: grace === undefined ? (base?.graceMs ?? 0) : grace === false ? 0 : parseDuration(grace, 'grace'),
    failSafeBackoffMs:
      options.failSafeBackoff === undefined
        ? (base?.failSafeBackoffMs ?? DEFAULTS.failSafeBackoffMs)
        : parseDuration(options.failSafeBackoff, 'failSafeBackoff'),
    softTimeoutMs:
      timeout?.soft === undefined ? (base?.softTimeoutMs ?? 0) : parseDuration(timeout.soft, 'timeout.soft'),
    hardTimeoutMs:
      timeout?.hard === undefined
        ? (base?.hardTimeoutMs ?? Number.POSITIVE_INFINITY)
        : positive(parseDuration(timeout.hard, 'timeout.hard'), 'timeout.hard'),
    earlyRefreshBeta:
      earlyRefresh === undefined
        ? (base?.earlyRefreshBeta ?? DEFAULTS.earlyRefreshBeta)
        : earlyRefresh === false
          ? 0
          : nonNegative(earlyRefresh, 'earlyRefresh'),
    eagerRefresh:
      eagerRefresh === undefined
        ? (base?.eagerRefresh ?? 0)
        : eagerRefresh === false
          ? 0
          : openFraction(eagerRefresh, 'eagerRefresh'),
  }
}

/** Whether `options` sets any resilience option (so the cache-wide resolution can be reused). */
export function hasResilienceOptions(options: ResilienceOptions): boolean {
  return (
    options.grace !== undefined ||
    options.failSafeBackoff !== undefined ||
    options.timeout !== undefined ||
    options.earlyRefresh !== undefined ||
    options.eagerRefresh !== undefined
  )
}

/** Validates cache options once, at construction, with messages that name the option. */
export function resolveOptions(options: CacheOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(
      'createCache expects an options object, e.g. createCache({ namespace: "shop" }).',
    )
  }
  refuse(options, CACHE_OPTIONS, '')
  if (typeof options.l1 === 'object' && options.l1 !== null) refuse(options.l1, L1_OPTIONS, 'l1.')
  if (typeof options.l2 === 'object' && options.l2 !== null) refuse(options.l2, L2_OPTIONS, 'l2.')
  const namespace = options.namespace ?? DEFAULTS.namespace
  const version = options.version ?? DEFAULTS.version
  for (const [name, value] of [
    ['namespace', namespace],
    ['version', version],
  ] as const) {
    if (typeof value !== 'string' || !NAME.test(value)) {
      throw new InvalidOptionError(
        `${name} ${JSON.stringify(value)} is invalid: use letters, digits, '_', '.' or '-' (no ':' or glob characters), starting with a letter or digit.`,
      )
    }
  }
  return {
    namespace,
    version,
    l1: resolveL1(options.l1),
    l2: resolveL2(options.l2),
    l2TimeoutMs:
      options.l2 && options.l2.timeout !== undefined
        ? positive(parseDuration(options.l2.timeout, 'l2.timeout'), 'l2.timeout')
        : DEFAULTS.l2TimeoutMs,
    l2BatchSize:
      options.l2 && options.l2.batchSize !== undefined
        ? integer(options.l2.batchSize, 'l2.batchSize', 1)
        : DEFAULTS.l2BatchSize,
    compressAbove:
      options.l2 && options.l2.compressAbove !== undefined
        ? integer(options.l2.compressAbove, 'l2.compressAbove', 0)
        : Number.POSITIVE_INFINITY,
    ttl: resolveTtl(options.ttl ?? DEFAULTS.ttlMs, 'ttl'),
    negativeTtlMs:
      options.negativeTtl === undefined ? undefined : parseDuration(options.negativeTtl, 'negativeTtl'),
    jitter: fraction(options.jitter ?? DEFAULTS.jitter, 'jitter'),
    serializer: resolveSerializer(options.serializer ?? 'json'),
    maxValueBytes: integer(options.maxValueBytes ?? DEFAULTS.maxValueBytes, 'maxValueBytes', 1),
    maxKeyBytes: integer(options.maxKeyBytes ?? DEFAULTS.maxKeyBytes, 'maxKeyBytes', 64),
    clock: fn(options.clock ?? Date.now, 'clock'),
    random: fn(options.random ?? Math.random, 'random'),
    resilience: resolveResilience(options),
    lock: resolveLock(options.lock),
    breaker: resolveBreaker(options.l2 ? options.l2.breaker : undefined),
    l2WriteErrors: resolveWriteErrors(options.l2 ? options.l2.writeErrors : undefined),
    bus: resolveBoolean(
      typeof options.bus === 'object' && options.bus !== null ? true : options.bus,
      'bus',
      true,
    ),
    observability: resolveObservability(options.observability),
    security: resolveSecurity({ ...options, namespace }),
  }
}

function resolveObservability(options: CacheOptions['observability']): ResolvedObservability {
  if (options === false) {
    return {
      latency: false,
      hitSampling: 1,
      recentReads: 0,
      windowMs: 60_000,
      alerts: { ...DEFAULT_THRESHOLDS },
      publishMs: 0,
    }
  }
  const o = options ?? {}
  if (typeof o !== 'object' || o === null) {
    throw new InvalidOptionError('observability must be an options object or false.')
  }
  const alerts = o.alerts ?? {}
  if (typeof alerts !== 'object' || alerts === null) {
    throw new InvalidOptionError(
      'observability.alerts must be an object of thresholds, e.g. { hitRatioBelow: 0.8 }.',
    )
  }
  const thresholds: AlertThresholds = { ...DEFAULT_THRESHOLDS }
  for (const name of Object.keys(alerts) as (keyof AlertThresholds)[]) {
    if (!(name in DEFAULT_THRESHOLDS)) {
      throw new InvalidOptionError(
        `observability.alerts.${String(name)} is not a threshold; use ${Object.keys(DEFAULT_THRESHOLDS).join(', ')}.`,
      )
    }
    const value = alerts[name]
    if (value === undefined) continue
    const what = `observability.alerts.${name}`
    thresholds[name] = nonNegative(value, what)
    if ((name === 'hitRatioBelow' || name === 'memoryAbove') && thresholds[name] > 1) {
      throw new InvalidOptionError(`${what} is a ratio in [0, 1] (0.7 = 70%); got ${String(value)}.`)
    }
  }
  const publish = o.publish ?? false
  let publishMs = 0
  if (publish === true) publishMs = 2000
  else if (typeof publish === 'object' && publish !== null) {
    publishMs =
      publish.interval === undefined
        ? 2000
        : positive(
            parseDuration(publish.interval, 'observability.publish.interval'),
            'observability.publish.interval',
          )
  } else if (publish !== false) {
    throw new InvalidOptionError("observability.publish must be true, false or { interval: '2s' }.")
  }
  return {
    latency: resolveBoolean(o.latency, 'observability.latency', true),
    hitSampling: integer(o.hitSampling ?? 64, 'observability.hitSampling', 1),
    recentReads: integer(o.recentReads ?? 65_536, 'observability.recentReads', 0),
    windowMs: positive(parseDuration(o.window ?? 60_000, 'observability.window'), 'observability.window'),
    alerts: thresholds,
    publishMs,
  }
}

function resolveLock(lock: CacheOptions['lock']): ResolvedOptions['lock'] {
  if (lock === false) return false
  if (lock !== undefined && (typeof lock !== 'object' || lock === null)) {
    throw new InvalidOptionError("lock must be false or an object like { ttl: '5s' }.")
  }
  return {
    ttlMs:
      lock?.ttl === undefined
        ? DEFAULTS.lockTtlMs
        : positive(parseDuration(lock.ttl, 'lock.ttl'), 'lock.ttl'),
    waitMs: lock?.wait === undefined ? undefined : parseDuration(lock.wait, 'lock.wait'),
  }
}

function resolveBreaker(breaker: L2Options['breaker']): ResolvedOptions['breaker'] {
  if (breaker === false) return false
  if (breaker !== undefined && (typeof breaker !== 'object' || breaker === null)) {
    throw new InvalidOptionError(
      "l2.breaker must be false or an object like { threshold: 5, breakDuration: '5s' }.",
    )
  }
  return {
    threshold:
      breaker?.threshold === undefined
        ? DEFAULTS.breakerThreshold
        : integer(breaker.threshold, 'l2.breaker.threshold', 1),
    breakDurationMs:
      breaker?.breakDuration === undefined
        ? DEFAULTS.breakerDurationMs
        : positive(
            parseDuration(breaker.breakDuration, 'l2.breaker.breakDuration'),
            'l2.breaker.breakDuration',
          ),
  }
}

function resolveWriteErrors(value: L2Options['writeErrors']): 'suppress' | 'throw' {
  if (value === undefined) return 'suppress'
  if (value !== 'suppress' && value !== 'throw') {
    throw new InvalidOptionError(
      `l2.writeErrors must be 'suppress' or 'throw'; got ${JSON.stringify(value)}.`,
    )
  }
  return value
}

function resolveL1(l1: CacheOptions['l1']): ResolvedOptions['l1'] {
  if (l1 === false) return false
  const o = l1 ?? {}
  if (typeof o !== 'object' || o === null)
    throw new InvalidOptionError('l1 must be an options object or false.')
  const bothMissing = o.maxEntries === undefined && o.maxBytes === undefined
  const isolation = o.isolation ?? DEFAULTS.isolation
  if (isolation !== 'freeze' && isolation !== 'clone' && isolation !== 'none') {
    throw new InvalidOptionError(
      `l1.isolation must be 'freeze', 'clone' or 'none'; got ${JSON.stringify(isolation)}.`,
    )
  }
  return {
    maxEntries: bothMissing
      ? DEFAULTS.l1MaxEntries
      : o.maxEntries === undefined
        ? Number.POSITIVE_INFINITY
        : integer(o.maxEntries, 'l1.maxEntries', 1),
    maxBytes: o.maxBytes === undefined ? Number.POSITIVE_INFINITY : integer(o.maxBytes, 'l1.maxBytes', 1),
    ttlMs:
      o.ttl === undefined ? Number.POSITIVE_INFINITY : positive(parseDuration(o.ttl, 'l1.ttl'), 'l1.ttl'),
    isolation,
    policy: resolvePolicy(o.policy),
  }
}

function resolvePolicy(policy: PolicyName | undefined): PolicyName {
  if (policy === undefined) return DEFAULTS.l1Policy
  if (!POLICY_NAMES.includes(policy)) {
    throw new InvalidOptionError(
      `l1.policy must be one of ${POLICY_NAMES.join(', ')}; got ${JSON.stringify(policy)}.`,
    )
  }
  return policy
}

function resolveL2(l2: CacheOptions['l2']): L2Options | false {
  if (l2 === undefined || l2 === false) return false
  if (typeof l2 !== 'object' || l2 === null) {
    throw new InvalidOptionError("l2 must be false or an object like { redis: 'redis://127.0.0.1:6379' }.")
  }
  if ((l2.redis === undefined) === (l2.tier === undefined)) {
    throw new InvalidOptionError(
      'l2 needs exactly one of `redis` (a URL or a client) or `tier` (a RemoteTier).',
    )
  }
  if (typeof l2.redis === 'string' && !/^rediss?:\/\//.test(l2.redis)) {
    throw new InvalidOptionError(
      `l2.redis must be a redis:// or rediss:// URL; got a string starting '${l2.redis.slice(0, 8)}'.`,
    )
  }
  if (isClusterUrls(l2.redis)) parseClusterUrls(l2.redis)
  if (l2.client !== undefined && l2.client !== 'redis' && l2.client !== 'ioredis') {
    throw new InvalidOptionError(`l2.client must be 'redis' or 'ioredis'; got ${JSON.stringify(l2.client)}.`)
  }
  return l2
}

/** Validates a TTL option (cache-level or per call). */
export function resolveTtl(value: TtlOption, what: string): number | AdaptiveTtl {
  if (value instanceof AdaptiveTtl) return value
  return parseDuration(value, what)
}

function resolveSerializer(value: CacheOptions['serializer']): 'json' | 'msgpack' | Serializer {
  if (value === 'json' || value === 'msgpack') return value
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof value.encode === 'function' &&
    typeof value.decode === 'function'
  ) {
    return value
  }
  throw new InvalidOptionError(
    "serializer must be 'json', 'msgpack' or an object with encode(value) and decode(bytes).",
  )
}

function integer(value: unknown, what: string, min: number): number {
  if (
    typeof value !== 'number' ||
    !(Number.isInteger(value) || value === Number.POSITIVE_INFINITY) ||
    value < min
  ) {
    throw new InvalidOptionError(`${what} must be an integer ≥ ${min}; got ${String(value)}.`)
  }
  return value
}

function positive(value: number, what: string): number {
  if (value <= 0) throw new InvalidOptionError(`${what} must be greater than 0.`)
  return value
}

function resolveBoolean(value: unknown, what: string, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean')
    throw new InvalidOptionError(`${what} must be true or false; got ${String(value)}.`)
  return value
}

function nonNegative(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < Number.POSITIVE_INFINITY)) {
    throw new InvalidOptionError(`${what} must be a finite number ≥ 0 (or false); got ${String(value)}.`)
  }
  return value
}

function openFraction(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    throw new InvalidOptionError(`${what} must be a fraction in (0, 1), e.g. 0.8; got ${String(value)}.`)
  }
  return value
}

function fraction(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new InvalidOptionError(
      `${what} must be a fraction in [0, 1), e.g. 0.1 for ±10%; got ${String(value)}.`,
    )
  }
  return value
}

function fn<T>(value: T, what: string): T {
  if (typeof value !== 'function') throw new InvalidOptionError(`${what} must be a function.`)
  return value
}
