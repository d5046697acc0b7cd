import { attempt } from '../base/attempt.js'
import { timerMs } from '../base/clock.js'
import { backoffDelay } from './backoff.js'
import { settledOr } from './deadline.js'
import { compareIds, type FlushedKey, type LogEntry, type WriteLog } from './log.js'
import type { FlushContext, WriteBehindEvents, WriteBehindOp, WriteBehindStats } from './types.js'

/** The resolved options a flusher needs. */
export interface FlusherSettings<T> {
  flush: (batch: readonly WriteBehindOp<T>[], context: FlushContext) => Promise<unknown>
  decode: (bytes: Uint8Array) => T
  maxBatch: number
  maxDelayMs: number
  retryBaseMs: number
  retryMaxMs: number
  maxAttempts: number
  /** The dead-letter stream's bound (Infinity: none). */
  maxDeadLetters: number
  visibilityTimeoutMs: number
  flushTimeoutMs: number
  pollIntervalMs: number
  clock: () => number
  random: () => number
}

export interface FlusherHost {
  readonly stats: WriteBehindStats
  /** What this partition's flusher last saw: entries in the log, age of the oldest. */
  observe(partition: number, pending: number, lagMs: number): void
  emit<E extends keyof WriteBehindEvents>(name: E, event: WriteBehindEvents[E]): void
}

/** A key whose flush failed when it was flushed alone. */
interface Failing {
  attempts: number
  notBefore: number
  /** The flush outcome number (see #outcomes) of the first failed flush that contained the key. */
  since: number
}

/** Entries read per XREADGROUP, and most held in memory, as multiples of `maxBatch`. */
const READ_FACTOR = 2
const BUFFER_FACTOR = 4
/** How often a flusher with a backlog asks the log's length (for stats). */
const MEASURE_EVERY_MS = 1000

/**
 * Flushes one partition of the log while it holds the partition's lease (so that one process at
 * a time flushes a key: order per key). The loop: take the lease (and, with it, every entry a
 * previous holder read but did not acknowledge), read new entries, pick a batch (one op per key,
 * the last write), call `flush`, acknowledge. Failures:
 *
 * - a batch of several keys that fails is split: the next try takes half as many keys, at once,
 *   so a poison key is isolated in log2(maxBatch) tries; successes double the size back;
 * - a key that fails alone waits `retryBase × 2^(n-1)` (jittered, ≤ retryMax) before its next
 *   try, while the other keys flow; its later writes wait behind it (order per key);
 * - consecutive failures alone (an outage) also delay every flush by the same backoff: a
 *   database that is down sees one try per retryMax, not a storm;
 * - a key goes to the dead-letter stream once it failed `maxAttempts` times alone *and* another
 *   flush succeeded since its previous failure (the database works; this key does not). An
 *   outage therefore never dead-letters anything.
 */
export class PartitionFlusher<T> {
  readonly partition: number
  readonly #log: WriteLog
  readonly #consumer: string
  readonly #token: string
  readonly #settings: FlusherSettings<T>
  readonly #host: FlusherHost
  #owned = false
  #lastRenewedAt = 0
  #renewTimer: NodeJS.Timeout | undefined
  /** Entries read, not yet acknowledged, in log order. */
  #buffer: LogEntry[] = []
  readonly #inBuffer = new Set<string>()
  /** Flushed, acknowledgment still to send (Redis failed it). */
  #toAck: string[] = []
  /** The flushed keys of #toAck and their newest flushed sequence (their sequences are trimmed with the ack). */
  #toTrim: FlushedKey[] = []
  /**
   * A log call failed: the partition's pending entries are claimed again before the next read.
   * A read whose reply was lost (Redis ran it, then died; or it answered after the call timed
   * out) left entries pending for this consumer that it never saw, and `>` never delivers them
   * again: without this they waited for the lease to change hands — for as long as this
   * process lived and renewed it.
   */
  #reclaim = false
  /** True while the loop sleeps with nothing buffered: only then does an append here wake it. */
  #idle = false
  readonly #failing = new Map<string, Failing>()
  #batchLimit: number
  /** Keys of failed multi-key flushes → the outcome number of that failure (cleared by a success). */
  readonly #suspects = new Map<string, number>()
  #aloneFailures = 0
  #notBefore = 0
  /**
   * Set by a key's failure alone: the next flush takes the other keys, if there are any, before a
   * failing key is retried. Without it several poison keys, each due again before the others had a
   * turn, were retried in a round forever: no flush succeeded, so none was ever judged poison
   * (that needs a success since its failure) and no other key flowed.
   */
  #othersFirst = false
  /** Flush outcomes counted, so that "a success after this failure" needs no clock resolution. */
  #outcomes = 0
  #lastSuccess = 0
  #stopped = false
  #draining = false
  /** When the partition's length was last asked (it is reported in stats while a backlog flushes). */
  #measuredAt = 0
  #wake: (() => void) | undefined
  #loop: Promise<void> | undefined
  #flushAbort: AbortController | undefined

