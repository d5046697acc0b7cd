/**
 * Server-assisted invalidation (Redis client tracking, `l2.invalidation: 'tracking'`): Redis itself
 * tells this instance which keys under a prefix changed — whoever changed them, another program
 * included. Like the bus it is at-most-once: while the tracking is not in place, changes are
 * missed, so the listener hears `'down'`, and `'up'` once it is in place again (the cache then
 * drops its L1, as after a bus resync).
 */
export interface KeyTracking {
  /**
   * Has Redis report every change of a key that starts with `prefix` to `listener`. Resolves once
   * the tracking is in place (rejects when the server refuses it, e.g. an ACL without
   * `client|tracking`), to the function that stops it.
   */
  track(prefix: string, listener: TrackingListener): Promise<() => Promise<void>>
}

export interface TrackingListener {
  /** Keys (full storage keys) that changed; `null`: every key may have (FLUSHDB, FLUSHALL). */
  onKeys(keys: readonly string[] | null): void
  /** `'down'`: changes may be missed from now on; `'up'`: the tracking is in place again. */
  onState(state: 'up' | 'down'): void
}
