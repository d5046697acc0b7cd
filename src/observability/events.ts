/**
 * What the cache reports as it protects the caller: every resilience decision is an event, so
 * metrics (and tests) can count stale values served, early refreshes, lock waits, timeouts and
 * breaker transitions. None is called `error`: an event nobody listens to never throws.
 */
export interface CacheEvents {
  /** A read answered by a tier (`get`, `getOrSet`; `l1` hits are the hot path: listen only when you need them). */
  hit: { key: string; tier: 'l1' | 'l2' }
  /** A read found in no tier (the factory runs, or `get` returns undefined). */
  miss: { key: string }
  /** A value was written by `set`, `writeThrough` or a load. */
  set: { key: string }
  /** Keys were deleted by `delete`/`deleteMany`. */
  delete: { keys: readonly string[] }
  /** The L1 dropped an entry to stay within its bounds. */
  evict: { key: string; cause: 'capacity' }
  /** The L1 reclaimed an expired entry. */
  expire: { key: string }
  /** An invalidation message from another instance was applied. */
  'bus-message': { type: string }
  /**
   * Something was invalidated, once per change: keys deleted or overwritten (`set`), tags, the
   * namespace cleared, or keys matching a pattern — by this instance (`origin: 'local'`, emitted
   * once the change is applied here, written to the L2 and announced on the bus) or by another
   * one, heard over the bus (`'remote'`, emitted once applied here). Act on `'local'` ones for
   * what must happen once per change (a CDN purge); on both for what each instance holds.
   */
  invalidate: InvalidationEvent
  /**
   * Progress of a write-behind created by `cache.writeBehind`: a batch flushed, a flush to retry,
   * an entry dead-lettered, dead letters dropped past `maxDeadLetters`, a write refused because
   * the log was full.
   */
  'write-behind': {
    name: string
    kind: 'flushed' | 'retry' | 'dead-letter' | 'dead-letter-dropped' | 'backpressure'
    /** Keys in the batch (flushed, retry), pending writes (backpressure), 1 (dead-letter), dead letters dropped. */
    count: number
    /** End-to-end lag of the flushed batch, or the retry delay, in ms (0 otherwise). */
    ms: number
  }
  /** A stale value (within grace) was returned instead of waiting for, or instead of, the factory. */
  'stale-served': { key: string; ageMs: number; reason: 'soft-timeout' | 'fail-safe' | 'refreshing' }
  /** A read in an entry's refresh window started a background refresh. */
  'early-refresh': { key: string; kind: 'xfetch' | 'eager' }
  /** A refresh found a newer value in the L2 (another instance refreshed it) and took it instead of running the factory. */
  'refresh-from-l2': { key: string }
  /** A load waited for another process that held the key's lock. */
  'lock-waited': { key: string; waitedMs: number; outcome: 'value' | 'acquired' | 'gave-up' }
  /** The factory failed (threw, declined with `ctx.fail`, or hit its hard timeout). */
  'factory-error': { key: string; error: unknown; staleServed: boolean }
  /** The factory ran past a timeout. */
  'factory-timeout': { key: string; kind: 'soft' | 'hard' }
  /** The L2 circuit breaker changed state; on a Redis Cluster, the breaker of `master` (`host:port`). */
  breaker: { state: 'closed' | 'open' | 'half-open'; master?: string }
  /** An L2 call failed (counted; the caller saw a miss or, for writes, the cache queued a repair). */
  'l2-error': { operation: string; error: unknown }
}

export type CacheEventName = keyof CacheEvents

/** The `invalidate` event: what changed, where it was made, and when (`at`: the cache clock's stamp). */
export type InvalidationEvent =
  | { kind: 'keys'; origin: 'local' | 'remote'; at: number; keys: readonly string[] }
  | {
      kind: 'tags'
      origin: 'local' | 'remote'
      at: number
      tags: readonly string[]
      mode: 'delete' | 'expire'
    }
  | { kind: 'clear'; origin: 'local' | 'remote'; at: number }
  | { kind: 'pattern'; origin: 'local' | 'remote'; at: number; pattern: string }
