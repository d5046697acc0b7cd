import type { WriteBehindNotReplicatedError } from '../errors.js'
import type { Serializer } from '../serialization/serializer.js'

/**
 * One write as `flush` receives it: the last write of `key` among the log entries this flush
 * covers (earlier ones of the same key were coalesced away: last write wins).
 *
 * `id` and `seq` are the idempotency handles (see docs/write-behind.md, "The idempotency
 * contract"): apply an op only if `seq` is greater than the one stored with the row, and the
 * database ends with the last write whatever is delivered twice, late or out of order.
 */
export type WriteBehindOp<T> =
  | {
      readonly op: 'set'
      readonly key: string
      readonly value: T
      /** The log entry's id (the Redis Stream id of the write, e.g. `1718000000000-3`). Unique per write. */
      readonly id: string
      /** Per-key sequence: greater for every later write of `key`, across processes and Redis data loss. */
      readonly seq: number
      /** When the write was appended (ms since the epoch, from the log's clock). */
      readonly at: number
    }
  | {
      readonly op: 'delete'
      readonly key: string
      readonly id: string
      readonly seq: number
      readonly at: number
    }

/** What `flush` is told besides the batch. */
export interface FlushContext {
  /** 1 for the first try of these entries, then 2, 3… (a retry after a failure). */
  readonly attempt: number
  /** Aborted when the flush timed out (`flushTimeout`) or the write-behind stopped: stop early if you can. */
  readonly signal: AbortSignal
}

/** What `set` and `delete` resolve to once the write is in the durable log. */
export interface WriteReceipt {
  /** The log entry's id (see {@link WriteBehindOp}). */
  readonly id: string
  /** The per-key sequence the write got. */
  readonly seq: number
}

export interface WriteBehindOptions<T> {
  /**
   * The log's name (letters, digits, `_ . -`): every process using the same name (and cache
   * namespace) shares one log and one set of flushers.
   */
  name: string
  /**
   * Writes a batch to the database; the entries are acknowledged only once it resolves. At most
   * one key per op, in log order per key; at-least-once: see the idempotency contract.
   */
  flush: (batch: readonly WriteBehindOp<T>[], context: FlushContext) => Promise<unknown>
  /** Most keys in one flush (default 500). */
  maxBatch?: number
  /** Longest a write waits for a fuller batch before it is flushed, in ms (default 100). */
  maxDelay?: number
  /** Failed flushes are retried after `retryBase × 2^(attempt-1)` ms, with jitter, up to `retryMax` (default 100). */
  retryBase?: number
  /** Longest wait between two tries, in ms (default 5,000). */
  retryMax?: number
  /**
   * Tries before an entry goes to the dead-letter stream (default 5). Only tries of the entry
   * alone count, and only while the database accepts other writes: an outage never dead-letters.
   */
  maxAttempts?: number
  /**
   * Most dead letters kept (default 10,000; `Infinity` for no bound): dead-lettering one more
   * removes the oldest beyond it, in the same Redis call, and reports them (`dead-letter-dropped`,
   * `stats().deadLettersDropped`). Shared by every process of the log: each trims to its own value.
   */
  maxDeadLetters?: number
  /**
   * Most entries waiting in the log (appended, not yet acknowledged); beyond it `set` and
   * `delete` reject with {@link WriteBehindFullError} (default 100,000; `Infinity` for no bound).
   * Each of the `partitions` holds at most its share (`⌊maxPending / partitions⌋`), so the log
   * as a whole never holds more; at least `partitions`.
   */
  maxPending?: number
  /**
   * How long a flusher's hold on a partition lasts without renewal, in ms (default 30,000): a
   * crashed flusher's unacknowledged entries are reclaimed by another after this long.
   */
  visibilityTimeout?: number
  /** A flush that has not settled after this long counts as failed, in ms (default 30,000). */
  flushTimeout?: number
  /** Run flushers in this process (default true); false for a writer-only process. */
  flusher?: boolean
  /**
   * Log partitions (default 1). Keys are spread over them by hash; each is flushed by one
   * process at a time (which keeps order per key), so more partitions let more processes flush
   * in parallel. Every process of a log must use the same number.
   */
  partitions?: number
  /** How often an idle flusher looks for other processes' writes, in ms (default `maxDelay` kept within 10–100). */
  pollInterval?: number
  /**
   * How long `close()` waits for the log to drain, in ms (default 10,000). It bounds close()
   * itself: the last 200 ms of it (or a fifth, if less) stop the flushers, release their
   * partitions and count what is left, each waiting only for what is left of it.
   */
  closeTimeout?: number
  /** Encodes values in the log (default: the tagged JSON serializer: Dates, Maps, Sets, BigInts survive). */
  serializer?: Serializer
  /** Whether `set` also writes the cache (L1 + L2) (default true). */
  updateCache?: boolean
  /**
   * When `set` and `delete` resolve (default `'redis'`):
   * - `'redis'`: once the master appended the write (as durable as its persistence setting; a
   *   failover may lose writes its replica had not received yet);
   * - `'replicated'`: once a replica has it too (`WAIT 1 <replicationTimeout>` after each batch's
   *   append): a failover to that replica loses nothing acknowledged. Without a replica answering
   *   in time, writes reject with {@link WriteBehindNotReplicatedError}. See docs/write-behind.md.
   */
  durability?: 'redis' | 'replicated'
  /**
   * How long a `'replicated'` append waits for a replica, in ms (default 200). Keep it below the
   * cache's `l2.timeout`: the WAIT is one Redis call under that deadline, and it holds the
   * connection meanwhile.
   */
  replicationTimeout?: number
  /** Time source in ms (default `Date.now`). */
  clock?: () => number
  /** Random source in [0, 1) for the retry jitter (default `Math.random`). */
  random?: () => number
}

