import { SingleFlight } from '../coordination/single-flight.js'
import {
  ClosedError,
  FactoryError,
  InvalidKeyError,
  InvalidOptionError,
  L2Error,
  L2TimeoutError,
  SerializationError,
  StrataError,
  ValueTooLargeError,
} from '../errors.js'
import { shortenKey } from '../keys/key.js'
import { decodeEnvelope, encodeEnvelope } from '../serialization/envelope.js'
import { MsgpackSerializer } from '../serialization/msgpack.js'
import type { Serializer } from '../serialization/serializer.js'
import { TaggedJsonSerializer } from '../serialization/tagged-json.js'
import { CLONE_ON_READ, MemoryStore, MISS } from '../tiers/memory/memory-store.js'
import { createRedisTier } from '../tiers/redis/create.js'
import type { RemoteEntry, RemoteTier } from '../tiers/tier.js'
import { AdaptiveTtl } from '../ttl/adaptive.js'
import { coarseClock } from './clock.js'
import { type Duration, parseDuration } from './duration.js'
import { EntryContext } from './entry-context.js'
import { deepFreeze, type Isolation } from './isolation.js'
import {
  type CacheOptions,
  type EntryOptions,
  type GetOrSetManyOptions,
  type GetOrSetOptions,
  type ResolvedOptions,
  resolveOptions,
  resolveTtl,
  type WriteThroughOptions,
} from './options.js'
import type { StandardSchemaV1 } from './standard-schema.js'
import { type CacheStats, emptyCounters } from './stats.js'

/** Whether an L2 failure reaches the caller: reads degrade to misses, writes and deletes must be known. */
type L2Failure = 'suppress' | 'throw'

/** What an L2 read returns when the L2 itself failed (as opposed to not having the key). */
const L2_UNAVAILABLE = Symbol('l2-unavailable')

interface Decoded {
  value: unknown
  createdAt: number
  expiresAt: number
  tags: readonly string[]
  size: number
}

/**
 * A two-tier cache: an in-process L1 in front of an optional shared L2, behind one `getOrSet`.
 * Create it with {@link createCache}.
 */
export class Cache {
  readonly namespace: string
  readonly version: string
  readonly #options: ResolvedOptions
  readonly #l1: MemoryStore | undefined
  readonly #l1TtlMs: number
  readonly #isolation: Isolation
  readonly #l2: RemoteTier | undefined
  readonly #serializer: Serializer
  readonly #clock: () => number
  readonly #prefix: string
  readonly #flights = new SingleFlight<unknown>()
  /** Loads in flight that a write or delete has overtaken: their result must not be stored. */
  readonly #overtaken = new Map<string, { overtaken: boolean }>()
  readonly #counters = emptyCounters()
  #closed = false

  constructor(options: CacheOptions = {}) {
    const resolved = resolveOptions(options)
    this.#options = resolved
    this.namespace = resolved.namespace
    this.version = resolved.version
    this.#clock = options.clock === undefined ? coarseClock(resolved.clock) : resolved.clock
    this.#prefix = `${resolved.namespace}:${resolved.version}:`
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
    } else {
      this.#l1TtlMs = 0
      this.#isolation = 'none'
    }
    if (resolved.l2) {
      this.#l2 =
        resolved.l2.tier ??
        createRedisTier(resolved.l2, {
          timeoutMs: resolved.l2TimeoutMs,
          batchSize: resolved.l2BatchSize,
          onError: () => {
            this.#counters.l2ConnectionErrors++
          },
        })
    }
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
  async getOrSet<T>(options: GetOrSetOptions<T>): Promise<T> {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidOptionError('getOrSet expects { key, factory, ttl? }.')
    }
    const key = options.key
    if (typeof key !== 'string' || key.length === 0) throw invalidKey(key)
    if (typeof options.factory !== 'function') {
      throw new InvalidOptionError('getOrSet: `factory` must be a function that loads the value.')
    }
    if (this.#closed) throw closed()
    const ttl = options.ttl ?? this.#options.ttl
    if (typeof ttl === 'object') ttl.record(key)
    if (this.#l1 !== undefined && options.forceFresh !== true && options.skipL1 !== true) {
      const value = this.#l1.get(key, this.#clock())
      if (value !== MISS) {
        this.#counters.l1Hits++
        return value as T
      }
    }
    if (options.forceFresh !== true) {
      const flight = this.#flights.get(key)
      if (flight !== undefined) return flight as Promise<T>
    }
    return this.#track(key, (token) => this.#load(key, options, token)) as Promise<T>
  }

