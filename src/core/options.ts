import { resolveWaitUntil, type WaitUntil } from '../base/background.js'
import type { Clock } from '../base/clock.js'
import { DEFAULTS } from '../base/defaults.js'
import { describeValue } from '../base/describe.js'
import { type Duration, parseDuration } from '../base/duration.js'
import { refuseUnknown } from '../base/option-names.js'
import { InvalidOptionError } from '../errors.js'
import { POLICY_NAMES, type PolicyName } from '../eviction/index.js'
import type { AlertThresholds } from '../observability/health.js'
import { looksLikeKey } from '../security/keyring.js'
import { type ResolvedSecurity, resolveSecurity } from '../security/options.js'
import type { Serializer } from '../serialization/serializer.js'
import { isClusterUrls, parseClusterUrls } from '../tiers/redis/cluster-options.js'
import { AdaptiveTtl } from '../ttl/adaptive.js'
import type { Isolation } from './isolation.js'
import { OPTION_NAMES } from './option-names.js'
import type { CacheOptions, L2Options, ResilienceOptions, TtlOption } from './option-types.js'

/*
 * createCache's options resolved and validated once, at construction: every default from the one
 * table (DEFAULTS, src/base/defaults.ts), every name checked (option-names.ts), every message
 * naming the option and what to pass instead. The public types are in option-types.ts.
 */

export { DEFAULTS } from '../base/defaults.js'
export type * from './option-types.js'

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
  clock: Clock
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
  /** Gets every promise the cache goes on with after answering; undefined = none. */
  waitUntil: WaitUntil | undefined
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
    graceMs:
      grace === undefined
        ? (base?.graceMs ?? DEFAULTS.graceMs)
        : grace === false
          ? 0
          : parseDuration(grace, 'grace'),
    failSafeBackoffMs:
      options.failSafeBackoff === undefined
        ? (base?.failSafeBackoffMs ?? DEFAULTS.failSafeBackoffMs)
        : parseDuration(options.failSafeBackoff, 'failSafeBackoff'),
    softTimeoutMs:
      timeout?.soft === undefined
        ? (base?.softTimeoutMs ?? DEFAULTS.softTimeoutMs)
        : parseDuration(timeout.soft, 'timeout.soft'),
    hardTimeoutMs:
      timeout?.hard === undefined
        ? (base?.hardTimeoutMs ?? DEFAULTS.hardTimeoutMs)
        : positive(parseDuration(timeout.hard, 'timeout.hard'), 'timeout.hard'),
    earlyRefreshBeta:
      earlyRefresh === undefined
        ? (base?.earlyRefreshBeta ?? DEFAULTS.earlyRefreshBeta)
        : earlyRefresh === false
          ? 0
          : nonNegative(earlyRefresh, 'earlyRefresh'),
    eagerRefresh:
      eagerRefresh === undefined
        ? (base?.eagerRefresh ?? DEFAULTS.eagerRefresh)
        : eagerRefresh === false
          ? 0
          : openFraction(eagerRefresh, 'eagerRefresh'),
    waitUntil: options.waitUntil === undefined ? base?.waitUntil : resolveWaitUntil(options.waitUntil),
  }
}

/** Whether `options` sets any resilience option (so the cache-wide resolution can be reused). */
export function hasResilienceOptions(options: ResilienceOptions): boolean {
  return (
    options.grace !== undefined ||
    options.failSafeBackoff !== undefined ||
    options.timeout !== undefined ||
    options.earlyRefresh !== undefined ||
    options.eagerRefresh !== undefined ||
    options.waitUntil !== undefined
  )
}