/** Counters since creation, and what the flushers last saw of the log. */
export interface WriteBehindStats {
  /** Writes appended by this instance. */
  appended: number
  /** Writes refused because the log was full (`maxPending`). */
  rejected: number
  /** Flush calls that resolved. */
  flushes: number
  /** Log entries acknowledged after a flush resolved (coalesced ones included). */
  flushed: number
  /** Entries made redundant by a later write of the same key in the same batch. */
  coalesced: number
  /**
   * Cache updates withdrawn (the key deleted from the cache) because a newer write of the key,
   * from another process, may have reached the cache first: the key reads a miss, never an older
   * value (a log that does not write the cache in its append, i.e. on a Redis Cluster).
   */
  cacheWithdrawn: number
  /** Flush calls that failed (and were or will be retried). */
  retries: number
  /** Entries moved to the dead-letter stream by this instance. */
  deadLettered: number
  /** Dead letters removed by this instance to keep the stream within `maxDeadLetters` (oldest first). */
  deadLettersDropped: number
  /** Entries reclaimed from a flusher that stopped without acknowledging them. */
  reclaimed: number
  /** Entries waiting in the log (all processes), as last seen by this instance. */
  pending: number
  /**
   * Age of the oldest waiting entry, in ms (0 when none): as last measured, growing with the time
   * since when that measurement is stale (the log silent) or a write was appended after it.
   */
  lagMs: number
  /** End-to-end lag (append to acknowledgment) of the last flushed batch's oldest entry, in ms. */
  lastLagMs: number
  /** Duration of the last successful flush call, in ms. */
  lastFlushMs: number
  /** Longest successful flush call, in ms. */
  maxFlushMs: number
  /** Sum of successful flush durations, in ms (with `flushes`, the mean). */
  totalFlushMs: number
  /** Partitions this instance flushes right now. */
  ownedPartitions: number
}

/** What a write-behind reports; listeners run synchronously, and one that throws is ignored. */
export interface WriteBehindEvents {
  /** A flush resolved and its entries were acknowledged. */
  flushed: { partition: number; keys: number; entries: number; ms: number; lagMs: number }
  /** A flush failed; it is tried again after `delayMs`. */
  retry: { partition: number; keys: number; attempt: number; delayMs: number; error: unknown }
  /** An entry was moved to the dead-letter stream. */
  'dead-letter': { key: string; id: string; seq: number; attempts: number; error: unknown }
  /**
   * Dead letters were removed for good, the oldest first, to keep the stream within
   * `maxDeadLetters`: `count` of them, the first 100 described (no values). Log them: they were
   * acknowledged writes that never reached the database.
   */
  'dead-letter-dropped': { count: number; letters: readonly DroppedDeadLetter[] }
  /**
   * A write was refused: its partition holds `pending` ≥ `maxPending` entries (with several
   * partitions, `pending` and `maxPending` are the partition's: its share of the option).
   */
  backpressure: { pending: number; maxPending: number }
  /** This instance started or stopped flushing a partition. */
  partition: { partition: number; owned: boolean }
  /** A log operation failed (Redis down or slow); the flusher retries it. */
  'log-error': { operation: string; error: unknown }
  /** The cache update of an accepted write failed (the write is in the log and will be flushed). */
  'cache-error': { key: string; error: unknown }
}

