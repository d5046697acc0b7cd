import { expectObject } from '../../base/describe.js'
import type { LockService } from '../../coordination/lock.js'
import type { Bus } from '../../invalidation/bus.js'
import {
  decodeMarker,
  encodeMarker,
  holdsNewer,
  type InvalidationMode,
  type InvalidationStore,
  isTombstone,
  type TagMarker,
  tombstoneBytes,
} from '../../invalidation/store.js'
import { globToRegExp } from '../../keys/glob.js'
import { pxOf } from '../redis/adapter.js'
import type { RemoteEntry, RemoteTier } from '../tier.js'

export interface MemoryRemoteTierOptions {
  /** Time source for TTLs and lock expiry (default `Date.now`). */
  clock?: () => number
  /** `false` gives a tier without `locks`, like a Redis adapter without the lock commands (default true). */
  locks?: boolean
}

const encoder = new TextEncoder()

/**
 * An in-process stand-in for a shared L2: several caches given the same instance share entries,
 * and its {@link locks}, as they would through Redis. For unit tests and single-process tools;
 * TTLs and lock expiry follow `clock`.
 */
export class MemoryRemoteTier implements RemoteTier {
  readonly name = 'memory'
  /**
   * Per-key locks, shared by everything using this instance. As in Redis, a lock is an entry
   * whose value is its token (UTF-8): it expires by `clock`, shows in {@link keys}, and a delete
   * or deleteByPrefix that covers its key releases it. Each call counts one round trip.
   */
  declare readonly locks?: LockService
  readonly invalidation: InvalidationStore
  /** An in-process bus: every cache sharing this tier hears the others, as over Redis pub/sub. */
  readonly bus: MemoryBus = new MemoryBus()
  readonly #entries = new Map<string, { value: Uint8Array; expiresAt: number }>()
  readonly #clock: () => number
  /** Round trips served (every call, pings and lock calls included), for tests that count them. */
  roundTrips = 0

