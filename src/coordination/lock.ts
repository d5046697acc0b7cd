/**
 * Cross-process mutual exclusion per key: the seam of distributed single-flight. A lock is held
 * by whoever knows its random `token`, expires by itself after `ttlMs` (so a holder that dies
 * never blocks the others for longer than that), and is released or extended only by its holder
 * (compare-and-delete / compare-and-expire, atomically on the server).
 */
export interface LockService {
  /** Takes the lock `key` for `ttlMs` if nobody holds it; true when this call took it. */
  acquire(key: string, token: string, ttlMs: number): Promise<boolean>
  /** Pushes the lock's expiry to `ttlMs` from now if `token` still holds it; true when it did. */
  extend(key: string, token: string, ttlMs: number): Promise<boolean>
  /** Releases the lock if `token` still holds it; true when it did. */
  release(key: string, token: string): Promise<boolean>
  /**
   * True when an `acquire` and a read of the tier issued right after it reach the server in that
   * order (one connection): the two can then be sent together, and the read still sees anything
   * written before the lock was taken.
   */
  readonly orderedWithReads?: boolean
}
