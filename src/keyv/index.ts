/**
 * `stratacache/keyv`: a Keyv storage adapter over a stratacache {@link Cache}, so that Keyv,
 * cache-manager 7, cacheable and `@nestjs/cache-manager` read and write through the cache's L1 + L2
 * (see docs/integrations.md). Keyv stays an optional peer: this file imports only its types.
 */
import { EventEmitter } from 'node:events'
import type { KeyvOptions, KeyvStoreAdapter, StoredData } from 'keyv'
import { describeValue } from '../base/describe.js'
import type { Cache } from '../core/cache.js'
import { InvalidOptionError } from '../errors.js'
import { escapeGlob } from '../keys/key.js'

export interface KeyvStoreOptions {
  /**
   * `false` (default): store what Keyv hands over — its serialized envelope — untouched; any Keyv
   * configuration works. `true`: store the value itself, so `cache.get(key)` of the same cache
   * reads what Keyv wrote and the reverse; build Keyv with {@link sharedKeyvOptions} (no
   * serializer, no key prefix) for this.
   */
  shareValues?: boolean
}

/** Keyv's envelope when it serializes nothing (`serialize: undefined`). */
interface Envelope {
  value: unknown
  expires?: number | null | undefined
}

/** A Keyv storage adapter over one stratacache instance. Keys and TTLs reach the cache as given. */
export class KeyvStratacache extends EventEmitter implements KeyvStoreAdapter {
  /** Keyv reads adapter options from here (its iterator check); nothing of the cache's. */
  opts: Record<string, unknown> = {}
  /** Set by Keyv: its keys arrive prefixed `<namespace>:`, and clear() removes only those. */
  namespace?: string | undefined
  readonly #cache: Cache
  readonly #shareValues: boolean

  constructor(cache: Cache, options: KeyvStoreOptions = {}) {
    super()
    if (cache === null || typeof cache !== 'object' || typeof cache.getOrSet !== 'function') {
      throw new InvalidOptionError(
        'KeyvStratacache expects a stratacache Cache: new KeyvStratacache(createCache({ ... })).',
      )
    }
    const shareValues = options.shareValues ?? false
    if (typeof shareValues !== 'boolean') {
      throw new InvalidOptionError(
        `KeyvStratacache: shareValues must be true or false; got ${describeValue(shareValues)}.`,
      )
    }
    this.#cache = cache
    this.#shareValues = shareValues
  }

  async get<Value>(key: string): Promise<StoredData<Value> | undefined> {
    return this.#fromCache(await this.#cache.get(key)) as StoredData<Value> | undefined
  }

  async getMany<Value>(keys: string[]): Promise<Array<StoredData<Value | undefined>>> {
    const found = await this.#cache.getMany(keys)
    // Array.from, not map: the cache's result may be sparse where nothing was found.
    return Array.from(found, (stored) => this.#fromCache(stored)) as Array<StoredData<Value | undefined>>
  }

  /**
   * `ttl` in milliseconds, as Keyv passes it; none (or 0) means no expiry (Keyv's meaning, not the
   * cache's default TTL), a negative one an expiry already past: the key is deleted, as Keyv would
   * never read it back (e.g. `ttl = token.expiresAt - Date.now()` for an expired token). NaN, or
   * anything else that is not a number, is refused: it fails every comparison, and so used to
   * fall through to "no expiry" (a TTL computed from a missing value cached for good).
   */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    if (ttl !== undefined && (typeof ttl !== 'number' || Number.isNaN(ttl))) {
      throw new InvalidOptionError(
        `KeyvStratacache set(${describeValue(key)}): ttl must be a number of milliseconds (0 or none for no expiry); got ${describeValue(ttl)}, which would have cached the key for good. A NaN usually comes from arithmetic on a missing value.`,
      )
    }
    const stored = this.#toCache(value)
    if (stored === undefined || (typeof ttl === 'number' && ttl < 0)) {
      await this.#cache.delete(key)
      return true
    }
    await this.#cache.set(key, stored, {
      ttl: typeof ttl === 'number' && ttl > 0 ? ttl : Number.POSITIVE_INFINITY,
    })
    return true
  }

  async setMany(entries: Array<{ key: string; value: unknown; ttl?: number }>): Promise<void> {
    await Promise.all(entries.map((entry) => this.set(entry.key, entry.value, entry.ttl)))
  }

  /** Resolves to whether the key held a value (Keyv's contract), after removing it from both tiers. */
  async delete(key: string): Promise<boolean> {
    return this.deleteMany([key])
  }

  /** Resolves to whether any of the keys held a value. */
  async deleteMany(keys: string[]): Promise<boolean> {
    const held = (await this.hasMany(keys)).some(Boolean)
    await this.#cache.deleteMany(keys)
    return held
  }

  async has(key: string): Promise<boolean> {
    return this.#cache.has(key)
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return Array.from(await this.#cache.getMany(keys), (value) => value !== undefined)
  }

  /** Removes this Keyv namespace's keys (every instance's L1 and the L2); the whole cache without a namespace. */
  async clear(): Promise<void> {
    if (this.namespace === undefined || this.namespace === '') await this.#cache.clear()
    else await this.#cache.deleteMatching(`${escapeGlob(this.namespace)}:*`)
  }

  /** The cache belongs to its creator, who closes it: Keyv's disconnect leaves it open. */
  async disconnect(): Promise<void> {}

  #toCache(value: unknown): unknown {
    if (!this.#shareValues) return value
    if (value === null || typeof value !== 'object' || !('value' in value)) {
      throw new InvalidOptionError(
        'KeyvStratacache with shareValues: true received serialized data; build Keyv with new Keyv(sharedKeyvOptions(cache)) so that it hands over { value, expires }.',
      )
    }
    return (value as Envelope).value
  }

  #fromCache(stored: unknown): unknown {
    if (stored === undefined) return undefined
    // The cache enforces the TTL itself: no expiry for Keyv to check again.
    return this.#shareValues ? ({ value: stored, expires: undefined } satisfies Envelope) : stored
  }
}

/**
 * Options for `new Keyv(...)` (and so for cache-manager's `stores`) that share keys and values with
 * `cache`: no key prefix (an empty namespace), no serializer — the cache serializes for its L2 itself.
 */
export function sharedKeyvOptions(cache: Cache): KeyvOptions & { store: KeyvStratacache } {
  const options: KeyvOptions & { store: KeyvStratacache } = {
    store: new KeyvStratacache(cache, { shareValues: true }),
    namespace: '',
  }
  // Keyv serializes only when it has a serializer: without one it hands the store { value, expires }.
  Object.assign(options, { serialize: undefined, deserialize: undefined })
  return options
}
