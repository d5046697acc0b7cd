import { attempt } from '../base/attempt.js'
import { L2Error, messageOf, StrataError, WriteBehindFullError } from '../errors.js'
import type { AppendOp, Replication, WriteLog } from './log.js'
import type { CacheStaging, StagedSet } from './staging.js'
import type { WriteBehindEvents, WriteBehindStats, WriteReceipt } from './types.js'

/** What the appender needs of its write-behind. */
export interface AppenderHost {
  readonly name: string
  readonly log: WriteLog
  /** The bound on the whole log (`maxPending`), shared by its partitions. */
  readonly maxPending: number
  readonly partitions: number
  /** What each append waits for (durability: 'replicated'), or undefined. */
  readonly replication: Replication | undefined
  /** Set when the log writes the cache's L2 entries in its appends. */
  readonly staging: CacheStaging | undefined
  readonly stats: WriteBehindStats
  emit<E extends keyof WriteBehindEvents>(name: E, event: WriteBehindEvents[E]): void
  /** Keeps `promise` in what settled() and close() wait for. */
  track(promise: Promise<unknown>): void
  /** The log's length in `partition`, as a refused append saw it (for stats). */
  observe(partition: number, pending: number): void
  /** Writes were appended to `partition`, as these entries (its flusher may look now). */
  appended(partition: number, entryIds: readonly string[]): void
}

interface QueuedAppend {
  op: AppendOp
  /** The cache's staged set written with this append, if any (announced once the batch is in). */
  staged: StagedSet | undefined
  resolve: (receipt: WriteReceipt) => void
  reject: (error: unknown) => void
}

/** The appends of one tick and partition, and what settles once their batch did. */
interface QueuedBatch {
  appends: QueuedAppend[]
  done: () => void
}

/**
 * Appends per script call: the 16th append of a tick and partition sends the 16 at once, and the
 * tick goes on. One call for the whole tick left this process idle while the server ran it
 * (64 in flight, log + cache: 27% of the time idle), as it did for the cache's writes (see
 * WRITES_PER_CALL in src/tiers/redis/write-queue.ts).
 */
const APPENDS_PER_CALL = 16

/**
 * Appends issued in the same tick share one round trip per partition: script calls of up to
 * {@link APPENDS_PER_CALL} writes of the tick (see APPEND), sent in issue order over the log's
 * connection. Each write's promise is settled by its batch's reply, which also does the
 * per-write bookkeeping (stats, unstaging a refused write's L1 entry, the typed errors) and, once
 * per batch, the appended ids (what settled() waits for), the flusher's nudge and the bus message
 * for the cache entries written with it.
 */
export class Appender {
  readonly #host: AppenderHost
  /**
   * What each partition may hold: its share of `maxPending`. The bound is checked where the
   * append runs — one partition's stream, in one script (on a cluster, partitions live on other
   * masters) — so that the partitions together never hold more than `maxPending`.
   */
  readonly #share: number
  #queued = new Map<number, QueuedBatch>()

  constructor(host: AppenderHost) {
    this.#host = host
    this.#share = Number.isFinite(host.maxPending)
      ? Math.max(1, Math.floor(host.maxPending / host.partitions))
      : Number.POSITIVE_INFINITY
  }

  /** Queues an append with the others of this tick and partition; settles with its batch. */
  append(partition: number, op: AppendOp, staged: StagedSet | undefined): Promise<WriteReceipt> {
    return new Promise((resolve, reject) => {
      let batch = this.#queued.get(partition)
      if (batch === undefined) {
        let done: () => void = () => {}
        // Tracked from now: settled() and close() wait for writes queued but not yet sent too.
        this.#host.track(
          new Promise<void>((resolve) => {
            done = resolve
          }),
        )
        batch = { appends: [], done }
        this.#queued.set(partition, batch)
        process.nextTick(() => this.#send(partition))
      }
      // A full call leaves now: Redis runs it while this process prepares the next (see APPENDS_PER_CALL).
      if (batch.appends.push({ op, staged, resolve, reject }) === APPENDS_PER_CALL) this.#send(partition)
    })
  }

