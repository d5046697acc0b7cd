import { randomUUID } from 'node:crypto'
import { type ClockTimers, SYSTEM_TIMERS } from '../base/clock.js'
import { ClosedError, L2UnavailableError } from '../errors.js'
import type { LockService } from './lock.js'

/** A lock this process holds: renewed in the background until released. */
export interface HeldLock {
  /** Stops the renewal and releases the lock (compare-and-delete); settles when Redis answered, never rejects. */
  release(): Promise<void>
}

export interface KeyLockOptions {
  /** How long a lock lives without renewal: a holder that dies blocks the others this long at most. */
  ttlMs: number
  /** Called when a renewal or release fails (the lock then expires by itself). */
  onError: (error: unknown) => void
  /** The clock renewals are scheduled on (the cache's; a test's fake clock fires them). Default: the system's. */
  timers?: ClockTimers
  /**
   * The same locks without the circuit breaker, which renewals, releases (and the undoing of a
   * failed take, see {@link KeyLocks.tryAcquire}) go through. Default: the service locks are taken
   * through. A release the breaker stops leaves a lock nobody holds, and the other processes, whose
   * breakers may be closed, wait for its holder's value until it expires; the failure being undone
   * may be the one that opened the breaker; and a renewal the breaker stops (open for its whole
   * break, while the L2 may answer again after a blip) lets a live holder's lock expire, so
   * another process takes it and runs the factory at the same time. None is on a caller's path.
   */
  unguarded?: LockService
}

/**
 * Takes per-key locks for distributed single-flight and keeps them alive while the factory runs:
 * renewed every third of the TTL, so a live holder never loses its lock to a slow factory and a
 * dead one (SIGKILL, lost host) gives it up within one TTL.
 */
export class KeyLocks {
  readonly #locks: LockService
  readonly #options: KeyLockOptions
  readonly #unguarded: LockService
  readonly #held = new Set<() => void>()

  constructor(locks: LockService, options: KeyLockOptions) {
    this.#locks = locks
    this.#options = options
    this.#unguarded = options.unguarded ?? locks
  }

  /**
   * Takes the lock `key` if free; undefined when another process holds it. Rejects when the L2
   * fails — and then undoes the acquire: a Redis that froze runs the SET when it wakes, long after
   * this process gave up on it and went on without the lock. Nobody would release that lock, and
   * every other process would wait for its holder's value until it expired (a `getOrSet` took
   * 4.8 s after a 5 s freeze). A compare-and-delete of the token, sent behind the SET on the same
   * connection, removes it; if the SET never ran, it removes nothing.
   */
  async tryAcquire(key: string, ttlMs = this.#options.ttlMs): Promise<HeldLock | undefined> {
    const token = randomUUID()
    let acquired: boolean
    try {
      acquired = await this.#locks.acquire(key, token, ttlMs)
    } catch (error) {
      // Not sent at all (breaker open, tier closed): nothing to undo.
      if (!(error instanceof L2UnavailableError || error instanceof ClosedError)) {
        // Unreported: the acquire's failure was, and this is the same outage. If it fails too, the
        // lock expires by itself.
        this.#unguarded.release(key, token).catch(() => {})
      }
      throw error
    }
    if (!acquired) return undefined
    const unguarded = this.#unguarded
    const onError = this.#options.onError
    const timers = this.#options.timers ?? SYSTEM_TIMERS
    const everyMs = Math.max(1, Math.floor(ttlMs / 3))
    let renewal: unknown
    const schedule = () => {
      renewal = timers.setTimeout(() => {
        unguarded.extend(key, token, ttlMs).catch(onError)
        schedule()
      }, everyMs)
      // A renewal alone never keeps the process alive.
      ;(renewal as { unref?: () => void }).unref?.()
    }
    schedule()
    let released = false
    const stop = () => {
      timers.clearTimeout(renewal)
      this.#held.delete(stop)
    }
    this.#held.add(stop)
    return {
      release: async () => {
        if (released) return
        released = true
        stop()
        await unguarded.release(key, token).catch(onError)
      },
    }
  }

  /** Stops every renewal (on close): the locks expire by themselves. */
  stopAll(): void {
    for (const stop of [...this.#held]) stop()
  }
}