  /** The cached value for `key` from either tier, or `undefined`. */
  async get<T = unknown>(
    key: string,
    options?: Pick<EntryOptions, 'skipL1' | 'skipL2'> & { schema?: StandardSchemaV1<unknown, T> },
  ): Promise<T | undefined> {
    if (typeof key !== 'string' || key.length === 0) throw invalidKey(key)
    if (this.#closed) throw closed()
    const skipL1 = options?.skipL1 === true
    if (this.#l1 !== undefined && !skipL1) {
      const value = this.#l1.get(key, this.#clock())
      if (value !== MISS) {
        this.#counters.l1Hits++
        return value as T
      }
    }
    if (this.#l2 !== undefined && options?.skipL2 !== true) {
      const found = await this.#readL2(key, options?.schema, skipL1)
      if (found !== undefined && found !== L2_UNAVAILABLE) return found.value as T
    }
    this.#counters.misses++
    return undefined
  }

  /** Synchronous L1-only read: the value if this process holds it, else `undefined`. */
  peek<T = unknown>(key: string): T | undefined {
    if (typeof key !== 'string' || key.length === 0) throw invalidKey(key)
    const value = this.#l1 === undefined ? MISS : this.#l1.get(key, this.#clock())
    return value === MISS ? undefined : (value as T)
  }

  /** Values for `keys` (aligned; `undefined` where absent): L1 first, then one L2 round trip for the rest. */
  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    this.#assertKeys(keys)
    if (this.#closed) throw closed()
    const out: (T | undefined)[] = new Array(keys.length)
    const missing: number[] = []
    for (let i = 0; i < keys.length; i++) {
      const value = this.#l1 === undefined ? MISS : this.#l1.get(keys[i] as string, this.#clock())
      if (value !== MISS) {
        this.#counters.l1Hits++
        out[i] = value as T
      } else missing.push(i)
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
    return out
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
    if (typeof key !== 'string' || key.length === 0) throw invalidKey(key)
    if (this.#closed) throw closed()
    if (value === undefined) {
      throw new InvalidOptionError(
        'set: undefined is never cached; call delete(key) to remove an entry, or cache null.',
      )
    }
    this.#overtake(key)
    const ttl = this.#ttlFor(key, value, options)
    await this.#write(key, value, ttl, this.#tagsOf(options), options, 'throw')
  }

  /**
   * Runs `write(value)` against the source of truth first and caches the value only if it
   * succeeded; if it throws, the cache is untouched and the error propagates as is.
   */
  async writeThrough<T>(options: WriteThroughOptions<T>): Promise<T> {
    if (typeof options !== 'object' || options === null || typeof options.write !== 'function') {
      throw new InvalidOptionError('writeThrough expects { key, value, write: (value) => Promise }.')
    }
    if (typeof options.key !== 'string' || options.key.length === 0) throw invalidKey(options.key)
    await options.write(options.value)
    await this.set(options.key, options.value, options)
    return options.value
  }

  /** Removes `key` from both tiers. Rejects with E_L2 if the L2 delete failed. */
  async delete(key: string): Promise<void> {
    await this.deleteMany([key])
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#assertKeys(keys)
    if (this.#closed) throw closed()
    for (const key of keys) {
      this.#overtake(key)
      this.#l1?.delete(key)
    }
    this.#counters.deletes += keys.length
    if (this.#l2 === undefined || keys.length === 0) return
    try {
      await this.#l2.delete(keys.map((k) => this.#storageKey(k)))
    } catch (error) {
      throw this.#l2Failure(error, 'delete')
    }
  }

  /** Removes every entry of this cache's namespace (all versions) — never FLUSHDB, never KEYS. */
  async clear(): Promise<void> {
    if (this.#closed) throw closed()
    for (const key of this.#overtaken.keys()) this.#overtake(key)
    this.#l1?.clear()
    if (this.#l2 === undefined) return
    try {
      await this.#l2.deleteByPrefix(`${this.namespace}:`)
    } catch (error) {
      throw this.#l2Failure(error, 'clear')
    }
  }

  /**
   * Bulk read-through: L1, then one L2 round trip for what L1 lacked, then one `factory` call with
   * only the keys still missing. Keys already loading (by any getOrSet) are joined, not reloaded.
   */
  async getOrSetMany<T>(options: GetOrSetManyOptions<T>): Promise<Map<string, T>> {
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
    return result
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
  ): (...args: A) => Promise<R> {
    if (typeof fn !== 'function' || typeof options?.key !== 'function') {
      throw new InvalidOptionError(
        'wrap(fn, { key: (...args) => string }) needs a function and a key builder.',
      )
    }
    const { key, ...entry } = options
    return (...args: A) => this.getOrSet<R>({ ...entry, key: key(...args), factory: () => fn(...args) })
  }

  /** Counters since creation, plus current sizes. */
  stats(): CacheStats {
    return {
      ...this.#counters,
      l1Evictions: this.#l1?.evictions ?? 0,
      l1Expirations: this.#l1?.expirations ?? 0,
      l1Entries: this.#l1?.size ?? 0,
      l1Bytes: this.#l1?.bytes ?? 0,
      inFlight: this.#flights.size,
    }
  }

  /** Releases every handle the cache opened (a client you passed in stays open). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#l1?.clear()
    await this.#l2?.close()
  }

  // ---- internals -------------------------------------------------------------------------

  /** Registers a load as the key's flight, with a token that a later write or delete can mark overtaken. */
  #track(key: string, start: (token: { overtaken: boolean }) => Promise<unknown>): Promise<unknown> {
    const token = { overtaken: false }
    this.#overtaken.set(key, token)
    const flight = this.#flights.track(key, start(token))
    const done = () => {
      if (this.#overtaken.get(key) === token) this.#overtaken.delete(key)
    }
    flight.then(done, done)
    return flight
  }

  /** A write or delete of `key` happened: an in-flight load of it must not store its (older) result. */
  #overtake(key: string): void {
    const token = this.#overtaken.get(key)
    if (token !== undefined) {
      token.overtaken = true
      this.#overtaken.delete(key)
      this.#flights.forget(key)
    }
  }

  async #load<T>(key: string, options: GetOrSetOptions<T>, token: { overtaken: boolean }): Promise<T> {
    let writeOptions: EntryOptions = options
    if (this.#l2 !== undefined && options.skipL2 !== true && options.forceFresh !== true) {
      const found = await this.#readL2(key, options.schema, options.skipL1 === true)
      // The L2 just failed this key: do not make the caller wait a second deadline for the write-back.
      if (found === L2_UNAVAILABLE) writeOptions = { ...options, skipL2: true }
      else if (found !== undefined) return found.value as T
    }
    this.#counters.misses++
    const context = new EntryContext(key, this.#ttlFor(key, undefined, options), this.#tagsOf(options))
    this.#counters.factoryCalls++
    let value: T
    try {
      value = await options.factory(context)
    } catch (cause) {
      this.#counters.factoryErrors++
      throw new FactoryError(`The factory of getOrSet failed: ${describe(cause)}`, key, { cause })
    }
    if (value === undefined || context.skipped || token.overtaken) return value
    const ttl = context.ttlChanged ? parseDuration(context.ttl, 'ctx.ttl') : this.#ttlFor(key, value, options)
    await this.#write(key, value, ttl, context.tags, writeOptions, 'suppress')
    return value
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
    const remote: RemoteEntry[] = []
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
      await (this.#l2 as RemoteTier).setMany(remote)
    } catch (error) {
      this.#l2Failure(error, 'setMany')
    }
  }

  /** Reads and decodes one L2 entry; any failure is a miss (counted), never an error. */
  async #readL2(
    key: string,
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1: boolean,
  ): Promise<Decoded | undefined | typeof L2_UNAVAILABLE> {
    let bytes: Uint8Array | undefined
    try {
      bytes = await (this.#l2 as RemoteTier).get(this.#storageKey(key))
    } catch (error) {
      this.#l2Failure(error, 'get')
      return L2_UNAVAILABLE
    }
    return bytes === undefined ? undefined : this.#acceptL2(key, bytes, schema, skipL1)
  }

  async #readManyL2(
    keys: readonly string[],
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1 = false,
  ): Promise<(Decoded | undefined)[]> {
    let values: (Uint8Array | undefined)[]
    try {
      values = await (this.#l2 as RemoteTier).getMany(keys.map((k) => this.#storageKey(k)))
    } catch (error) {
      this.#l2Failure(error, 'getMany')
      return keys.map(() => undefined)
    }
    return Promise.all(
      values.map((bytes, i) =>
        bytes === undefined ? undefined : this.#acceptL2(keys[i] as string, bytes, schema, skipL1),
      ),
    )
  }

  /** Decodes, checks expiry and schema, counts the hit and backfills the L1 with the remaining TTL. */
  /**
   * Decodes, checks expiry and schema, counts the hit and backfills the L1 with the remaining TTL.
   * Synchronous unless a schema validates asynchronously: the common read path adds no await.
   */
  #acceptL2(
    key: string,
    bytes: Uint8Array,
    schema: StandardSchemaV1<unknown, unknown> | undefined,
    skipL1: boolean,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    const decoded = this.#decode(bytes)
    if (decoded === undefined || decoded.expiresAt <= this.#clock()) return undefined
    if (schema === undefined) return this.#acceptDecoded(key, decoded, skipL1)
    const result = schema['~standard'].validate(decoded.value)
    return result instanceof Promise
      ? result.then((settled) => this.#acceptValidated(key, decoded, settled, skipL1))
      : this.#acceptValidated(key, decoded, result, skipL1)
  }

  #acceptValidated(
    key: string,
    decoded: Decoded,
    result: StandardSchemaV1.Result<unknown>,
    skipL1: boolean,
  ): Decoded | undefined {
    if (result.issues !== undefined) {
      this.#counters.schemaFailures++
      return undefined
    }
    decoded.value = result.value
    return this.#acceptDecoded(key, decoded, skipL1)
  }

  #acceptDecoded(key: string, decoded: Decoded, skipL1: boolean): Decoded {
    this.#counters.l2Hits++
    if (this.#l1 !== undefined && !skipL1) {
      const now = this.#clock()
      const expiresAt = Math.min(decoded.expiresAt, now + this.#l1TtlMs)
      decoded.value = this.#storeL1(
        key,
        decoded.value,
        now,
        expiresAt,
        decoded.size,
        decoded.tags,
        0,
        expiresAt,
      )
    }
    return decoded
  }

  #decode(bytes: Uint8Array): Decoded | undefined {
    try {
      const envelope = decodeEnvelope(bytes, this.#options.maxValueBytes)
      return {
        value: this.#serializer.decode(envelope.payload),
        createdAt: envelope.createdAt,
        expiresAt: envelope.expiresAt,
        tags: envelope.tags,
        size: bytes.byteLength,
      }
    } catch {
      this.#counters.decodeErrors++
      return undefined
    }
  }

  /** Writes both tiers; an L2 failure is counted, and rethrown only when the caller must know. */
  async #write(
    key: string,
    value: unknown,
    ttlMs: number,
    tags: readonly string[],
    options: EntryOptions,
    onL2Failure: L2Failure,
  ): Promise<void> {
    const remote = this.#writeL1(key, value, ttlMs, tags, options)
    if (remote === undefined) return
    try {
      await (this.#l2 as RemoteTier).set(remote.key, remote.value, remote.ttlMs)
    } catch (error) {
      const failure = this.#l2Failure(error, 'set')
      if (onL2Failure === 'throw') throw failure
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
  ): RemoteEntry | undefined {
    const payload = this.#encode(value)
    const now = this.#clock()
    const ttl = this.#jitter(ttlMs)
    if (!(ttl > 0)) {
      this.#l1?.delete(key)
      return undefined
    }
    const expiresAt = now + ttl
    this.#counters.sets++
    if (this.#l1 !== undefined && options.skipL1 !== true) {
      let l1Expiry = Math.min(expiresAt, now + this.#l1TtlMs)
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
        l1Expiry = Math.min(l1Expiry, maxExpiresAt)
      }
      this.#storeL1(key, value, now, l1Expiry, payload.byteLength, tags, slideMs, maxExpiresAt)
    }
    if (this.#l2 === undefined || options.skipL2 === true) return undefined
    const bytes = encodeEnvelope({ createdAt: now, expiresAt, tags, payload }, this.#options.compressAbove)
    return { key: this.#storageKey(key), value: bytes, ttlMs: ttl }
  }

  /** Puts a value in the L1 under the isolation policy; returns what callers should receive. */
  #storeL1(
    key: string,
    value: unknown,
    now: number,
    expiresAt: number,
    size: number,
    tags: readonly string[],
    slideMs: number,
    maxExpiresAt: number,
  ): unknown {
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
      cloneOnRead ? CLONE_ON_READ : 0,
      tags,
      now,
      slideMs,
      maxExpiresAt,
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

  #tagsOf(options: EntryOptions): readonly string[] {
    const tags = options.tags
    if (tags === undefined) return []
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t.length === 0)) {
      throw new InvalidOptionError('tags must be an array of non-empty strings.')
    }
    return tags
  }

  #storageKey(key: string): string {
    return shortenKey(this.#prefix + key, this.#options.maxKeyBytes)
  }

  #assertKeys(keys: readonly string[]): void {
    if (!Array.isArray(keys)) throw new InvalidKeyError('Expected an array of keys.')
    for (const key of keys) if (typeof key !== 'string' || key.length === 0) throw invalidKey(key)
  }

  /** Counts an L2 failure and returns the error a caller should see if it must see one. */
  #l2Failure(error: unknown, operation: string): StrataError {
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

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
