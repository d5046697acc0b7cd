import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import { describeValue, expectObject } from '../base/describe.js'
import {
  ClosedError,
  InvalidKeyError,
  InvalidOptionError,
  messageOf,
  SerializationError,
  WriteBehindTimeoutError,
} from '../errors.js'
import { assertKeyLength } from '../keys/limits.js'
import type { Serializer } from '../serialization/serializer.js'
import { TaggedJsonSerializer } from '../serialization/tagged-json.js'
import type { RemoteTier } from '../tiers/tier.js'
import { Appender, logError } from './appender.js'
import { CacheUpdater } from './cache-updater.js'
import { settledOr } from './deadline.js'
import { PartitionFlusher } from './flusher.js'
import { type AppendOp, partitionOf, type Replication, type WriteLog } from './log.js'
import { type ResolvedWriteBehindOptions, resolveWriteBehindOptions } from './options.js'
import { OwnWrites } from './own-writes.js'
import { RedisStreamLog } from './redis-stream-log.js'
import type { CacheStaging, StagedSet, WriteBehindCache } from './staging.js'
import type {
  CloseResult,
  DeadLetter,
  DeadLetters,
  WriteBehind,
  WriteBehindEventName,
  WriteBehindEvents,
  WriteBehindOptions,
  WriteBehindStats,
  WriteReceipt,
} from './types.js'

export type { CacheStaging, StagedSet, WriteBehindCache } from './staging.js'

/** A write ready to be appended (see #prepare). */
interface PreparedWrite {
  partition: number
  append: AppendOp
  /** The cache's staged set (its L2 entry rides in the append). */
  fast: StagedSet | undefined
  /** The cache update to make after the append (when the append does not carry it). */
  cacheOp: 'set' | 'delete' | undefined
}

const SETTLE_POLL_MS = 20
/**
 * A flusher measures its lag at least once a second while it works (flusher.ts, MEASURE_EVERY_MS);
 * a measure older than twice that is overdue (a step one second late is not yet silence), and the
 * writes it saw unflushed, still unflushed as far as this instance knows, keep ageing.
 */
const LAG_OVERDUE_AFTER_MS = 2000
/**
 * The last part of close()'s timeout (at most this, and at most a fifth of it) is kept for what
 * follows the drain: stopping the flushers, releasing their leases, counting what is left. Each of
 * those waits only for what is left of the timeout, so close() resolves within it even when Redis
 * answers nothing (it took closeTimeout + 3 × l2.timeout against a paused Redis before).
 */
const CLOSE_RESERVE_MS = 200
/** A stream id (`<ms>-<n>`), as dead letters are named. */
const STREAM_ID = /^\d+-\d+$/
const EVENT_NAMES: readonly WriteBehindEventName[] = [
  'flushed',
  'retry',
  'dead-letter',
  'dead-letter-dropped',
  'backpressure',
  'partition',
  'log-error',
  'cache-error',
]

/**
 * Creates a write-behind over `log`, updating `cache` (if given) on every write. `cache.writeBehind()`
 * is the usual entry point: it passes the cache and a Redis Stream log on the cache's own Redis.
 */
export function createWriteBehind<T>(
  target: { log: WriteLog; cache?: WriteBehindCache | undefined },
  options: WriteBehindOptions<T>,
): WriteBehind<T> {
  const { log, cache } = expectObject(target, 'createWriteBehind(target): the target ({ log, cache? })')
  return new WriteBehindLog<T>(log, cache, resolveWriteBehindOptions(options))
}

/** The write-behinds of each cache, so that closing the cache drains them. */
const byCache = new WeakMap<object, Map<string, WriteBehind<unknown>>>()

/**
 * What `cache.writeBehind(options)` does: a Redis Stream log on the cache's own Redis connection
 * (`tier`, the L2 without its circuit breaker: a write is in the log or `set` rejects), named
 * after the cache's namespace and `options.name`.
 */
