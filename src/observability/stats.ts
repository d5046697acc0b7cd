/** Counters since the cache was created. Cheap to keep (plain increments); read with `cache.stats()`. */
export interface CacheStats {
  /** Reads answered by the in-process tier. */
  l1Hits: number
  /** Reads the in-process tier could not answer (they went on to the L2 or the origin). */
  l1Misses: number
  /** Reads answered by the shared tier (then backfilled into the L1). */
  l2Hits: number
  /** L2 reads that found no value (absent or expired). */
  l2Misses: number
  /** Of the L1 misses, those of keys the L1 had reclaimed after their expiry (the TTL was shorter than the reuse). */
  missesAfterExpiry: number
  /** Of the L1 misses, those of keys the L1 had evicted for room (the L1 is too small). */
  missesAfterEviction: number
  /** Reads found in no tier. */
  misses: number
  /** Reads answered by a tier: l1Hits + l2Hits (stale values served are counted apart, in staleServed). */
  hits: number
  factoryCalls: number
  factoryErrors: number
  /** Writes to either tier. */
  sets: number
  deletes: number
  /** L2 calls that failed or timed out. */
  l2Errors: number
  l2Timeouts: number
  /** Connection-level errors the Redis client reported (it reconnects by itself). */
  l2ConnectionErrors: number
  /** L2 bytes that did not decode (foreign data, old format, truncation): served as misses. */
  decodeErrors: number
  /** L2 values that failed the caller's schema: served as misses. */
  schemaFailures: number
  /** Stale values (within grace) returned in place of a fresh one: stale-while-revalidate, soft timeouts, fail-safe. */
  staleServed: number
  /** Of those, the ones returned because the factory failed or hit its hard timeout (fail-safe). */
  failSafeServed: number
  /** Background refreshes started by a read in an entry's refresh window (XFetch or eager). */
  earlyRefreshes: number
  /** Refreshes that found a newer value in the L2 (another instance refreshed it) instead of running the factory. */
  refreshesFromL2: number
  /** Factory runs past their soft or hard timeout. */
  factoryTimeouts: number
  /** Loads that waited for another process holding the key's lock. */
  lockWaits: number
  /** Times the L2 circuit breaker opened. */
  breakerOpened: number
  /** L2 calls not made because the breaker was open (each a miss, or a queued repair). */
  l2Skipped: number
  /** Keys queued for deletion from the L2 after a failed write or delete. */
  l2RepairsQueued: number
  /** Of those, keys deleted once the L2 answered again. */
  l2Repairs: number
  /**
   * Writes the L2 refused because the key held something newer: a loaded value whose key was
   * deleted after the load started (the lease check), or a set older than the key's value or
   * delete (fencing: a write that reached Redis late).
   */
  writesRefused: number
  /** L2 entries read as misses because a tag or dependency invalidated them (or their tag marker was missing). */
  tagInvalidatedReads: number
  /** Tags invalidated by this instance. */
  tagInvalidations: number
  /**
   * Invalidation messages this instance handed to Redis (uncounted when the PUBLISH failed). A
   * message whose every change was refused by the write script (fenced: see `writesRefused`) is
   * counted although the script did not send it.
   */
  busPublished: number
  /** Invalidation messages received from other instances and applied. */
  busMessages: number
  /** Bus messages dropped as malformed. */
  busMessagesDropped: number
  /** Times the L1 was dropped because the bus had been disconnected (messages may have been lost). */
  busResyncs: number
  /** Times the bus was silent past `bus.maxSilence`: the L1 was unverified until it was heard again. */
  busSilences: number
  /** Queued repairs dropped because the queue was full (their L2 copies may be outdated until they expire). */
  l2RepairsDropped: number
  /** Entries the L1 evicted to stay within its bounds. */
  l1Evictions: number
  /** Expired entries the L1 reclaimed (on read, or before evicting a live entry). */
  l1Expirations: number
  l1Entries: number
  l1Bytes: number
  /** Loads in flight right now. */
  inFlight: number
  /** l1Hits / (l1Hits + l1Misses); 1 before any read. */
  l1HitRatio: number
  /** l2Hits / (l2Hits + l2Misses); 1 before any L2 read. */
  l2HitRatio: number
  /** Reads answered by a tier / all reads ((l1Hits + l2Hits) / (l1Hits + l2Hits + misses)); 1 before any read. */
  hitRatio: number
  /** 1 while the L2 circuit breaker is open or half-open (skipping Redis), else 0. */
  breakerOpen: number
  /** Total time factories ran, in seconds (with latency on; the 'factory' latency series has the distribution). */
  factorySeconds: number
  /** Writes waiting in this cache's write-behind logs (all processes), as last seen. */
  writeBehindPending: number
  /** Age of the oldest waiting write-behind entry, in ms (the worst log). */
  writeBehindLagMs: number
  /** Write-behind entries acknowledged after a flush resolved, by this instance. */
  writeBehindFlushed: number
  /** Write-behind flush calls that failed and were retried. */
  writeBehindRetries: number
  /** Write-behind entries moved to a dead-letter stream by this instance. */
  writeBehindDeadLettered: number
  /** Write-behind writes refused because a log was full (`maxPending`). */
  writeBehindRejected: number
  /** Dead letters removed past `maxDeadLetters` by this instance: acknowledged writes that never reached the database. */
  writeBehindDeadLettersDropped: number
}

export type CounterName = Exclude<
  keyof CacheStats,
  | 'hits'
  | 'l1Evictions'
  | 'l1Expirations'
  | 'l1Entries'
  | 'l1Bytes'
  | 'inFlight'
  | 'l1HitRatio'
  | 'l2HitRatio'
  | 'hitRatio'
  | 'breakerOpen'
  | 'factorySeconds'
  | WriteBehindStatName
>

/** The write-behind figures of {@link CacheStats}: read from the cache's write-behinds, not counted. */
export type WriteBehindStatName =
  | 'writeBehindPending'
  | 'writeBehindLagMs'
  | 'writeBehindFlushed'
  | 'writeBehindRetries'
  | 'writeBehindDeadLettered'
  | 'writeBehindRejected'
  | 'writeBehindDeadLettersDropped'

export function emptyCounters(): Record<CounterName, number> {
  return {
    l1Hits: 0,
    l1Misses: 0,
    l2Hits: 0,
    l2Misses: 0,
    missesAfterExpiry: 0,
    missesAfterEviction: 0,
    misses: 0,
    factoryCalls: 0,
    factoryErrors: 0,
    sets: 0,
    deletes: 0,
    l2Errors: 0,
    l2Timeouts: 0,
    l2ConnectionErrors: 0,
    decodeErrors: 0,
    schemaFailures: 0,
    staleServed: 0,
    failSafeServed: 0,
    earlyRefreshes: 0,
    refreshesFromL2: 0,
    factoryTimeouts: 0,
    lockWaits: 0,
    breakerOpened: 0,
    l2Skipped: 0,
    l2RepairsQueued: 0,
    l2Repairs: 0,
    l2RepairsDropped: 0,
    writesRefused: 0,
    tagInvalidations: 0,
    tagInvalidatedReads: 0,
    busPublished: 0,
    busMessages: 0,
    busMessagesDropped: 0,
    busResyncs: 0,
    busSilences: 0,
  }
}
