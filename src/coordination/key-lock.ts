import { randomUUID } from 'node:crypto'
import type { LockService } from './lock.js'

/** A lock this process holds: renewed in the background until released. */
export interface HeldLock {
  /** Stops the renewal and releases the lock (compare-and-delete); never rejects. */
  release(): void
}

export interface KeyLockOptions {
  /** How long a lock lives without renewal: a holder that dies blocks the others this long at most. */
  ttlMs: number
  /** Called when a renewal or release fails (the lock then expires by itself). */
  onError: (error: unknown) => void
}

/**
 * Takes per-key locks for distributed single-flight and keeps them alive while the factory runs:
 * renewed every third of the TTL, so a live holder never loses its lock to a slow factory and a
 * dead one (SIGKILL, lost host) gives it up within one TTL.
 */
export class KeyLocks {
  readonly #locks: LockService
  readonly #options: KeyLockOptions
  readonly #held = new Set<() => void>()

  constructor(locks: LockService, options: KeyLockOptions) {
    this.#locks = locks
    this.#options = options
  }

  /** Takes the lock `key` if free; undefined when another process holds it. Rejects when the L2 fails. */
  async tryAcquire(key: string, ttlMs = this.#options.ttlMs): Promise<HeldLock | undefined> {
    const token = randomUUID()
    if (!(await this.#locks.acquire(key, token, ttlMs))) return undefined
    const locks = this.#locks
    const onError = this.#options.onError
    const renew = setInterval(
      () => {
        locks.extend(key, token, ttlMs).catch(onError)
      },
      Math.max(1, Math.floor(ttlMs / 3)),
    )
    renew.unref()
    let released = false
    const stop = () => {
      clearInterval(renew)
      this.#held.delete(stop)
    }
    this.#held.add(stop)
    return {
      release: () => {
        if (released) return
        released = true
        stop()
        locks.release(key, token).catch(onError)
      },
    }
  }

  /** Stops every renewal (on close): the locks expire by themselves. */
  stopAll(): void {
    for (const stop of [...this.#held]) stop()
  }
}