  constructor(
    log: WriteLog,
    partition: number,
    consumer: string,
    token: string,
    settings: FlusherSettings<T>,
    host: FlusherHost,
  ) {
    this.#log = log
    this.partition = partition
    this.#consumer = consumer
    this.#token = token
    this.#settings = settings
    this.#host = host
    this.#batchLimit = settings.maxBatch
  }

  get owned(): boolean {
    return this.#owned
  }

  start(): void {
    this.#loop ??= this.#run()
  }

  /**
   * Something was appended to this partition here: an idle flusher looks now rather than at the
   * next poll (one that holds entries reads again when its batch is due anyway).
   */
  nudge(): void {
    if (this.#idle) this.#wake?.()
  }

  /** Wakes the loop whatever it waits for (a stop, a drain, a lost lease). */
  poke(): void {
    this.#wake?.()
  }

  /** Flush what is buffered without waiting for `maxDelay`. */
  drain(): void {
    this.#draining = true
    this.poke()
  }

  /**
   * Stops after the flush in progress (or at once, aborting it, after `graceMs`); releases the
   * lease, waiting for Redis's answer at most `releaseMs()` (the release is sent regardless).
   */
  async stop(graceMs: number, releaseMs: () => number = () => Number.POSITIVE_INFINITY): Promise<void> {
    this.#stopped = true
    this.poke()
    if (this.#loop !== undefined) {
      let timer: NodeJS.Timeout | undefined
      const grace = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.#flushAbort?.abort(new Error('the write-behind was closed during this flush'))
          resolve()
        }, timerMs(graceMs))
      })
      await Promise.race([this.#loop, grace])
      clearTimeout(timer)
    }
    clearInterval(this.#renewTimer)
    if (this.#owned) {
      this.#owned = false
      this.#host.stats.ownedPartitions--
      // Not answered in time (or failed): the lease expires by itself.
      await settledOr(
        attempt(() => this.#log.release(this.partition, this.#token)),
        releaseMs(),
        undefined,
      )
    }
  }

  async #run(): Promise<void> {
    let errors = 0
    while (!this.#stopped) {
      try {
        await this.#step()
        errors = 0
      } catch (error) {
        // The log (Redis) failed: report, back off, try again. Nothing is lost: unacknowledged
        // entries stay in the log.
        errors++
        this.#reclaim = true
        this.#host.emit('log-error', { operation: 'flusher', error })
        await this.#sleep(backoffDelay(errors, this.#settings))
      }
    }
  }

  async #step(): Promise<void> {
    const s = this.#settings
    if (!this.#owned) {
      if (!(await this.#acquire())) {
        await this.#sleep(Math.min(s.visibilityTimeoutMs / 3, 1000))
        return
      }
    }
    if (this.#toAck.length > 0 || this.#toTrim.length > 0) await this.#ackNow()
    if (this.#reclaim) {
      // After the ack: what is still pending now is buffered here, or was never seen.
      const pending = await this.#log.claim(this.partition, this.#consumer)
      this.#reclaim = false
      const before = this.#buffer.length
      this.#take(pending)
      // Entries never seen are older than those read after them: the buffer stays in log order.
      if (this.#buffer.length > before) this.#buffer.sort((a, b) => compareIds(a.entryId, b.entryId))
    }
    if (this.#buffer.length < s.maxBatch * BUFFER_FACTOR) {
      const fresh = await this.#log.read(this.partition, this.#consumer, s.maxBatch * READ_FACTOR)
      this.#take(fresh)
    }
    const now = s.clock()
    if (this.#buffer.length === 0) {
      this.#host.observe(this.partition, await this.#log.length(this.partition), 0)
      this.#measuredAt = now
      this.#idle = true
      try {
        await this.#sleep(s.pollIntervalMs)
      } finally {
        this.#idle = false
      }
      return
    }
    if (now - this.#measuredAt >= MEASURE_EVERY_MS) {
      this.#measuredAt = now
      const lag = Math.max(0, now - (this.#buffer[0]?.at ?? now))
      this.#host.observe(this.partition, await this.#log.length(this.partition), lag)
    }
    const plan = this.#plan(now)
    if (plan.batch === undefined) {
      await this.#sleep(plan.waitMs)
      return
    }
    // Stopped while the log answered (close() stopped waiting for it): no flush after close.
    if (this.#stopped) return
    await this.#flush(plan.batch, plan.attempt)
  }

  async #acquire(): Promise<boolean> {
    const s = this.#settings
    if (!(await this.#log.acquire(this.partition, this.#token, s.visibilityTimeoutMs))) return false
    if (this.#stopped) {
      // The lease came after stop() had released it (Redis slower than close's wait): a stopped
      // flusher must not hold a partition, let alone renew it for as long as the process lives.
      attempt(() => this.#log.release(this.partition, this.#token)).catch(() => {})
      return false
    }
    this.#owned = true
    this.#lastRenewedAt = s.clock()
    this.#host.stats.ownedPartitions++
    this.#host.emit('partition', { partition: this.partition, owned: true })
    // Capped: past MAX_TIMER_MS Node would renew every millisecond instead (a visibilityTimeout may be longer).
    this.#renewTimer = setInterval(() => this.#renew(), timerMs(Math.max(10, s.visibilityTimeoutMs / 3)))
    this.#renewTimer.unref()
    // Whatever a previous holder read and did not acknowledge comes first: it is older than
    // anything not yet delivered. The lease guarantees that holder is gone (or has lost it).
    const claimed = await this.#log.claim(this.partition, this.#consumer)
    this.#reclaim = false
    this.#host.stats.reclaimed += claimed.length
    this.#buffer = []
    this.#inBuffer.clear()
    this.#take(claimed)
    return true
  }

  #renew(): void {
    const s = this.#settings
    attempt(() => this.#log.renew(this.partition, this.#token, s.visibilityTimeoutMs)).then(
      (held) => {
        if (held) this.#lastRenewedAt = s.clock()
        else this.#lose()
      },
      (error: unknown) => {
        this.#host.emit('log-error', { operation: 'lease renewal', error })
        // Another flusher may take over once the lease expired: stop before that.
        if (s.clock() - this.#lastRenewedAt >= (s.visibilityTimeoutMs * 2) / 3) this.#lose()
      },
    )
  }

  #lose(): void {
    if (!this.#owned) return
    this.#owned = false
    clearInterval(this.#renewTimer)
    this.#host.stats.ownedPartitions--
    // Whoever takes over claims these entries; keeping them here would only flush them twice.
    this.#buffer = []
    this.#inBuffer.clear()
    this.#failing.clear()
    this.#suspects.clear()
    this.#host.emit('partition', { partition: this.partition, owned: false })
    this.poke()
  }

  #take(entries: readonly LogEntry[]): void {
    for (const entry of entries) {
      if (this.#inBuffer.has(entry.entryId)) continue
      this.#inBuffer.add(entry.entryId)
      this.#buffer.push(entry)
    }
  }

  /** The next batch (entries of whole keys, in log order), or how long to wait for one. */
  #plan(now: number): { batch?: LogEntry[]; attempt: number; waitMs: number } {
    const s = this.#settings
    if (this.#notBefore > now) return { attempt: 0, waitMs: this.#notBefore - now }
    let nextRetry = Number.POSITIVE_INFINITY
    // A failing key whose wait is over is retried alone: its failures stay attributable to it.
    let due: { batch: LogEntry[]; attempt: number; waitMs: number } | undefined
    for (const [key, failing] of this.#failing) {
      if (failing.notBefore <= now) {
        const batch = this.#buffer.filter((e) => e.key === key)
        if (batch.length > 0) {
          due = { batch, attempt: failing.attempts + 1, waitMs: 0 }
          if (!this.#othersFirst) return due
          break
        }
        this.#failing.delete(key)
        continue
      }
      nextRetry = Math.min(nextRetry, failing.notBefore)
    }
    const keys = new Set<string>()
    let oldest = Number.POSITIVE_INFINITY
    let more = false
    for (const entry of this.#buffer) {
      if (this.#failing.has(entry.key)) continue
      if (!keys.has(entry.key)) {
        if (keys.size >= this.#batchLimit) {
          more = true
          break
        }
        keys.add(entry.key)
      }
      oldest = Math.min(oldest, entry.at)
    }
    if (keys.size === 0) {
      this.#othersFirst = false
      return due ?? { attempt: 0, waitMs: Math.min(nextRetry - now, s.pollIntervalMs) }
    }
    const dueAt = oldest + s.maxDelayMs
    const full = more || keys.size >= this.#batchLimit
    // With a failing key due, the others go now, whatever maxDelay says: they tell whether the
    // database works, and the failing key waits for them.
    if (due === undefined && !full && !this.#draining && dueAt > now) {
      // Bounded by maxDelay: a log clock ahead of ours must not stall the flush.
      return { attempt: 0, waitMs: Math.min(dueAt - now, s.maxDelayMs, nextRetry - now) }
    }
    this.#othersFirst = false
    return { batch: this.#buffer.filter((e) => keys.has(e.key)), attempt: 1, waitMs: 0 }
  }

  async #flush(entries: LogEntry[], attempt: number): Promise<void> {
    const s = this.#settings
    const host = this.#host
    // Coalesce: one op per key, the write with the highest sequence (a replayed dead letter
    // keeps its old one, so a newer write still wins).
    const last = new Map<string, LogEntry>()
    for (const entry of entries) {
      const seen = last.get(entry.key)
      if (seen === undefined || entry.seq > seen.seq) last.set(entry.key, entry)
    }
    const ops: WriteBehindOp<T>[] = []
    for (const entry of last.values()) {
      let op: WriteBehindOp<T>
      try {
        op =
          entry.op === 'delete'
            ? { op: 'delete', key: entry.key, id: entry.id, seq: entry.seq, at: entry.at }
            : {
                op: 'set',
                key: entry.key,
                value: s.decode(entry.value),
                id: entry.id,
                seq: entry.seq,
                at: entry.at,
              }
      } catch (error) {
        // Bytes no decoder reads will never flush: dead-letter them now, whatever maxAttempts says.
        await this.#deadLetter(entry, entries, 1, error)
        return
      }
      ops.push(op)
    }
    const abort = new AbortController()
    this.#flushAbort = abort
    const started = s.clock()
    let failure: { error: unknown } | undefined
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([
        Promise.resolve().then(() => s.flush(ops, { attempt, signal: abort.signal })),
        // Settles when the flush timed out or the write-behind stopped: a flush that ignores its
        // signal is abandoned (its entries stay unacknowledged), never waited for.
        new Promise((_, reject) => {
          abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true })
          timer = setTimeout(
            () => abort.abort(new Error(`flush did not settle within ${s.flushTimeoutMs} ms (flushTimeout)`)),
            timerMs(s.flushTimeoutMs),
          )
        }),
      ])
    } catch (error) {
      failure = { error }
    } finally {
      clearTimeout(timer)
      this.#flushAbort = undefined
    }
    if (this.#stopped && failure !== undefined) return
    const now = s.clock()
    const outcome = ++this.#outcomes
    if (failure === undefined) {
      const ms = now - started
      let oldest = now
      for (const entry of entries) oldest = Math.min(oldest, entry.at)
      this.#forget(entries)
      for (const key of last.keys()) {
        this.#failing.delete(key)
        this.#suspects.delete(key)
      }
      this.#toAck.push(...entries.map((e) => e.entryId))
      for (const entry of last.values()) this.#toTrim.push({ key: entry.key, seq: entry.seq })
      this.#aloneFailures = 0
      this.#notBefore = 0
      this.#lastSuccess = outcome
      this.#batchLimit = Math.min(s.maxBatch, this.#batchLimit * 2)
      host.stats.flushes++
      host.stats.flushed += entries.length
      host.stats.coalesced += entries.length - last.size
      host.stats.lastFlushMs = ms
      host.stats.maxFlushMs = Math.max(host.stats.maxFlushMs, ms)
      host.stats.totalFlushMs += ms
      host.stats.lastLagMs = now - oldest
      host.emit('flushed', {
        partition: this.partition,
        keys: last.size,
        entries: entries.length,
        ms,
        lagMs: now - oldest,
      })
      await this.#ackNow()
      return
    }
    host.stats.retries++
    if (last.size > 1) {
      // Split at once: the failure may be one key's.
      for (const key of last.keys()) if (!this.#suspects.has(key)) this.#suspects.set(key, outcome)
      this.#batchLimit = Math.max(1, Math.ceil(last.size / 2))
      host.emit('retry', {
        partition: this.partition,
        keys: last.size,
        attempt,
        delayMs: 0,
        error: failure.error,
      })
      return
    }
    const [key, entry] = [...last][0] as [string, LogEntry]
    const failing = this.#failing.get(key) ?? {
      attempts: 0,
      notBefore: 0,
      since: this.#suspects.get(key) ?? outcome,
    }
    failing.attempts++
    // The database accepted another flush since this key first failed: the key is the problem.
    const databaseWorks = this.#lastSuccess > failing.since
    if (failing.attempts >= s.maxAttempts && databaseWorks) {
      await this.#deadLetter(entry, entries, failing.attempts, failure.error)
      return
    }
    const delayMs = backoffDelay(failing.attempts, s)
    failing.notBefore = now + delayMs
    this.#failing.set(key, failing)
    this.#batchLimit = 1
    this.#othersFirst = true
    this.#aloneFailures++
    // Failures alone in a row, with no success between them: the database, not a key. Everyone waits.
    if (this.#aloneFailures > 1) this.#notBefore = now + backoffDelay(this.#aloneFailures - 1, s)
    host.emit('retry', { partition: this.partition, keys: 1, attempt, delayMs, error: failure.error })
  }

  async #deadLetter(entry: LogEntry, entries: readonly LogEntry[], attempts: number, error: unknown) {
    const covered = entries.filter((e) => e.key === entry.key).map((e) => e.entryId)
    const dropped = await this.#log.deadLetter(
      this.partition,
      entry,
      attempts,
      describe(error),
      covered,
      this.#settings.maxDeadLetters,
    )
    this.#forget(entries.filter((e) => e.key === entry.key))
    this.#failing.delete(entry.key)
    this.#suspects.delete(entry.key)
    const host = this.#host
    host.stats.deadLettered++
    host.emit('dead-letter', { key: entry.key, id: entry.id, seq: entry.seq, attempts, error })
    if (dropped && dropped.count > 0) {
      host.stats.deadLettersDropped += dropped.count
      host.emit('dead-letter-dropped', {
        count: dropped.count,
        letters: dropped.letters.map((d) => ({
          deadId: d.deadId,
          key: d.key,
          op: d.op,
          id: d.id,
          seq: d.seq,
          attempts: d.attempts,
          error: d.error,
          failedAt: d.failedAt,
        })),
      })
    }
  }

  #forget(entries: readonly LogEntry[]): void {
    const gone = new Set(entries.map((e) => e.entryId))
    for (const id of gone) this.#inBuffer.delete(id)
    this.#buffer = this.#buffer.filter((e) => !gone.has(e.entryId))
  }

  async #ackNow(): Promise<void> {
    const ids = this.#toAck
    const trim = this.#toTrim
    this.#toAck = []
    this.#toTrim = []
    try {
      await this.#log.ack(this.partition, ids, trim)
    } catch (error) {
      // Flushed but not acknowledged: acknowledged on the next step (or flushed again by a new holder).
      this.#toAck = ids.concat(this.#toAck)
      this.#toTrim = trim.concat(this.#toTrim)
      throw error
    }
  }

  /** Waits `ms` or until poked (an append here, a stop, a drain). */
  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(done, timerMs(ms))
      const self = this
      function done() {
        clearTimeout(timer)
        if (self.#wake === done) self.#wake = undefined
        resolve()
      }
      this.#wake = done
    })
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`
  return String(error)
}
