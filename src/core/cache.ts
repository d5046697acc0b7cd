import { type CacheClock, cacheClock } from '../base/clock.js'
import { describeValue } from '../base/describe.js'
import { type Duration, parseDuration } from '../base/duration.js'
import { InvalidKeyError, InvalidOptionError } from '../errors.js'
import type { InvalidationMode } from '../invalidation/store.js'
import { assertPattern, assertTags, invalidKeyError } from '../keys/limits.js'
import { type OperationContext, operationChannel } from '../observability/channels.js'
import type { Diagnosis } from '../observability/diagnose.js'
import { publishSnapshots } from '../observability/publisher.js'
import type { CacheStats } from '../observability/stats.js'
import type { CacheHealth, CacheSnapshot } from '../observability/types.js'
import { EntryCrypto, type SecurityStats } from '../security/entries.js'
import { untilAnswering } from '../tiers/redis/connection.js'
import { withoutRedis } from '../tiers/redis/options.js'
import type { RemoteTier } from '../tiers/tier.js'
import { AdaptiveTtl } from '../ttl/adaptive.js'
import {
  closeWriteBehinds,
  type WriteBehind,
  type WriteBehindOptions,
  writeBehindFor,
} from '../write/index.js'
import { BusLink } from './bus-link.js'
import { EntryCodec, serializerOf } from './entry-codec.js'
import { type CacheEventListener, type CacheEventName, forwardWriteBehind } from './events.js'
import { Flights, type Loaded } from './flights.js'
import { localTierOf } from './heartbeat.js'
import type { DeepReadonly } from './isolation.js'
import { closed, type Lifecycle, Loader } from './loader.js'
import { ATTENTION, type LocalTier, MISS } from './local-tier.js'
import { refuseUnknownCallOptions as refuseUnknown } from './option-names.js'
import {
  type CacheOptions,
  type EntryOptions,
  type GetOrSetManyOptions,
  type GetOrSetOptions,
  hasResilienceOptions,
  type Resilience,
  type ResilienceOptions,
  type ResolvedOptions,
  resolveOptions,
  resolveResilience,
  type WriteThroughOptions,
} from './options.js'
import { RemoteReads } from './remote-reads.js'
import { borrowed, openRemoteTier, type RemoteAccess } from './remote-tier.js'
import { CacheReport } from './report.js'
import type { StandardSchemaV1 } from './standard-schema.js'
import { TagState } from './tag-state.js'
import { Telemetry } from './telemetry.js'
import { WriteThroughs, writeThroughParts } from './write-through.js'
import { type WriteLease, Writer } from './writer.js'

/** What get() returns inside its promise: the value on an L1 hit (no promise of its own), else a promise. */
type Read<T> = DeepReadonly<T> | undefined | Promise<DeepReadonly<T> | undefined>

/** How long ready() waits for Redis and the bus by default. */
const READY_TIMEOUT = '5s'

/**
 * A two-tier cache: an in-process L1 in front of an optional shared L2, behind one `getOrSet`.
 * Create it with {@link createCache}. This file is the API: it validates each call once and hands
 * it to the parts (docs/architecture.md): the local and remote tier accessors, the loader (the
 * miss path), the writer (every change), the bus link, flights, tag state and telemetry.
 */
export class Cache {
  /** This cache's namespace: every key it stores starts with `<name>:<version>:`. */
  readonly name: string
  readonly version: string
  readonly #options: ResolvedOptions
  /** The options as given, for {@link namespace} children. */
  readonly #given: CacheOptions
  readonly #children = new Set<Cache>()
  readonly #resilience: Resilience
  readonly #clock: CacheClock
  readonly #now: () => number
  readonly #telemetry: Telemetry
  readonly #counters: Telemetry['counters']
  readonly #local: LocalTier
  readonly #remote: RemoteAccess
  readonly #flights: Flights
  readonly #loader: Loader
  readonly #writer: Writer
  readonly #writeThroughs: WriteThroughs
  readonly #bus: BusLink
  readonly #lifecycle: Lifecycle = { closed: false, controllers: new Set() }
  readonly #maxKeyLength: number
  readonly #report: CacheReport
  #stopPublishing: (() => void) | undefined