export function writeBehindFor<T>(
  cache: WriteBehindCache & { readonly name: string },
  tier: RemoteTier | undefined,
  options: WriteBehindOptions<T>,
  staging?: CacheStaging,
): WriteBehind<T> {
  const resolved = resolveWriteBehindOptions(options)
  const streams = tier?.streams
  if (streams === undefined) {
    throw new InvalidOptionError(
      `writeBehind '${resolved.name}' needs a durable log: give the cache a Redis L2 (l2: { redis: 'redis://…' }, a redis/ioredis client, or a Redis Cluster). A cache without L2 or with a MemoryRemoteTier has no stream commands; use createWriteBehind({ log }) with your own WriteLog instead.`,
    )
  }
  let mine = byCache.get(cache)
  if (mine === undefined) {
    mine = new Map()
    byCache.set(cache, mine)
  }
  if (mine.has(resolved.name)) {
    throw new InvalidOptionError(
      `writeBehind '${resolved.name}' already exists on this cache: keep the first one, or give this one another name.`,
    )
  }
  const log = new RedisStreamLog(streams, {
    namespace: cache.name,
    name: resolved.name,
    // On a cluster the cache's entries live in other slots: the cache is updated after the append.
    writesCache: staging !== undefined,
    partitions: resolved.partitions,
  })
  const registry = mine
  const wb: WriteBehind<T> = new WriteBehindLog<T>(
    log,
    cache,
    resolved,
    () => {
      // Closed on its own: the name is free again, and the cache's close() has nothing to drain.
      if (registry.get(resolved.name) === wb) registry.delete(resolved.name)
    },
    staging,
  )
  mine.set(resolved.name, wb as WriteBehind<unknown>)
  return wb
}

/** The open write-behinds of `cache` (for its stats and snapshots). */
export function writeBehindsOf(cache: object): WriteBehind<unknown>[] {
  return [...(byCache.get(cache)?.values() ?? [])]
}

/** Drains and closes every write-behind of `cache` (what `cache.close()` awaits). */
export async function closeWriteBehinds(cache: object): Promise<void> {
  const mine = byCache.get(cache)
  if (mine === undefined) return
  byCache.delete(cache)
  await Promise.all([...mine.values()].map((wb) => wb.close()))
}

