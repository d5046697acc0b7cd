import type { LockService } from '../../coordination/lock.js'
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
  readonly #entries = new Map<string, { value: Uint8Array; expiresAt: number }>()
  readonly #clock: () => number
  /** Round trips served (every call, pings and lock calls included), for tests that count them. */
  roundTrips = 0

  constructor(options: MemoryRemoteTierOptions = {}) {
    this.#clock = options.clock ?? Date.now
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
    return this.#read(key)
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    this.roundTrips++
    return keys.map((k) => this.#read(k))
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

  async deleteByPrefix(prefix: string): Promise<number> {
    this.roundTrips++
    let deleted = 0
    for (const k of [...this.#entries.keys()]) if (k.startsWith(prefix) && this.#entries.delete(k)) deleted++
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

  #read(key: string): Uint8Array | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt <= this.#clock()) {
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
    this.#entries.set(key, { value: Uint8Array.from(value), expiresAt: this.#clock() + ttlMs })
  }
}
