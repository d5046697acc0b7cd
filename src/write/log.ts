import { fnv1a } from '../base/fnv.js'

/**
 * The durable log under a write-behind: the seam between the engine (batching, retries, dead
 * letters, partition ownership) and its storage. {@link RedisStreamLog} is the production one;
 * {@link MemoryWriteLog} keeps the same semantics in process for unit tests.
 *
 * The contract every implementation keeps:
 * - `append` is durable when it resolves (as durable as the store: see docs/write-behind.md) and
 *   assigns each write an id (increasing within a partition) and a sequence, greater than any
 *   the partition gave before (so greater for every later write of a key).
 * - An entry stays in the log until `ack` or `deadLetter` removes it, so `length` is the number
 *   of writes not yet flushed.
 * - Entries `read` by a consumer stay pending for it until acknowledged; `claim` hands every
 *   pending entry of the partition to another consumer (crash recovery), in log order.
 * - A partition is flushed by whoever holds its lease (`acquire`/`renew`/`release`), which is what
 *   keeps writes of one key in order.
 */
export interface WriteLog {
  /** A short description for errors ('redis stream !wb:{cache:carts:0}', 'memory'). */
  readonly description: string
  /**
   * Whether `append` writes an op's `cache` entry in the same atomic step (a single Redis: the
   * cache and the log share it). When false, the write-behind updates the cache itself.
   */
  readonly writesCache: boolean
  /** Checks that every process agrees on the partition count; rejects with InvalidOptionError if not. */
  init(partitions: number): Promise<void>
  /**
   * Appends writes to `partition` in order, unless the partition already holds `maxPending`
   * entries (Infinity: no bound): those not appended come back as `{ full: length }`. With
   * `replication`, resolves only once that many replicas have the appends (rejects with
   * WriteBehindNotReplicatedError when fewer confirmed within its timeout).
   */
  append(
    partition: number,
    ops: readonly AppendOp[],
    maxPending: number,
    replication?: Replication,
  ): Promise<AppendResult[]>
  /** The last sequence of each key with writes pending (0 when none is: never written, or all flushed). */
  sequences(partition: number, keys: readonly string[]): Promise<number[]>
  /**
   * For writes appended with `holdSequence` (their writer updates the cache after the append):
   * the last sequence of each write's key, as `sequences` gives it, and each write's hold released
   * in the same step — its key's sequence is forgotten now if it was flushed already, or by the ack
   * that flushes it. A newer write of the key replaces the hold with its own sequence.
   */
  releaseSequences(partition: number, writes: readonly FlushedKey[]): Promise<number[]>
  /** Up to `count` entries never delivered before, in log order; they become pending for `consumer`. */
  read(partition: number, consumer: string, count: number): Promise<LogEntry[]>
  /** Every pending entry of the partition (any consumer's), now `consumer`'s, in log order. */
  claim(partition: number, consumer: string): Promise<LogEntry[]>
  /**
   * Acknowledges and removes entries (by `entryId`); for each of `flushed` (a key and the
   * sequence of its newest write that was flushed), forgets the key's sequence unless a newer
   * write of it was appended since or the write's hold is not released yet (`holdSequence`): the
   * sequence store holds only keys with writes pending or cache updates running.
   */
  ack(partition: number, entryIds: readonly string[], flushed?: readonly FlushedKey[]): Promise<void>
  /**
   * Moves `entry` to the dead-letter stream with the error, then acknowledges `alsoAck` (and it).
   * With `maxDeadLetters` (finite), the oldest dead letters beyond it are removed in the same
   * step and reported (a log written before this parameter existed ignores it: no bound).
   */
  deadLetter(
    partition: number,
    entry: LogEntry,
    attempts: number,
    error: string,
    alsoAck: readonly string[],
    maxDeadLetters?: number,
    // biome-ignore lint/suspicious/noConfusingVoidType: a log written when this returned Promise<void> still implements it
  ): Promise<DroppedDeadLetters | undefined | void>
  /** Entries in the partition (appended, not yet acknowledged). */
  length(partition: number): Promise<number>
  /** The oldest entry's id and append time, or undefined when the partition is empty. */
  oldest(partition: number): Promise<{ entryId: string; at: number } | undefined>
  /**
   * Which of these entries are still in the log (not yet acknowledged nor dead-lettered), in the
   * order given. Optional: without it, a write-behind's `settled()` waits until the partition's
   * oldest entry is newer than every write it made, whoever's writes are older.
   */
  remaining?(partition: number, entryIds: readonly string[]): Promise<string[]>
  /** Takes the partition's lease for `ttlMs` if nobody holds it; true when this call took it. */
  acquire(partition: number, token: string, ttlMs: number): Promise<boolean>
  /** Extends the lease if `token` still holds it; true when it did. */
  renew(partition: number, token: string, ttlMs: number): Promise<boolean>
  release(partition: number, token: string): Promise<void>
  /** The dead-letter stream. */
  readonly dead: DeadLetterStore
}