/** Validates cache options once, at construction, with messages that name the option. */
export function resolveOptions(options: CacheOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(
      'createCache expects an options object, e.g. createCache({ namespace: "shop" }).',
    )
  }
  refuseUnknownNames(options)
  const namespace = options.namespace ?? DEFAULTS.namespace
  const version = options.version ?? DEFAULTS.version
  for (const [name, value] of [
    ['namespace', namespace],
    ['version', version],
  ] as const) {
    if (typeof value !== 'string' || !NAME.test(value)) {
      throw new InvalidOptionError(
        `${name} ${describeValue(value)} is invalid: use letters, digits, '_', '.' or '-' (no ':' or glob characters), starting with a letter or digit.`,
      )
    }
  }
  return {
    namespace,
    version,
    l1: resolveL1(options.l1),
    l2: resolveL2(options.l2, options.bus),
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
        : DEFAULTS.l2CompressAbove,
    ttl: resolveTtl(options.ttl ?? DEFAULTS.ttlMs, 'ttl'),
    negativeTtlMs:
      options.negativeTtl === undefined ? undefined : parseDuration(options.negativeTtl, 'negativeTtl'),
    jitter: fraction(options.jitter ?? DEFAULTS.jitter, 'jitter'),
    serializer: resolveSerializer(options.serializer ?? DEFAULTS.serializer),
    maxValueBytes: integer(options.maxValueBytes ?? DEFAULTS.maxValueBytes, 'maxValueBytes', 1),
    maxKeyBytes: integer(options.maxKeyBytes ?? DEFAULTS.maxKeyBytes, 'maxKeyBytes', 64),
    clock: fn(options.clock ?? Date.now, 'clock'),
    random: options.random === undefined ? Math.random : unitRandom(fn(options.random, 'random')),
    resilience: resolveResilience(options),
    lock: resolveLock(options.lock),
    breaker: resolveBreaker(options.l2 ? options.l2.breaker : undefined),
    l2WriteErrors: resolveWriteErrors(options.l2 ? options.l2.writeErrors : undefined),
    bus: resolveBoolean(
      typeof options.bus === 'object' && options.bus !== null ? true : options.bus,
      'bus',
      DEFAULTS.bus,
    ),
    observability: resolveObservability(options.observability),
    security: resolveSecurity({ ...options, namespace }),
  }
}

/** Every option name of createCache, nested ones too, checked before any value is. */
function refuseUnknownNames(options: CacheOptions): void {
  const names = OPTION_NAMES
  refuseUnknown(options, names.cache, 'createCache')
  if (isObject(options.l1)) refuseUnknown(options.l1, names.l1, 'createCache', 'l1.')
  if (isObject(options.l2)) {
    refuseUnknown(options.l2, names.l2, 'createCache', 'l2.')
    if (isObject(options.l2.breaker))
      refuseUnknown(options.l2.breaker, names.breaker, 'createCache', 'l2.breaker.')
  }
  if (isObject(options.timeout)) refuseUnknown(options.timeout, names.timeout, 'createCache', 'timeout.')
  if (isObject(options.lock)) refuseUnknown(options.lock, names.lock, 'createCache', 'lock.')
  if (isObject(options.bus)) refuseUnknown(options.bus, names.bus, 'createCache', 'bus.')
  if (isObject(options.encryption)) {
    // A name shaped like a key (a key map given one level too high) is left to KeyRing.from,
    // which refuses it without printing it; the others get the nearest valid name.
    const named = Object.keys(options.encryption).filter((name) => !looksLikeKey(name))
    refuseUnknown(
      Object.fromEntries(named.map((n) => [n, true])),
      names.encryption,
      'createCache',
      'encryption.',
    )
  }
  const observability = options.observability
  if (isObject(observability)) {
    refuseUnknown(observability, names.observability, 'createCache', 'observability.')
    if (isObject(observability.publish)) {
      refuseUnknown(observability.publish, names.publish, 'createCache', 'observability.publish.')
    }
  }
}

function isObject(value: unknown): value is object {
  return typeof value === 'object' && value !== null
}