  constructor(options: MemoryRemoteTierOptions = {}) {
    expectObject(options, 'MemoryRemoteTier(options)')
    this.#clock = options.clock ?? Date.now
    this.invalidation = {
      // Fenced as the Redis tier's write scripts are: never over something newer.
      tombstone: async (keys, at, keepMs, bump) => {
        this.roundTrips++
        for (const key of keys) {
          const current = this.#read(key)
          if (current === undefined || !holdsNewer(current, at, false))
            this.#write(key, tombstoneBytes(at), keepMs)
        }
        if (bump !== undefined) this.#bump(bump.keys, bump.at, 'delete', 0, true)
      },
      setLoaded: async (key, value, ttlMs, since, kind = 'load', bump) => {
        this.roundTrips++
        const current = this.#read(key)
        const stored = current === undefined || !holdsNewer(current, since, kind === 'load')
        if (stored) this.#write(key, value, ttlMs)
        if (bump !== undefined) this.#bump(bump.keys, bump.at, 'delete', 0, true)
        return stored
      },
      markers: async (keys) => {
        this.roundTrips++
        return keys.map((key) => this.#marker(key))
      },
      touchMarkers: async (keys, ttlMs, createdBefore) => {
        this.roundTrips++
        const until = this.#clock() + lifetimeOf(ttlMs)
        for (const key of keys) {
          const entry = this.#read(key) === undefined ? undefined : this.#entries.get(key)
          if (entry === undefined) this.#write(key, encoder.encode(`${createdBefore},0`), ttlMs)
          else if (entry.expiresAt < until) entry.expiresAt = until
        }
      },
      bumpMarkers: async (keys, at, mode, ttlMs, onlyExisting = false) => {
        this.roundTrips++
        this.#bump(keys, at, mode, ttlMs, onlyExisting)
      },
    }
    if (options.locks !== false) {
      this.locks = {
        acquire: async (key, token, ttlMs) => {
          this.roundTrips++
          if (this.#read(key) !== undefined) return false
          this.#write(key, encoder.encode(token), ttlMs)
          return true
        },
        extend: async (key, token, ttlMs) => {
          this.roundTrips++
          if (!this.#holds(key, token)) return false
          this.#write(key, encoder.encode(token), ttlMs)
          return true
        },
        orderedWithReads: true,
        release: async (key, token) => {
          this.roundTrips++
          return this.#holds(key, token) && this.#entries.delete(key)
        },
      }
    }
  }

  /** Answers at once: this tier is never down. */
  async ping(): Promise<void> {
    this.roundTrips++
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    this.roundTrips++
    return this.#readValue(key)
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    this.roundTrips++
    return keys.map((k) => this.#readValue(k))
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.roundTrips++
    this.#write(key, value, ttlMs)
  }

  async setMany(entries: readonly RemoteEntry[]): Promise<void> {
    this.roundTrips++
    for (const entry of entries) this.#write(entry.key, entry.value, entry.ttlMs)
  }

  async delete(keys: readonly string[]): Promise<number> {
    this.roundTrips++
    let deleted = 0
    for (const k of keys) if (this.#read(k) !== undefined && this.#entries.delete(k)) deleted++
    return deleted
  }

  async deleteByPrefix(prefix: string, pattern = '*'): Promise<number> {
    this.roundTrips++
    const match = globToRegExp(pattern)
    let deleted = 0
    for (const k of [...this.#entries.keys()]) {
      if (!k.startsWith(prefix) || !match.test(k.slice(prefix.length))) continue
      // An expired key is gone already (#read drops it), as SCAN skips it and DEL counts 0 for it in Redis.
      if (this.#read(k) !== undefined && this.#entries.delete(k)) deleted++
    }
    return deleted
  }

  /** Writes raw bytes, as another program sharing the store would. */
  writeRaw(key: string, value: Uint8Array): void {
    this.#entries.set(key, { value, expiresAt: Number.POSITIVE_INFINITY })
  }

  keys(): string[] {
    return [...this.#entries.keys()].filter((k) => this.#read(k) !== undefined)
  }

  async close(): Promise<void> {}

  /** A value as a reader sees it: tombstones are misses. */
  #readValue(key: string): Uint8Array | undefined {
    const value = this.#read(key)
    return value === undefined || isTombstone(value) ? undefined : value
  }

  #bump(
    keys: readonly string[],
    at: number,
    mode: InvalidationMode,
    ttlMs: number,
    onlyExisting: boolean,
  ): void {
    for (const key of keys) {
      const existing = this.#read(key) === undefined ? undefined : this.#entries.get(key)
      if (existing === undefined && onlyExisting) continue
      const marker = bumped(this.#marker(key) ?? { deletedAt: 0, expiredAt: 0 }, at, mode)
      const bytes = encoder.encode(encodeMarker(marker))
      if (existing === undefined) this.#write(key, bytes, ttlMs)
      else existing.value = bytes
    }
  }

  #marker(key: string): TagMarker | undefined {
    const value = this.#read(key)
    return value === undefined ? undefined : decodeMarker(Buffer.from(value).toString('latin1'))
  }

  #read(key: string): Uint8Array | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    // As Redis's keyIsExpired (`now > when`): a key lives through its expiry millisecond.
    if (entry.expiresAt < this.#clock()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry.value
  }

  /** Whether `key` holds exactly the bytes of `token` (what the Lua compare does in Redis). */
  #holds(key: string, token: string): boolean {
    const value = this.#read(key)
    return (
      value !== undefined &&
      Buffer.from(value.buffer, value.byteOffset, value.byteLength).equals(encoder.encode(token))
    )
  }

  #write(key: string, value: Uint8Array, ttlMs: number): void {
    // Copy: a caller reusing its buffer must not change what is stored, as with a real server.
    this.#entries.set(key, {
      value: Uint8Array.from(value),
      expiresAt: this.#clock() + lifetimeOf(ttlMs),
    })
  }
}

/**
 * How long a write of `ttlMs` lives: the PX the Redis tier sends for it (Redis refuses PX 0 and
 * takes whole milliseconds, so 0 and fractions round up to at least 1), or forever. Without it,
 * TTL 0 would write a key already expired and 0.5 one that expires mid-millisecond: unit tests
 * would pass on semantics Redis lacks.
 */
function lifetimeOf(ttlMs: number): number {
  return pxOf(ttlMs) ?? Number.POSITIVE_INFINITY
}

function bumped(marker: TagMarker, at: number, mode: InvalidationMode): TagMarker {
  return mode === 'delete'
    ? { deletedAt: Math.max(marker.deletedAt, at), expiredAt: marker.expiredAt }
    : { deletedAt: marker.deletedAt, expiredAt: Math.max(marker.expiredAt, at) }
}

/**
 * The in-process bus of {@link MemoryRemoteTier}: delivers asynchronously (as a network would), in
 * order. `disconnect()`/`reconnect()` let tests cut it: messages published meanwhile are lost, and
 * subscribers hear 'down' then 'up', as from a Redis subscriber connection.
 */
export class MemoryBus implements Bus {
  readonly #subscribers = new Map<
    string,
    Set<{ onMessage: (m: Uint8Array) => void; onState: (s: 'up' | 'down') => void }>
  >()
  #connected = true

  async publish(channel: string, message: Uint8Array): Promise<void> {
    if (!this.#connected) return
    const copy = Uint8Array.from(message)
    for (const subscriber of this.#subscribers.get(channel) ?? []) {
      queueMicrotask(() => subscriber.onMessage(copy))
    }
  }

  async subscribe(
    channel: string,
    onMessage: (message: Uint8Array) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>> {
    let set = this.#subscribers.get(channel)
    if (set === undefined) {
      set = new Set()
      this.#subscribers.set(channel, set)
    }
    const subscriber = { onMessage, onState }
    set.add(subscriber)
    return async () => {
      set.delete(subscriber)
    }
  }

  /** Cuts every subscription: subscribers hear 'down', and what is published until `reconnect()` is lost. */
  disconnect(): void {
    this.#connected = false
    for (const set of this.#subscribers.values()) for (const s of set) s.onState('down')
  }

  reconnect(): void {
    this.#connected = true
    for (const set of this.#subscribers.values()) for (const s of set) s.onState('up')
  }

  async close(): Promise<void> {}
}
