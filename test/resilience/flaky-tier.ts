/**
 * A chaos wrapper for unit tests: a RemoteTier over a {@link MemoryRemoteTier} that can be made to
 * fail every call, and that counts what reaches it. No Redis involved.
 */
import type { LockService } from '../../dist/coordination/lock.js'
import { MemoryRemoteTier } from '../../dist/tiers/memory/memory-remote-tier.js'
import type { RemoteEntry, RemoteTier } from '../../dist/tiers/tier.js'

export class FlakyTier implements RemoteTier {
  readonly name = 'flaky'
  readonly store: MemoryRemoteTier
  readonly locks?: LockService
  /** When set, every call (ping and lock calls included) rejects with it. */
  failing: Error | undefined
  /** When set, ping waits for it before answering (to hold a probe in progress). */
  pingGate: Promise<void> | undefined
  /** Calls that reached this tier, by method ('ping', 'get', 'locks.acquire'…). */
  readonly calls: string[] = []
  closed = 0

  /** `clock`: the time the store's TTLs and lock expiry follow (default `Date.now`). */
  constructor(options: { locks?: boolean; clock?: () => number } = {}) {
    this.store = new MemoryRemoteTier({
      locks: options.locks ?? true,
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    })
    const locks = this.store.locks
    if (locks !== undefined) {
      this.locks = {
        acquire: (key, token, ttlMs) => this.#run('locks.acquire', () => locks.acquire(key, token, ttlMs)),
        extend: (key, token, ttlMs) => this.#run('locks.extend', () => locks.extend(key, token, ttlMs)),
        release: (key, token) => this.#run('locks.release', () => locks.release(key, token)),
      }
    }
  }

  count(method: string): number {
    return this.calls.filter((c) => c === method).length
  }

  get(key: string) {
    return this.#run('get', () => this.store.get(key))
  }
  getMany(keys: readonly string[]) {
    return this.#run('getMany', () => this.store.getMany(keys))
  }
  set(key: string, value: Uint8Array, ttlMs: number) {
    return this.#run('set', () => this.store.set(key, value, ttlMs))
  }
  setMany(entries: readonly RemoteEntry[]) {
    return this.#run('setMany', () => this.store.setMany(entries))
  }
  delete(keys: readonly string[]) {
    return this.#run('delete', () => this.store.delete(keys))
  }
  deleteByPrefix(prefix: string) {
    return this.#run('deleteByPrefix', () => this.store.deleteByPrefix(prefix))
  }
  ping() {
    return this.#run('ping', async () => {
      await this.pingGate
      if (this.failing) throw this.failing
    })
  }
  async close() {
    this.closed++
  }

  async #run<T>(method: string, call: () => Promise<T>): Promise<T> {
    this.calls.push(method)
    if (this.failing) throw this.failing
    return call()
  }
}