function resolveObservability(options: CacheOptions['observability']): ResolvedObservability {
  if (options === false) {
    return {
      latency: false,
      hitSampling: 1,
      recentReads: 0,
      windowMs: DEFAULTS.observability.windowMs,
      alerts: { ...DEFAULTS.alerts },
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
  const thresholds: AlertThresholds = { ...DEFAULTS.alerts }
  refuseUnknown(alerts, OPTION_NAMES.alerts, 'createCache', 'observability.alerts.')
  for (const name of Object.keys(alerts) as (keyof AlertThresholds)[]) {
    const value = alerts[name]
    if (value === undefined) continue
    const what = `observability.alerts.${name}`
    thresholds[name] = nonNegative(value, what)
    if ((name === 'hitRatioBelow' || name === 'memoryAbove') && thresholds[name] > 1) {
      throw new InvalidOptionError(`${what} is a ratio in [0, 1] (0.7 = 70%); got ${describeValue(value)}.`)
    }
  }
  const publish = o.publish ?? false
  let publishMs = 0
  if (publish === true) publishMs = DEFAULTS.observability.publishIntervalMs
  else if (typeof publish === 'object' && publish !== null) {
    publishMs =
      publish.interval === undefined
        ? DEFAULTS.observability.publishIntervalMs
        : positive(
            parseDuration(publish.interval, 'observability.publish.interval'),
            'observability.publish.interval',
          )
  } else if (publish !== false) {
    throw new InvalidOptionError("observability.publish must be true, false or { interval: '2s' }.")
  }
  return {
    latency: resolveBoolean(o.latency, 'observability.latency', DEFAULTS.observability.latency),
    hitSampling: integer(o.hitSampling ?? DEFAULTS.observability.hitSampling, 'observability.hitSampling', 1),
    recentReads: integer(o.recentReads ?? DEFAULTS.observability.recentReads, 'observability.recentReads', 0),
    windowMs: positive(
      parseDuration(o.window ?? DEFAULTS.observability.windowMs, 'observability.window'),
      'observability.window',
    ),
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
    ttlMs: lock?.ttl === undefined ? DEFAULTS.lockTtlMs : finiteLockTtl(lock.ttl),
    waitMs: lock?.wait === undefined ? undefined : parseDuration(lock.wait, 'lock.wait'),
  }
}

/** A lock that never expires would outlive a holder that crashed: every waiter of its key, for good. */
function finiteLockTtl(ttl: Duration): number {
  const ms = positive(parseDuration(ttl, 'lock.ttl'), 'lock.ttl')
  if (!Number.isFinite(ms)) {
    throw new InvalidOptionError(
      "lock.ttl must be finite: a lock that never expires outlives a holder that crashed, and every process waits on its key for good. The holder renews it while it runs: a few seconds is enough (default '5s').",
    )
  }
  return ms
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
  if (value === undefined) return DEFAULTS.l2WriteErrors
  if (value !== 'suppress' && value !== 'throw') {
    throw new InvalidOptionError(`l2.writeErrors must be 'suppress' or 'throw'; got ${describeValue(value)}.`)
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
      `l1.isolation must be 'freeze', 'clone' or 'none'; got ${describeValue(isolation)}.`,
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
      `l1.policy must be one of ${POLICY_NAMES.join(', ')}; got ${describeValue(policy)}.`,
    )
  }
  return policy
}

function resolveL2(l2: CacheOptions['l2'], bus: CacheOptions['bus']): L2Options | false {
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
    throw new InvalidOptionError(`l2.client must be 'redis' or 'ioredis'; got ${describeValue(l2.client)}.`)
  }
  const invalidation = l2.invalidation ?? DEFAULTS.l2Invalidation
  if (invalidation !== 'bus' && invalidation !== 'tracking') {
    throw new InvalidOptionError(
      `l2.invalidation must be 'bus' or 'tracking'; got ${describeValue(l2.invalidation)}.`,
    )
  }
  if (invalidation === 'tracking' && bus === false) {
    throw new InvalidOptionError(
      "l2.invalidation 'tracking' needs the bus (tags, clears and the heartbeat travel on it): remove `bus: false`, or use l2.invalidation 'bus'.",
    )
  }
  return { ...l2, invalidation }
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
    throw new InvalidOptionError(`${what} must be an integer ≥ ${min}; got ${describeValue(value)}.`)
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
    throw new InvalidOptionError(`${what} must be true or false; got ${describeValue(value)}.`)
  return value
}

function nonNegative(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < Number.POSITIVE_INFINITY)) {
    throw new InvalidOptionError(
      `${what} must be a finite number ≥ 0 (or false); got ${describeValue(value)}.`,
    )
  }
  return value
}

function openFraction(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value > 0 && value < 1)) {
    throw new InvalidOptionError(
      `${what} must be a fraction in (0, 1), e.g. 0.8; got ${describeValue(value)}.`,
    )
  }
  return value
}

function fraction(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new InvalidOptionError(
      `${what} must be a fraction in [0, 1), e.g. 0.1 for ±10%; got ${describeValue(value)}.`,
    )
  }
  return value
}

function fn<T>(value: T, what: string): T {
  if (typeof value !== 'function') throw new InvalidOptionError(`${what} must be a function.`)
  return value
}

/**
 * An injected `random`, checked on every draw: one that answers NaN or a number outside [0, 1)
 * made every TTL NaN (nothing cached, silently) or stretched it. Math.random is used as is.
 */
function unitRandom(random: () => number): () => number {
  return () => {
    const r = random()
    if (r >= 0 && r < 1) return r
    throw new InvalidOptionError(
      `random() must return a number in [0, 1) (it drives TTL jitter and early refresh); it returned ${describeValue(r)}.`,
    )
  }
}