class WriteBehindLog<T> implements WriteBehind<T> {
  readonly name: string
  readonly deadLetters: DeadLetters
  readonly #log: WriteLog
  readonly #cache: WriteBehindCache | undefined
  readonly #o: ResolvedWriteBehindOptions<T>
  readonly #serializer: Serializer
  readonly #flushers: PartitionFlusher<T>[] = []
  readonly #listeners = new Map<WriteBehindEventName, Set<(event: never) => void>>()
  readonly #stats: WriteBehindStats = {
    appended: 0,
    rejected: 0,
    flushes: 0,
    flushed: 0,
    coalesced: 0,
    cacheWithdrawn: 0,
    retries: 0,
    deadLettered: 0,
    deadLettersDropped: 0,
    reclaimed: 0,
    pending: 0,
    lagMs: 0,
    lastLagMs: 0,
    lastFlushMs: 0,
    maxFlushMs: 0,
    totalFlushMs: 0,
    ownedPartitions: 0,
  }
  /** Appends issued in the same tick share one round trip per partition (calls of up to 16 writes). */
  readonly #appender: Appender
  /** Cache updates made after the append (cluster; a set the cache could not stage). */
  readonly #updater: CacheUpdater | undefined
  readonly #inFlight = new Set<Promise<unknown>>()
  /** This instance's entries that may still be in the log (what settled() and close() wait for). */
  readonly #own: OwnWrites
  /**
   * What each partition's flusher last saw, summed (pending) or maxed (lag) into stats: `at`, when
   * its lag was measured; `appendedAt`, the first append acknowledged since (its age is a lag too).
   */
  readonly #seen = new Map<
    number,
    { pending: number; lagMs: number; at: number; appendedAt?: number | undefined }
  >()
  #init: Promise<void> | undefined
  /** The log's init resolved: writes need not wait for it (the fast path of #submit). */
  #initialized = false
  #closing: Promise<CloseResult> | undefined

  readonly #onClosed: (() => void) | undefined
  /** Set when the log writes the cache's L2 entries in its appends (see CacheStaging). */
  readonly #staging: CacheStaging | undefined
  /** What each append waits for (durability: 'replicated'), or undefined. */
  readonly #replication: Replication | undefined
  /** The cache's key limit (none for a write-behind of no cache's). */
  readonly #maxKeyLength: number

  constructor(
    log: WriteLog,
    cache: WriteBehindCache | undefined,
    options: ResolvedWriteBehindOptions<T>,
    onClosed?: () => void,
    staging?: CacheStaging,
  ) {
    this.#onClosed = onClosed
    this.#maxKeyLength = staging?.maxKeyLength ?? Number.POSITIVE_INFINITY
    this.#staging = log.writesCache && options.updateCache ? staging : undefined
    this.#replication =
      options.replicas > 0
        ? { replicas: options.replicas, timeoutMs: options.replicationTimeoutMs }
        : undefined
    this.#log = log
    this.#own = new OwnWrites(log)
    this.#cache = cache
    this.#o = options
    this.name = options.name
    this.#appender = new Appender({
      name: options.name,
      log,
      maxPending: options.maxPending,
      partitions: options.partitions,
      replication: this.#replication,
      staging: this.#staging,
      stats: this.#stats,
      emit: (name, event) => this.#emit(name, event),
      track: (promise) => this.#track(promise),
      observe: (partition, pending) => this.#count(partition, pending),
      appended: (partition, entryIds) => {
        this.#appendedTo(partition)
        this.#own.add(partition, entryIds)
        this.#flushers[partition]?.nudge()
      },
    })
    this.#updater =
      cache === undefined
        ? undefined
        : new CacheUpdater(log, cache, this.#stats, (name, event) => this.#emit(name, event))
    this.#serializer = options.serializer ?? new TaggedJsonSerializer()
    const consumer = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
    if (options.flusher) {
      for (let p = 0; p < options.partitions; p++) {
        const flusher = new PartitionFlusher<T>(
          log,
          p,
          consumer,
          randomUUID(),
          {
            flush: options.flush,
            decode: (bytes) => this.#serializer.decode(bytes) as T,
            maxBatch: options.maxBatch,
            maxDelayMs: options.maxDelayMs,
            retryBaseMs: options.retryBaseMs,
            retryMaxMs: options.retryMaxMs,
            maxAttempts: options.maxAttempts,
            maxDeadLetters: options.maxDeadLetters,
            visibilityTimeoutMs: options.visibilityTimeoutMs,
            flushTimeoutMs: options.flushTimeoutMs,
            pollIntervalMs: options.pollIntervalMs,
            clock: options.clock,
            random: options.random,
          },
          {
            stats: this.#stats,
            observe: (partition, pending, lagMs) => this.#observe(partition, pending, lagMs),
            emit: (name, event) => this.#emit(name, event),
          },
        )
        this.#flushers.push(flusher)
      }
      // Start once the partition count is confirmed; a mismatch surfaces on every set instead.
      this.#ready().then(
        () => {
          if (this.#closing === undefined) for (const f of this.#flushers) f.start()
        },
        (error: unknown) => this.#emit('log-error', { operation: 'init', error }),
      )
    }
    this.deadLetters = {
      list: async (options = {}) => {
        const { count = 100, after } = expectObject(options, 'deadLetters.list(options)')
        if (!Number.isSafeInteger(count) || count < 1) {
          throw new InvalidOptionError(
            `deadLetters.list: count must be an integer ≥ 1; got ${describeValue(count)}.`,
          )
        }
        if (after !== undefined) deadIdsOf([after], 'deadLetters.list: after')
        return (await this.#log.dead.list(count, after)).map(
          (d): DeadLetter => ({
            deadId: d.deadId,
            key: d.key,
            op: d.op,
            value: d.op === 'set' ? d.value : undefined,
            id: d.id,
            seq: d.seq,
            attempts: d.attempts,
            error: d.error,
            failedAt: d.failedAt,
          }),
        )
      },
      count: () => this.#log.dead.count(),
      replay: async (deadIds) =>
        this.#replay(deadIds === undefined ? undefined : deadIdsOf(deadIds, 'deadLetters.replay(deadIds)')),
      remove: async (deadIds) => this.#log.dead.remove(deadIdsOf(deadIds, 'deadLetters.remove(deadIds)')),
    }
  }

  #ready(): Promise<void> {
    this.#init ??= this.#log.init(this.#o.partitions).then(
      () => {
        this.#initialized = true
      },
      (error: unknown) => {
        // Let a later call try again (Redis may have been down), unless the answer was a mismatch.
        if (!(error instanceof Error && error.name === 'InvalidOptionError')) this.#init = undefined
        throw error
      },
    )
    return this.#init
  }

  set(key: string, value: T): Promise<WriteReceipt> {
    return this.#submit(key, 'set', value)
  }

  delete(key: string): Promise<WriteReceipt> {
    return this.#submit(key, 'delete', undefined)
  }

  #track<R>(promise: Promise<R>): Promise<R> {
    this.#inFlight.add(promise)
    const done = () => this.#inFlight.delete(promise)
    promise.then(done, done)
    return promise
  }

  /**
   * A write. Once the log is initialised, a write whose cache update (if any) rides in the append
   * is queued here and now and settled by its batch (#sendAppends): no async function, no promise
   * of its own beyond the caller's, no tracking of its own (its batch is tracked) — per-write
   * costs that were a good part of an append's CPU (issue 17). Anything else goes through #write.
   */
  #submit(key: string, op: 'set' | 'delete', value: T | undefined): Promise<WriteReceipt> {
    let bytes: Uint8Array
    try {
      bytes = this.#encode(key, op, value)
    } catch (error) {
      return Promise.reject(error)
    }
    if (!this.#initialized) return this.#track(this.#write(key, op, value, bytes))
    const write = this.#prepare(key, op, value, bytes)
    if (write.cacheOp === undefined) return this.#appender.append(write.partition, write.append, write.fast)
    return this.#track(this.#updateAfter(write, value))
  }

  /** Checks a write and encodes its value (empty for a delete); throws what the write rejects with. */
  #encode(key: string, op: 'set' | 'delete', value: T | undefined): Uint8Array {
    if (typeof key !== 'string' || key.length === 0) {
      throw new InvalidKeyError(
        'write-behind keys must be non-empty strings: build them with key(entity, ...parts).',
      )
    }
    // A key its cache would refuse must not reach the log and the database either.
    assertKeyLength(key, this.#maxKeyLength)
    if (this.#closing !== undefined) {
      throw new ClosedError(`write-behind '${this.name}' was closed: writes are no longer accepted.`)
    }
    if (op === 'delete') return new Uint8Array(0)
    if (value === undefined) {
      throw new SerializationError('write-behind set: undefined cannot be written; call delete(key) instead.')
    }
    let bytes: unknown
    try {
      bytes = this.#serializer.encode(value)
    } catch (error) {
      throw new SerializationError(
        `write-behind set: the value of '${key}' cannot be encoded by the ${this.#serializer.name} serializer (${messageOf(error)}).`,
        { cause: error },
      )
    }
    // Checked here, not by the append: bytes the log cannot pack would fail every write of the batch.
    if (!(bytes instanceof Uint8Array)) {
      throw new SerializationError(
        `write-behind set: the ${this.#serializer.name} serializer's encode() returned ${describeValue(bytes)} for the value of '${key}', not bytes: it must return a Uint8Array (or a Buffer).`,
      )
    }
    return bytes
  }

  /** A write before the log's init resolved: waits for it, then goes the way #submit sends it. */
  async #write(
    key: string,
    op: 'set' | 'delete',
    value: T | undefined,
    bytes: Uint8Array,
  ): Promise<WriteReceipt> {
    await this.#ready().catch((error: unknown) => {
      throw logError(this.name, error)
    })
    const write = this.#prepare(key, op, value, bytes)
    if (write.cacheOp === undefined) return this.#appender.append(write.partition, write.append, write.fast)
    return this.#updateAfter(write, value)
  }

  /** Stages the cache's side (the fast path: the L1 entry now, the L2 entry inside the append). */
  #prepare(key: string, op: 'set' | 'delete', value: T | undefined, bytes: Uint8Array): PreparedWrite {
    const partition = partitionOf(key, this.#o.partitions)
    const staged = op === 'set' ? this.#stage(key, value, bytes) : undefined
    const fast = staged instanceof Object ? staged : undefined
    // Otherwise the cache is updated after the append (see #updateCache). A set the cache could
    // not stage (its value does not encode) removes the key instead: an older value must not stay.
    const cacheOp =
      this.#cache !== undefined && this.#o.updateCache && fast === undefined
        ? staged === 'failed'
          ? 'delete'
          : op
        : undefined
    const append: AppendOp =
      fast !== undefined
        ? {
            key,
            op,
            value: bytes,
            ...(fast.entry === undefined ? {} : { cache: fast.entry }),
            ...(fast.markers.length === 0 ? {} : { markers: { keys: fast.markers, at: fast.at } }),
          }
        : { key, op, value: bytes, ...(cacheOp === 'set' ? { holdSequence: true } : {}) }
    return { partition, append, fast, cacheOp }
  }

  /** Appends, then updates the cache (cluster, or a set the cache could not stage). */
  async #updateAfter(write: PreparedWrite, value: T | undefined): Promise<WriteReceipt> {
    const receipt = await this.#appender.append(write.partition, write.append, write.fast)
    if (write.cacheOp !== undefined)
      await this.#updater?.update(write.partition, write.append.key, write.cacheOp, value, receipt.seq)
    return receipt
  }

  /** Stages a set in the cache (fast path); undefined without one, 'failed' when the cache refused the value. */
  #stage(key: string, value: T | undefined, bytes: Uint8Array): StagedSet | 'failed' | undefined {
    if (this.#staging === undefined) return undefined
    try {
      return this.#staging.stageSet(key, value, { serializer: this.#serializer, bytes })
    } catch (error) {
      this.#emit('cache-error', { key, error })
      return 'failed'
    }
  }

  async pending(): Promise<number> {
    const partitions = Array.from({ length: this.#o.partitions }, (_, p) => p)
    // One round trip for all partitions, not one after the other.
    const lengths = await Promise.all(partitions.map((p) => this.#log.length(p)))
    let total = 0
    for (const p of partitions) {
      const length = lengths[p] as number
      this.#count(p, length)
      total += length
    }
    return total
  }

  async settled(timeoutMs = this.#o.closeTimeoutMs): Promise<void> {
    waitMs(timeoutMs, 'settled(timeoutMs)')
    if (!(await this.#waitSettled(this.#o.clock() + timeoutMs))) {
      throw new WriteBehindTimeoutError(
        `write-behind '${this.name}': writes still unflushed after ${timeoutMs} ms. They stay in the log and are flushed when the database answers: wait again, or check the flushers.`,
        this.#stats.pending,
      )
    }
  }

  /**
   * True once every entry this instance appended was acknowledged (or dead-lettered); false at
   * `deadline`. Every wait is bounded by it: a log call that does not answer (Redis paused) is
   * left behind, not waited for.
   */
  async #waitSettled(deadline: number): Promise<boolean> {
    const left = () => deadline - this.#o.clock()
    if ((await settledOr(Promise.allSettled([...this.#inFlight]), left(), false)) === false) return false
    for (;;) {
      if (await settledOr(this.#own.flushed(), left(), false)) return true
      if (left() <= 0) return false
      for (const f of this.#flushers) f.drain()
      await new Promise((resolve) => setTimeout(resolve, Math.min(SETTLE_POLL_MS, left())))
    }
  }

  /** A flusher's measure: the partition's length and its oldest unflushed entry's age, as of now. */
  #observe(partition: number, pending: number, lagMs: number): void {
    this.#seen.set(partition, { pending, lagMs, at: this.#o.clock() })
    this.#count(partition, pending)
  }

  /**
   * A partition's length, learnt without its lag (an append refused, pending()): the lag stays as
   * measured, unless nothing is left to flush.
   */
  #count(partition: number, pending: number): void {
    const seen = this.#seen.get(partition)
    if (seen === undefined || pending === 0)
      this.#seen.set(partition, { pending, lagMs: 0, at: this.#o.clock() })
    else seen.pending = pending
    let total = 0
    for (const s of this.#seen.values()) total += s.pending
    this.#stats.pending = total
  }

  /** An append acknowledged: until the flusher measures again, it is an unflushed write of known age. */
  #appendedTo(partition: number): void {
    // Only where this instance flushes: elsewhere another process measures (and no measure here clears it).
    if (this.#flushers[partition]?.owned !== true) return
    const seen = this.#seen.get(partition)
    if (seen === undefined)
      this.#seen.set(partition, { pending: 0, lagMs: 0, at: this.#o.clock(), appendedAt: this.#o.clock() })
    else seen.appendedAt ??= this.#o.clock()
  }

  /**
   * The age of the oldest unflushed write as known now, in ms, the worst over partitions. A lag
   * measured once stays true only while the flusher measures again: while the log's Redis is
   * silent (or a flush hangs) it does not, and the last measure froze while the writes aged. So
   * where this instance flushes, an overdue measure that saw writes waiting counts the time since
   * it was taken, and a write appended since counts from its append; where it does not, another
   * process measures and the last measure seen here is reported as it was.
   */
  #lagMs(): number {
    const now = this.#o.clock()
    let lag = 0
    for (const [partition, seen] of this.#seen) {
      let age = seen.lagMs
      if (this.#flushers[partition]?.owned === true) {
        // pending > 0, not lagMs > 0: a write read in the millisecond it was appended measures 0.
        if (seen.pending > 0 && now - seen.at > LAG_OVERDUE_AFTER_MS) age = seen.lagMs + (now - seen.at)
        if (seen.appendedAt !== undefined) age = Math.max(age, now - seen.appendedAt)
      } else seen.appendedAt = undefined
      lag = Math.max(lag, age)
    }
    return lag
  }

  stats(): WriteBehindStats {
    return { ...this.#stats, lagMs: this.#lagMs() }
  }

  on<E extends WriteBehindEventName>(name: E, listener: (event: WriteBehindEvents[E]) => void): () => void {
    if (!EVENT_NAMES.includes(name)) {
      throw new InvalidOptionError(
        `write-behind on(name): ${describeValue(name)} is not an event; the events are ${EVENT_NAMES.join(', ')}.`,
      )
    }
    if (typeof listener !== 'function') {
      throw new InvalidOptionError(`write-behind on('${name}', listener): listener must be a function.`)
    }
    let set = this.#listeners.get(name)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(listener as (event: never) => void)
    return () => {
      set.delete(listener as (event: never) => void)
    }
  }

  #emit<E extends WriteBehindEventName>(name: E, event: WriteBehindEvents[E]): void {
    const set = this.#listeners.get(name)
    if (set === undefined) return
    for (const listener of set) {
      try {
        ;(listener as (event: WriteBehindEvents[E]) => void)(event)
      } catch {
        // A listener's bug must not stop a flusher.
      }
    }
  }

  async #replay(deadIds: readonly string[] | undefined): Promise<number> {
    let replayed = 0
    const replayOne = async (entries: Awaited<ReturnType<WriteLog['dead']['get']>>) => {
      for (const dead of entries) {
        const partition = partitionOf(dead.key, this.#o.partitions)
        const [result] = await this.#log.append(
          partition,
          [{ key: dead.key, op: dead.op, value: dead.value, replay: { id: dead.id, seq: dead.seq } }],
          Number.POSITIVE_INFINITY,
          this.#replication,
        )
        // Not back in the log: it stays a dead letter, and listing again would return it again.
        if (result === undefined || 'full' in result) {
          const why =
            result === undefined
              ? 'the log answered no result for it'
              : `the log is full (${result.full} waiting)`
          throw logError(
            this.name,
            new Error(`dead letter ${dead.deadId} (key '${dead.key}') could not be replayed: ${why}`),
          )
        }
        // Removed only once it is back in the log: a crash in between replays it twice (harmless).
        await this.#log.dead.remove([dead.deadId])
        this.#flushers[partition]?.poke()
        replayed++
      }
    }
    if (deadIds !== undefined) {
      await replayOne(await this.#log.dead.get(deadIds))
      return replayed
    }
    for (;;) {
      const page = await this.#log.dead.list(100, undefined)
      if (page.length === 0) return replayed
      await replayOne(page)
    }
  }

  close(options: { timeoutMs?: number } = {}): Promise<CloseResult> {
    const given: unknown = expectObject(options, 'close(options)').timeoutMs
    const timeoutMs = given === undefined ? this.#o.closeTimeoutMs : (given as number)
    waitMs(timeoutMs, 'close({ timeoutMs })')
    this.#closing ??= this.#close(timeoutMs)
    return this.#closing
  }

  /** Drains until the deadline less the reserve, then stops, releases and counts within what is left. */
  async #close(timeoutMs: number): Promise<CloseResult> {
    const clock = this.#o.clock
    const deadline = clock() + timeoutMs
    const drainUntil = deadline - Math.min(CLOSE_RESERVE_MS, timeoutMs / 5)
    const left = () => Math.max(0, deadline - clock())
    for (const f of this.#flushers) f.drain()
    const drained = await this.#waitSettled(drainUntil)
    await Promise.all(this.#flushers.map((f) => f.stop(Math.max(0, drainUntil - clock()), left)))
    // Redis down or not answering in time: unknown. The last count seen is no answer: writes
    // appended since, or flushed since by another process, made it wrong (a writer-only process
    // reported 0 of its 50 writes waiting).
    const pending = await settledOr(
      this.pending().catch(() => undefined),
      left(),
      undefined,
    )
    this.#onClosed?.()
    return { drained, pending }
  }
}

/** Dead-letter ids as given, once checked: an array of stream ids (a string would be read as its characters). */
function deadIdsOf(ids: unknown, what: string): string[] {
  if (!Array.isArray(ids)) {
    throw new InvalidOptionError(`${what} must be an array of dead-letter ids; got ${describeValue(ids)}.`)
  }
  for (const id of ids) {
    if (typeof id !== 'string' || !STREAM_ID.test(id)) {
      throw new InvalidOptionError(
        `${what}: ${describeValue(id)} is not a dead-letter id (\`<ms>-<n>\`, the deadId of deadLetters.list()).`,
      )
    }
  }
  return ids
}

/** Refuses a wait that is not a number of ms ≥ 0 (a NaN deadline is never reached: the wait would have no bound). */
function waitMs(value: unknown, what: string): void {
  if (typeof value !== 'number' || !(value >= 0)) {
    throw new InvalidOptionError(
      `write-behind ${what} must be a number of ms ≥ 0; got ${describeValue(value)}.`,
    )
  }
}