  #send(partition: number): void {
    const batch = this.#queued.get(partition)
    if (batch === undefined) return
    this.#queued.delete(partition)
    const host = this.#host
    const queue = batch.appends
    // A log that throws instead of rejecting (a custom one's bug) fails this batch's writes; thrown
    // from this tick's end, it would crash the process and leave them unsettled.
    attempt(() =>
      host.log.append(
        partition,
        queue.map((q) => q.op),
        this.#share,
        host.replication,
      ),
    ).then(
      (results) => {
        const announced: string[] = []
        // The earliest: receivers take every key as changed at `at`, and an entry created
        // before that time would look outdated to them.
        let at = Number.POSITIVE_INFINITY
        const ids: string[] = []
        for (let i = 0; i < queue.length; i++) {
          const result = results[i]
          const q = queue[i] as QueuedAppend
          if (result === undefined) {
            this.#unstage(q)
            q.reject(logError(host.name, new Error('the log answered fewer writes than it was sent')))
          } else if ('full' in result) {
            this.#unstage(q)
            q.reject(this.#full(partition, result.full))
          } else {
            host.stats.appended++
            ids.push(result.id)
            if (q.staged !== undefined) {
              announced.push(q.op.key)
              at = Math.min(at, q.staged.at)
            }
            q.resolve(result)
          }
        }
        if (ids.length > 0) host.appended(partition, ids)
        if (announced.length > 0) this.#announce(announced, at)
        batch.done()
      },
      (error: unknown) => {
        // Not acknowledged, but Redis may still run the call (its reply timed out, the connection
        // dropped after sending): the other instances drop their copies of the staged keys, as a
        // failed `set` tells them. A copy dropped for nothing costs a miss, never a wrong answer.
        const staged: string[] = []
        let at = Number.POSITIVE_INFINITY
        for (const q of queue) {
          this.#unstage(q)
          if (q.staged !== undefined) {
            staged.push(q.op.key)
            at = Math.min(at, q.staged.at)
          }
          q.reject(logError(host.name, error))
        }
        if (staged.length > 0) this.#announce(staged, at)
        batch.done()
      },
    )
  }

  /** The append did not take the write: its staged L1 entry must not stay. */
  #unstage(q: QueuedAppend): void {
    if (q.staged !== undefined) this.#host.staging?.unstage(q.op.key)
  }

  /** A write refused by the bound (`maxPending`): counted, reported, and what it rejects with. */
  #full(partition: number, pending: number): WriteBehindFullError {
    const host = this.#host
    host.stats.rejected++
    host.observe(partition, pending)
    host.emit('backpressure', { pending, maxPending: this.#share })
    const where =
      host.partitions === 1
        ? `(maxPending ${host.maxPending})`
        : `in partition ${partition} (its share of maxPending ${host.maxPending} over ${host.partitions} partitions: ${this.#share})`
    return new WriteBehindFullError(
      `write-behind '${host.name}': ${pending} writes are waiting to be flushed ${where}; the database is probably down or slow. Retry later, or raise maxPending.`,
      pending,
    )
  }

  /**
   * The batch's cache entries are in the L2: one bus message for their keys. Not awaited by the
   * writes (they are durable and in this process's L1 already); `settled()` and `close()` wait for it.
   */
  #announce(keys: string[], at: number): void {
    const host = this.#host
    const staging = host.staging
    if (staging === undefined) return
    host.track(
      staging.announce(keys, at).catch((error: unknown) => {
        for (const key of keys) host.emit('cache-error', { key, error })
      }),
    )
  }
}

/** What a write rejects with when the log failed: the log's typed errors as they are, anything else (the client's) as E_L2. */
export function logError(name: string, error: unknown): unknown {
  if (error instanceof StrataError) return error
  return new L2Error(
    `write-behind '${name}': the log's Redis did not take the write (${messageOf(error)}). It is not acknowledged — it may or may not be in the log: retry it (a retry gets a newer sequence and wins).`,
    { cause: error },
  )
}