export type WriteBehindEventName = keyof WriteBehindEvents

/** A dead-lettered write, as `deadLetters.list()` shows it. */
export interface DeadLetter {
  /** Id of the entry in the dead-letter stream (what `replay` and `remove` take). */
  readonly deadId: string
  readonly key: string
  readonly op: 'set' | 'delete'
  /** The encoded value (undefined for a delete). */
  readonly value: Uint8Array | undefined
  /** The original write's id and sequence. */
  readonly id: string
  readonly seq: number
  readonly attempts: number
  /** The last error's message. */
  readonly error: string
  /** When it was dead-lettered (ms since the epoch). */
  readonly failedAt: number
}

/** A dead letter removed to keep the stream within `maxDeadLetters`: what it was, without its value. */
export type DroppedDeadLetter = Omit<DeadLetter, 'value'>

/** The dead-letter stream of one write-behind log. */
export interface DeadLetters {
  /** Up to `count` (default 100) dead letters, oldest first, starting after `after` (a deadId). */
  list(options?: { count?: number; after?: string }): Promise<DeadLetter[]>
  /** How many dead letters there are. */
  count(): Promise<number>
  /**
   * Puts dead letters back in the log (all, or those whose deadId is in `deadIds`) with their
   * original id and sequence, so a write newer than them still wins; resolves to how many.
   */
  replay(deadIds?: readonly string[]): Promise<number>
  /** Deletes dead letters for good; resolves to how many. */
  remove(deadIds: readonly string[]): Promise<number>
}

/** What `close()` resolves to: only what the log confirmed before the timeout. */
export interface CloseResult {
  /** True once the log confirmed that every write of this instance was flushed (or dead-lettered). */
  readonly drained: boolean
  /**
   * Entries left in the log (all processes'), counted after the flushers stopped; `undefined`
   * when Redis did not answer in time (down, or a black hole): unknown, not a stale count.
   */
  readonly pending: number | undefined
}

/** A write-behind log bound to a cache: see `cache.writeBehind()` and docs/write-behind.md. */
export interface WriteBehind<T> {
  readonly name: string
  /**
   * Writes `value` to the cache and appends it to the durable log; resolves once the log has it
   * (the database gets it later, from a flusher). Rejects with {@link WriteBehindFullError} when
   * the log holds `maxPending` entries, and with the L2's error when Redis did not take it.
   */
  set(key: string, value: T): Promise<WriteReceipt>
  /** Deletes `key` from the cache and appends the delete to the log (flushed like a set). */
  delete(key: string): Promise<WriteReceipt>
  /** Entries waiting in the log, now (one round trip per partition). */
  pending(): Promise<number>
  /**
   * Resolves once every entry appended so far by this instance is out of the log — flushed and
   * acknowledged, or dead-lettered (by any process's flusher) — or rejects with
   * WriteBehindTimeoutError after `timeoutMs` (default `closeTimeout`). Other processes' writes
   * are not waited for, older ones included (with a custom WriteLog without `remaining`, they are
   * while older than this instance's newest).
   */
  settled(timeoutMs?: number): Promise<void>
  stats(): WriteBehindStats
  on<E extends WriteBehindEventName>(name: E, listener: (event: WriteBehindEvents[E]) => void): () => void
  readonly deadLetters: DeadLetters
  /**
   * Refuses new writes, flushes what is pending (waits for the other flushers when it holds no
   * partition) until this instance's writes are flushed or `timeoutMs` (default `closeTimeout`)
   * passed, then stops. Resolves within `timeoutMs`, even when Redis does not answer: see
   * {@link CloseResult}. Idempotent.
   */
  close(options?: { timeoutMs?: number }): Promise<CloseResult>
}