  constructor(options: CacheOptions = {}) {
    const resolved = resolveOptions(options)
    this.#given = options
    this.#options = resolved
    this.name = resolved.namespace
    this.version = resolved.version
    this.#resilience = resolved.resilience
    this.#maxKeyLength = resolved.security.maxKeyLength
    const clock = cacheClock(options.clock === undefined ? undefined : resolved.clock)
    this.#clock = clock
    this.#now = clock.now
    const telemetry = new Telemetry(resolved.namespace, resolved.observability, clock.now())
    this.#telemetry = telemetry
    this.#counters = telemetry.counters
    const security = resolved.security
    const codec = new EntryCodec({
      serializer: serializerOf(resolved.serializer),
      crypto:
        security.encryption === undefined
          ? undefined
          : new EntryCrypto(security.encryption.ring, security.encryption.all, telemetry.security),
      maxValueBytes: resolved.maxValueBytes,
      compressAbove: resolved.compressAbove,
      onDecodeError: () => {
        telemetry.counters.decodeErrors++
      },
    })
    const tags = new TagState(security.maxTags)
    const { local, watch } = localTierOf(resolved, tags, telemetry, clock, this.#lifecycle)
    this.#local = local
    const prefix = `${security.scope}:${resolved.version}:`
    const remote = openRemoteTier({
      options: resolved,
      prefix,
      scope: security.scope,
      telemetry,
      codec,
      onRepaired: (tier, keys) => this.#bus.publishRepaired(tier, keys, this.version),
    })
    this.#remote = remote
    const flights = new Flights(clock.stamp)
    this.#flights = flights
    this.#bus = new BusLink(
      {
        channel: `!bus:${security.scope}`,
        secret: security.busSecret,
        maxAgeMs: security.busMaxAgeMs,
        listen: resolved.bus,
        tracking: resolved.l2 && resolved.l2.invalidation === 'tracking' && { prefix, version: this.version },
      },
      { remote, telemetry, tags, local, flights, clock },
    )
    this.#writer = new Writer({
      options: resolved,
      clock,
      local,
      remote,
      codec,
      tags,
      flights,
      telemetry,
      bus: this.#bus,
      version: resolved.version,
      scope: `${security.scope}:`,
      prefix,
    })
    this.#writeThroughs = new WriteThroughs(clock.stamp)
    this.#loader = new Loader({
      options: resolved,
      clock,
      local,
      remote,
      reads: new RemoteReads(remote, codec, tags, telemetry, clock),
      writer: this.#writer,
      flights,
      telemetry,
      lifecycle: this.#lifecycle,
    })
    this.#bus.start((message) => this.#writer.applyHeard(message))
    watch?.start(remote.bus, `!bus:${security.scope}`, { local, tags, flights })
    const report = new CacheReport({
      cache: this,
      name: this.name,
      source: this.#bus.source,
      options: resolved,
      clock,
      telemetry,
      local,
      remote,
      flights,
      lifecycle: this.#lifecycle,
    })
    this.#report = report
    const bus = remote.bus
    const publishMs = resolved.observability.publishMs
    if (publishMs > 0 && bus !== undefined) {
      this.#stopPublishing = publishSnapshots(this.name, bus, publishMs, () => report.published())
    }
  }

  /** Listens to what the cache does to protect callers (stale served, early refreshes, lock waits, timeouts, breaker). */
  on<E extends CacheEventName>(name: E, listener: CacheEventListener<E>): this {
    this.#telemetry.events.on(name, listener)
    return this
  }

  off<E extends CacheEventName>(name: E, listener: CacheEventListener<E>): this {
    this.#telemetry.events.off(name, listener)
    return this
  }

  /** The cache clock's current stamp (ms): pass it as `set(…, { startedAt })` before reading what the value is computed from. */
  stamp(): number {
    return this.#clock.stamp()
  }

  /** The L2 in use, if any (for diagnostics and tests). */
  get l2(): RemoteTier | undefined {
    return this.#remote.tier
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
      throw invalidKeyError(key, this.#maxKeyLength)
    if (typeof options.factory !== 'function') {
      throw new InvalidOptionError('getOrSet: `factory` must be a function that loads the value.')
    }
    if (this.#lifecycle.closed) throw closed()
    if (operationChannel.hasSubscribers) {
      return this.#telemetry.traced('getOrSet', key, (context) => this.#getOrSet(key, options, context)) as
        | DeepReadonly<T>
        | Promise<DeepReadonly<T>>
    }
    return this.#getOrSet(key, options, undefined) as DeepReadonly<T> | Promise<DeepReadonly<T>>
  }

  /** getOrSet after validation: the value itself on an L1 hit (no promise of its own), else a promise. */
  #getOrSet<T>(key: string, options: GetOrSetOptions<T>, context: OperationContext | undefined): unknown {
    const ttl = options.ttl ?? this.#options.ttl
    // An adaptive TTL learns from every read; any other object is refused where the TTL is resolved.
    if (typeof ttl === 'object' && ttl instanceof AdaptiveTtl) ttl.record(key)
    const telemetry = this.#telemetry
    // A clock read costs as much as a hit: one hit in `hitSampling` is timed.
    const started = --telemetry.hitCountdown === 0 ? telemetry.sampleStart() : 0
    const now = this.#now()
    telemetry.recent?.record(key, now)
    if (options.forceFresh !== true && options.skipL1 !== true) {
      const value = this.#local.lookup(key, now)
      if (value !== MISS) {
        if (value !== ATTENTION) {
          this.#counters.l1Hits++
          if (started !== 0)
            telemetry.l1HitLatency?.record((performance.now() - started) / 1000, telemetry.hitSampling)
          if (telemetry.events.watchingReads) telemetry.events.emit('hit', { key, tier: 'l1' })
          if (context !== undefined) context.tier = 'l1'
          return value
        }
        const view = this.#local.inspect(key, now)
        if (view !== undefined) {
          refuseUnknown(options, 'getOrSet')
          this.#writer.assertLoadOptions(options)
          const answer = this.#loader.attention(key, options, view, now, this.#resilienceOf(options))
          return telemetry.timed('getOrSet', started, answer, context)
        }
      }
      this.#local.missed(key)
    }
    refuseUnknown(options, 'getOrSet')
    // Refused before joining a load, or starting one that others would join.
    this.#writer.assertLoadOptions(options)
    const res = this.#resilienceOf(options)
    let flight: Promise<Loaded> | undefined
    if (options.forceFresh !== true) flight = this.#flights.get(key)
    flight ??= this.#loader.refresh(key, options, res)
    return telemetry.timed('getOrSet', started, flight, context)
  }

  /** The cached value for `key` from either tier, or `undefined`. */
  async get<T = unknown>(
    key: string,
    options?: Pick<EntryOptions, 'skipL1' | 'skipL2'> & { schema?: StandardSchemaV1<unknown, T> },
  ): Promise<DeepReadonly<T> | undefined> {
    if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
      throw invalidKeyError(key, this.#maxKeyLength)
    if (this.#lifecycle.closed) throw closed()
    if (operationChannel.hasSubscribers) {
      return this.#telemetry.traced('get', key, (context) => this.#get(key, options, context)) as Read<T>
    }
    return this.#get(key, options, undefined) as Read<T>
  }

  /** get after validation: the value itself on an L1 hit, else a promise. */
  #get(
    key: string,
    options:
      | (Pick<EntryOptions, 'skipL1' | 'skipL2'> & { schema?: StandardSchemaV1<unknown, unknown> })
      | undefined,
    context: OperationContext | undefined,
  ): unknown {
    const telemetry = this.#telemetry
    const started = --telemetry.hitCountdown === 0 ? telemetry.sampleStart() : 0
    const now = this.#now()
    telemetry.recent?.record(key, now)
    const skipL1 = options?.skipL1 === true
    if (!skipL1) {
      const value = this.#local.get(key, now)
      if (value !== MISS) {
        this.#counters.l1Hits++
        if (started !== 0)
          telemetry.l1GetLatency?.record((performance.now() - started) / 1000, telemetry.hitSampling)
        if (telemetry.events.watchingReads) telemetry.events.emit('hit', { key, tier: 'l1' })
        if (context !== undefined) context.tier = 'l1'
        return value
      }
      this.#local.missed(key)
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
    refuseUnknown(options, 'get')
    let tier: 'l2' | 'miss' = 'miss'
    let value: unknown
    if (options?.skipL2 !== true) {
      const found = await this.#loader.read(key, options?.schema, skipL1, this.#resilience)
      if (typeof found === 'object' && found.fresh) {
        tier = 'l2'
        value = found.value
      }
    }
    if (tier === 'miss') this.#telemetry.missed(key)
    this.#telemetry.latency?.record('get', tier, (performance.now() - started) / 1000)
    if (context !== undefined) context.tier = tier
    return value
  }

  /** Synchronous L1-only read: the value if this process holds it, else `undefined`. */
  peek<T = unknown>(key: string): T | undefined {
    if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
      throw invalidKeyError(key, this.#maxKeyLength)
    const value = this.#local.get(key, this.#now())
    return value === MISS ? undefined : (value as T)
  }

  /** Values for `keys` (aligned; `undefined` where absent): L1 first, then one L2 round trip for the rest. */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(DeepReadonly<T> | undefined)[]> {
    this.#assertKeys(keys)
    if (this.#lifecycle.closed) throw closed()
    const out: (T | undefined)[] = new Array(keys.length)
    const missing: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const value = this.#local.get(keys[i] as string, this.#now())
      if (value !== MISS) {
        this.#counters.l1Hits++
        out[i] = value as T
      } else {
        this.#local.missed(keys[i] as string)
        missing.push(i)
      }
    }
    if (missing.length > 0) {
      const found = await this.#loader.readMany(
        missing.map((i) => keys[i] as string),
        undefined,
        false,
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
   * failed and `l2.writeErrors` is `'throw'` — the L1 holds the value regardless.
   */
  set<T>(key: string, value: T, options: EntryOptions = {}): Promise<void> {
    // Not async: the write's own promise is the caller's (one frame less on the write path).
    try {
      if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
        throw invalidKeyError(key, this.#maxKeyLength)
      if (this.#lifecycle.closed) throw closed()
      refuseUnknown(options, 'entry')
      if (value === undefined) {
        throw new InvalidOptionError(
          'set: undefined is never cached; call delete(key) to remove an entry, or cache null.',
        )
      }
      return this.#set(key, value, options)
    } catch (error) {
      return Promise.reject(error)
    }
  }

  #set(key: string, value: unknown, options: EntryOptions, lease?: WriteLease): Promise<void> {
    const res = this.#resilienceOf(options)
    return this.#telemetry.observedWrite(
      'set',
      () => key,
      () => this.#writer.set(key, value, options, res, lease),
    )
  }

  /**
   * Runs `write(value)` against the source of truth first and caches the value only if it
   * succeeded; if it throws, the cache is untouched and the error propagates as is.
   */
  async writeThrough<T>(options: WriteThroughOptions<T>): Promise<DeepReadonly<T>> {
    const { key, value, write, entry } = writeThroughParts(options)
    this.#assertKeys([key])
    if (this.#lifecycle.closed) throw closed()
    // What set would refuse is refused before the source of truth is written, not after it.
    this.#writer.assertSettable(key, value, entry)
    const set = (lease: WriteLease) => this.#set(key, value, entry, lease)
    await this.#writeThroughs.run(key, write, set, () => this.delete(key))
    return value as DeepReadonly<T> // frozen by set
  }

  /**
   * Write-behind: `set` updates the cache and appends the write to a durable log in this cache's
   * Redis (a stream named after the namespace and `options.name`); flushers call `options.flush`
   * with batches. `close()` drains it. See docs/write-behind.md.
   */
  writeBehind<T>(options: WriteBehindOptions<T>): WriteBehind<T> {
    if (this.#lifecycle.closed) throw closed()
    const writer = this.#writer
    const local = this.#local
    const wb = writeBehindFor<T>(this, this.#remote.direct, options, {
      maxKeyLength: this.#maxKeyLength,
      stageSet: (key, value, encoded) => {
        if (this.#lifecycle.closed) throw closed()
        if (key.length > this.#maxKeyLength) throw invalidKeyError(key, this.#maxKeyLength)
        return writer.stageSet(key, value, this.#resilience, encoded)
      },
      unstage: (key) => local.delete(key),
      announce: (keys, at) => writer.announce(keys, at),
    })
    forwardWriteBehind(wb as WriteBehind<unknown>, this.#telemetry.events, options.name)
    return wb
  }

  /** Removes `key` from both tiers. Rejects with E_L2 if the L2 delete failed and `l2.writeErrors` is `'throw'`. */
  delete(key: string): Promise<void> {
    return this.deleteMany([key])
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#assertKeys(keys)
    if (this.#lifecycle.closed) throw closed()
    if (keys.length === 0) return
    await this.#telemetry.observedWrite(
      'delete',
      () => keys.join(','),
      () => this.#writer.deleteMany(keys),
    )
  }

  /** Removes every entry of this cache's namespace (all versions) — never FLUSHDB, never KEYS. */
  async clear(): Promise<void> {
    if (this.#lifecycle.closed) throw closed()
    await this.#writer.clear()
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
    // No entry can carry a tag over the length limit (set refuses it): it is a caller's bug.
    assertTags(tags, Number.POSITIVE_INFINITY)
    refuseUnknown(options, 'invalidateTags')
    const mode = options?.mode ?? 'delete'
    if (mode !== 'delete' && mode !== 'expire') {
      throw new InvalidOptionError(
        `invalidateTags: mode must be 'delete' or 'expire'; got ${describeValue(mode)}.`,
      )
    }
    if (this.#lifecycle.closed) throw closed()
    await this.#telemetry.observedWrite(
      'invalidate',
      () => tags.join(','),
      () => this.#writer.invalidateTags(tags, mode),
    )
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
    if (this.#lifecycle.closed) throw closed()
    return this.#writer.deleteMatching(pattern)
  }

  /**
   * A cache for the namespace `<this namespace>.<name>`, with this cache's options, sharing its L2
   * connection and bus (each has its own L1, counters and breaker). Its `clear()` removes only its
   * own namespace. Closed with this cache.
   */
  namespace(name: string): Cache {
    if (this.#lifecycle.closed) throw closed()
    // (The child's options check the name's characters; a non-string would not even make a name.)
    if (typeof name !== 'string') {
      throw new InvalidOptionError(`namespace(name): the name must be a string; got ${describeValue(name)}.`)
    }
    const l2 = this.#given.l2
    const direct = this.#remote.direct
    const child = new Cache({
      ...this.#given,
      namespace: `${this.#options.namespace}.${name}`,
      l2: l2 && direct !== undefined ? { ...withoutRedis(l2), tier: borrowed(direct) } : false,
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
    refuseUnknown(options, 'ready')
    const timeoutMs = parseDuration(options.timeout ?? READY_TIMEOUT, 'ready({ timeout })')
    const l2 = this.#remote.direct
    if (l2 === undefined || this.#lifecycle.closed) return
    await untilAnswering({
      ping: () => l2.ping(),
      subscribed: this.#bus.subscribed(),
      report: this.#remote.connection,
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
    refuseUnknown(options, 'getOrSetMany')
    this.#assertKeys(options.keys)
    if (this.#lifecycle.closed) throw closed()
    // Refused before any of the keys' flights is registered (others would join and fail with it).
    this.#writer.assertLoadOptions(options)
    const res = this.#resilienceOf(options)
    return (await this.#loader.getOrSetMany(options, res)) as Map<string, DeepReadonly<T>>
  }
  /** Pre-loads `keys` in batches through `loader` (skipping those already cached); resolves to how many are now cached. */
  async warm<T>(
    keys: readonly string[],
    loader: (keys: string[]) => Promise<ReadonlyMap<string, T>> | ReadonlyMap<string, T>,
    options: EntryOptions & { batchSize?: number } = {},
  ): Promise<number> {
    refuseUnknown(options, 'warm')
    if (!Array.isArray(keys)) {
      throw new InvalidOptionError(`warm: the keys must be an array of strings; got ${describeValue(keys)}.`)
    }
    if (typeof loader !== 'function') {
      throw new InvalidOptionError(
        'warm: the loader must be a function (keys) => Map of the values it found.',
      )
    }
    const { batchSize = 100, ...entry } = options
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new InvalidOptionError('warm: batchSize must be an integer ≥ 1.')
    // Every batch's input is checked before the first loads: a bad key in the last batch does
    // not fail the call halfway, after the others were loaded.
    this.#assertKeys(keys)
    this.#writer.assertLoadOptions(entry)
    let cached = 0
    for (let i = 0; i < keys.length; i += batchSize) {
      const found = await this.getOrSetMany({
        ...entry,
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
    refuseUnknown(options, 'wrap')
    const { key, ...entry } = options
    // Async: a key builder that throws rejects the returned promise (a caller's .catch sees it).
    return async (...args: A) => this.getOrSet<R>({ ...entry, key: key(...args), factory: () => fn(...args) })
  }

  /** Counters since creation, plus current sizes and ratios. Every field is a number. */
  stats(): CacheStats & SecurityStats {
    return this.#report.stats()
  }

  /**
   * Everything this instance reports at once: stats, latency histograms, health over the window
   * (with Redis' memory figures from the last `health()` call) and the hottest key groups.
   */
  snapshot(): CacheSnapshot {
    return this.#report.snapshot()
  }

  /**
   * Health over the window: status, hit ratio, L1 usage, Redis memory (`INFO`), breaker state and
   * the alerts that fire. Asks Redis for its memory figures (under the L2 deadline).
   */
  health(): Promise<CacheHealth> {
    return this.#report.health()
  }

  /**
   * Explains a low hit ratio with evidence: TTLs shorter than the time between reads, an L1 too
   * small (with the size that would fix it, from replaying the latest reads through its policy),
   * key cardinality explosion, near-duplicate keys, one-hit wonders, Redis evicting.
   */
  diagnose(): Promise<Diagnosis> {
    return this.#report.diagnose()
  }

  /** Releases every handle the cache opened (a client you passed in stays open). Idempotent. */
  async close(): Promise<void> {
    if (this.#lifecycle.closed) return
    this.#lifecycle.closed = true
    this.#stopPublishing?.()
    // Write-behinds first: draining them needs the L2.
    await closeWriteBehinds(this)
    await Promise.all([...this.#children].map((child) => child.close()))
    for (const controller of this.#lifecycle.controllers) controller.abort(closed())
    this.#local.clear()
    await this.#bus.close()
    await this.#remote.close()
  }

  /** The per-call resilience options, resolved (the cache-wide object when the call sets none). */
  #resilienceOf(options: ResilienceOptions): Resilience {
    return hasResilienceOptions(options) ? resolveResilience(options, this.#resilience) : this.#resilience
  }

  #assertKeys(keys: readonly string[]): void {
    if (!Array.isArray(keys)) throw new InvalidKeyError('Expected an array of keys.')
    for (const key of keys)
      if (typeof key !== 'string' || key.length === 0 || key.length > this.#maxKeyLength)
        throw invalidKeyError(key, this.#maxKeyLength)
  }
}

/** Creates a cache; see {@link CacheOptions} for every option and its default. */
export function createCache(options: CacheOptions = {}): Cache {
  return new Cache(options)
}