export interface AppendOp {
  readonly key: string
  readonly op: 'set' | 'delete'
  /** The encoded value; empty for a delete. */
  readonly value: Uint8Array
  /** A replayed write keeps its original id and sequence. */
  readonly replay?: { readonly id: string; readonly seq: number }
  /** The cache's L2 entry to write with it, when the log `writesCache`. */
  readonly cache?: CacheEntryWrite
  /**
   * Keep the key's sequence, even once this write is flushed, until `releaseSequences` is called
   * for it: its writer updates the cache after the append and then reads the sequence to learn
   * whether a newer write of the key (from another process) may have reached the cache first.
   * Without the hold a fast flush forgets the sequence in between, and the writer cannot tell.
   */
  readonly holdSequence?: boolean
  /** The cache's dependency markers to bump with it (those that exist), when the log `writesCache`. */
  readonly markers?: { readonly keys: readonly string[]; readonly at: number }
}

/** An L2 entry of the cache, as stored: its Redis key, sealed bytes and time to live. */
export interface CacheEntryWrite {
  readonly key: string
  readonly value: Uint8Array
  readonly ttlMs: number
}

/** Replicas that must have an append before it is acknowledged, and how long to wait for them. */
export interface Replication {
  readonly replicas: number
  readonly timeoutMs: number
}

/** A key whose writes up to sequence `seq` were flushed. */
export interface FlushedKey {
  readonly key: string
  readonly seq: number
}

export type AppendResult = { readonly id: string; readonly seq: number } | { readonly full: number }

/** One write in the log. */
export interface LogEntry {
  /** Position in the log (what `ack` takes). */
  readonly entryId: string
  readonly key: string
  readonly op: 'set' | 'delete'
  readonly value: Uint8Array
  /** The write's id: `entryId`, or the original one for a replayed write. */
  readonly id: string
  readonly seq: number
  /** When it was appended, ms since the epoch (from `entryId`). */
  readonly at: number
}

export interface DeadEntry {
  readonly deadId: string
  readonly partition: number
  readonly key: string
  readonly op: 'set' | 'delete'
  readonly value: Uint8Array
  readonly id: string
  readonly seq: number
  readonly attempts: number
  readonly error: string
  readonly failedAt: number
}

/** Dead letters removed, oldest first, to keep the dead-letter stream within its bound. */
export interface DroppedDeadLetters {
  /** How many were removed. */
  readonly count: number
  /** The first of them (at most {@link DROPPED_SHOWN}), without their values. */
  readonly letters: readonly Omit<DeadEntry, 'value'>[]
}

/** Most dropped dead letters described one by one per dead-lettering (the rest are counted). */
export const DROPPED_SHOWN = 100

export interface DeadLetterStore {
  list(count: number, after: string | undefined): Promise<DeadEntry[]>
  count(): Promise<number>
  /** Removes them; resolves to how many existed. */
  remove(deadIds: readonly string[]): Promise<number>
  /** The entries with these ids (missing ones left out). */
  get(deadIds: readonly string[]): Promise<DeadEntry[]>
}

/** Compares two stream ids (`<ms>-<n>`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am = '0', an = '0'] = a.split('-')
  const [bm = '0', bn = '0'] = b.split('-')
  const ms = Number(am) - Number(bm)
  return ms !== 0 ? Math.sign(ms) : Math.sign(Number(an) - Number(bn))
}

/** The append time (ms) a stream id carries. */
export function idTime(id: string): number {
  const dash = id.indexOf('-')
  return Number(dash === -1 ? id : id.slice(0, dash))
}

/** FNV-1a over UTF-16 code units: a stable key → partition mapping in every process. */
export function partitionOf(key: string, partitions: number): number {
  if (partitions === 1) return 0
  return fnv1a(key) % partitions
}
