import type { RemoteEntry, RemoteTier } from '../tier.js'

/**
 * An in-process stand-in for a shared L2: several caches given the same instance share entries,
 * as they would through Redis. For unit tests and single-process tools; TTLs follow `clock`.
 */
export class MemoryRemoteTier implements RemoteTier {
  readonly name = 'memory'
  readonly #entries = new Map<string, { value: Uint8Array; expiresAt: number }>()
  readonly #clock: () => number
  /** Round trips served, for tests that count them. */
  roundTrips = 0

  constructor(options: { clock?: () => number } = {}) {
    this.#clock = options.clock ?? Date.now
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

  #write(key: string, value: Uint8Array, ttlMs: number): void {
    // Copy: a caller reusing its buffer must not change what is stored, as with a real server.
    this.#entries.set(key, { value: Uint8Array.from(value), expiresAt: this.#clock() + ttlMs })
  }
}
