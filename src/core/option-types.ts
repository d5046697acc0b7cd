import type { WaitUntil } from '../base/background.js'
import type { Clock } from '../base/clock.js'
import type { Duration } from '../base/duration.js'
import type { PolicyName } from '../eviction/index.js'
import type { AlertThresholds } from '../observability/health.js'
import type { EncryptionOptions } from '../security/keyring.js'
import type { BusOptions } from '../security/options.js'
import type { Serializer } from '../serialization/serializer.js'
import type { L2Options } from '../tiers/redis/options.js'
import type { AdaptiveTtl } from '../ttl/adaptive.js'
import type { Isolation } from './isolation.js'
import type { StandardSchemaV1 } from './standard-schema.js'

/*
 * The public option types of createCache and of each call. Their defaults are in one table,
 * DEFAULTS (src/base/defaults.ts); resolution and validation are in options.ts; the names each
 * accepts (an unknown one is refused with the nearest valid one) in option-names.ts.
 */

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
  /**
   * Serverless runtimes (Vercel, Cloudflare Workers, Lambda) stop a request's work once it
   * answered. Every promise the cache goes on with after answering a call — early refresh, stale
   * revalidation, getOrSetMany's L2 write, a bus message sent behind the write — is handed to
   * this hook (`waitUntil` from `@vercel/functions`, `ctx.waitUntil.bind(ctx)`); what it gets never
   * rejects. Cache-wide or per call. Default: none (docs/integrations.md).
   */
  waitUntil?: WaitUntil
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
  /**
   * Milliseconds since the epoch; inject a fake to test expiry without sleeping. Default `Date.now`.
   * A clock that also has `setTimeout(callback, ms)` and `clearTimeout(handle)` methods schedules
   * the factory's soft and hard timeouts, the lock polling and renewal, and the breaker's probe on
   * itself: advancing it fires them (docs/options.md).
   */
  clock?: Clock
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
