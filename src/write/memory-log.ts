import { expectObject } from '../base/describe.js'
import { InvalidOptionError } from '../errors.js'
import {
  type AppendOp,
  type AppendResult,
  type DeadEntry,
  type DeadLetterStore,
  DROPPED_SHOWN,
  type DroppedDeadLetters,
  type FlushedKey,
  idTime,
  type LogEntry,
  type Replication,
  type WriteLog,
} from './log.js'

interface Partition {
  entries: LogEntry[]
  /** Entry id → consumer, for delivered entries not yet acknowledged. */
  pending: Map<string, string>
  /** Highest entry id delivered by `read` (entries after it are new). */
  delivered: number
  /** The last sequence of each key with writes pending (trimmed as they are flushed). */
  seqs: Map<string, number>
  /** Keys whose last sequence is held (AppendOp.holdSequence): true once that write was flushed. */
  held: Map<string, boolean>
  /** The last sequence of every key ever written (in process, so never trimmed: 1, 2, 3… per key). */
  counters: Map<string, number>
  lease: { token: string; expiresAt: number } | undefined
}

/**
 * An in-process {@link WriteLog} with the Redis Stream log's semantics (ids increasing per
 * partition, pending entries per consumer, leases that expire by `clock`): for unit tests of the
 * engine, and for tools that want write-behind batching without Redis. Not durable.
 */
export class MemoryWriteLog implements WriteLog {
  readonly description = 'memory'
  readonly writesCache = false
  readonly #partitions = new Map<number, Partition>()
  readonly #clock: () => number
  #nextId = 0
  #dead: DeadEntry[] = []
  #partitionCount: number | undefined
  /** When set, every call rejects with it (a Redis outage, for tests). */
  failure: Error | undefined
  readonly dead: DeadLetterStore

  constructor(options: { clock?: () => number } = {}) {
    expectObject(options, 'MemoryWriteLog(options)')
    this.#clock = options.clock ?? Date.now
    this.dead = {
      list: async (count, after) => {
        this.#check()
        const start = after === undefined ? 0 : this.#dead.findIndex((d) => d.deadId === after) + 1
        return this.#dead.slice(start, start + count)
      },
      count: async () => {
        this.#check()
        return this.#dead.length
      },
      remove: async (ids) => {
        this.#check()
        const set = new Set(ids)
        const before = this.#dead.length
        this.#dead = this.#dead.filter((d) => !set.has(d.deadId))
        return before - this.#dead.length
      },
      get: async (ids) => {
        this.#check()
        const set = new Set(ids)
        return this.#dead.filter((d) => set.has(d.deadId))
      },
    }
  }

  #check(): void {
    if (this.failure !== undefined) throw this.failure
  }

  #partition(p: number): Partition {
    let partition = this.#partitions.get(p)
    if (partition === undefined) {
      partition = {
        entries: [],
        pending: new Map(),
        delivered: 0,
        seqs: new Map(),
        held: new Map(),
        counters: new Map(),
        lease: undefined,
      }
      this.#partitions.set(p, partition)
    }
    return partition
  }

  #id(): string {
    this.#nextId++
    return `${this.#clock()}-${this.#nextId}`
  }

  async init(partitions: number): Promise<void> {
    this.#check()
    this.#partitionCount ??= partitions
    if (this.#partitionCount !== partitions) throw new Error('partition count mismatch')
  }

  async append(
    partition: number,
    ops: readonly AppendOp[],
    maxPending: number,
    replication?: Replication,
  ): Promise<AppendResult[]> {
    this.#check()
    if (replication !== undefined && replication.replicas > 0) {
      throw new InvalidOptionError(
        "MemoryWriteLog has no replicas: durability: 'replicated' needs a Redis log with a replica.",
      )
    }
    const p = this.#partition(partition)
    return ops.map((op) => {
      if (p.entries.length >= maxPending) return { full: p.entries.length }
      const entryId = this.#id()
      const seq = op.replay?.seq ?? (p.counters.get(op.key) ?? 0) + 1
      if (op.replay === undefined) {
        p.counters.set(op.key, seq)
        p.seqs.set(op.key, seq)
        if (op.holdSequence === true && op.op === 'set') p.held.set(op.key, false)
        else p.held.delete(op.key)
      }
      const id = op.replay?.id ?? entryId
      // A replayed write keeps its original append time, as in the Redis log (it reads the id's).
      p.entries.push({ entryId, key: op.key, op: op.op, value: op.value, id, seq, at: idTime(id) })
      return { id, seq }
    })
  }

  async sequences(partition: number, keys: readonly string[]): Promise<number[]> {
    this.#check()
    const p = this.#partition(partition)
    return keys.map((k) => p.seqs.get(k) ?? 0)
  }

  async releaseSequences(partition: number, writes: readonly FlushedKey[]): Promise<number[]> {
    this.#check()
    const p = this.#partition(partition)
    return writes.map((w) => {
      const current = p.seqs.get(w.key) ?? 0
      const flushed = p.held.get(w.key)
      if (current === w.seq && flushed !== undefined) {
        p.held.delete(w.key)
        if (flushed) p.seqs.delete(w.key)
      }
      return current
    })
  }

  async read(partition: number, consumer: string, count: number): Promise<LogEntry[]> {
    this.#check()
    const p = this.#partition(partition)
    const out: LogEntry[] = []
    for (const entry of p.entries) {
      if (out.length >= count) break
      const n = Number(entry.entryId.split('-')[1])
      if (n <= p.delivered) continue
      p.delivered = n
      p.pending.set(entry.entryId, consumer)
      out.push(entry)
    }
    return out
  }

  async claim(partition: number, consumer: string): Promise<LogEntry[]> {
    this.#check()
    const p = this.#partition(partition)
    const out: LogEntry[] = []
    for (const entry of p.entries) {
      if (!p.pending.has(entry.entryId)) continue
      p.pending.set(entry.entryId, consumer)
      out.push(entry)
    }
    return out
  }

  async ack(
    partition: number,
    entryIds: readonly string[],
    flushed: readonly FlushedKey[] = [],
  ): Promise<void> {
    this.#check()
    const p = this.#partition(partition)
    const set = new Set(entryIds)
    p.entries = p.entries.filter((e) => !set.has(e.entryId))
    for (const id of entryIds) p.pending.delete(id)
    for (const f of flushed) {
      if (p.seqs.get(f.key) !== f.seq) continue
      if (p.held.has(f.key)) p.held.set(f.key, true)
      else p.seqs.delete(f.key)
    }
  }

  async deadLetter(
    partition: number,
    entry: LogEntry,
    attempts: number,
    error: string,
    alsoAck: readonly string[],
    maxDeadLetters = Number.POSITIVE_INFINITY,
  ): Promise<DroppedDeadLetters> {
    this.#check()
    this.#dead.push({ ...entry, deadId: this.#id(), partition, attempts, error, failedAt: this.#clock() })
    const over = Math.max(0, this.#dead.length - maxDeadLetters)
    const gone = this.#dead.splice(0, over)
    await this.ack(partition, [entry.entryId, ...alsoAck], [{ key: entry.key, seq: entry.seq }])
    return {
      count: over,
      letters: gone.slice(0, DROPPED_SHOWN).map((d) => ({
        deadId: d.deadId,
        partition: d.partition,
        key: d.key,
        op: d.op,
        id: d.id,
        seq: d.seq,
        attempts: d.attempts,
        error: d.error,
        failedAt: d.failedAt,
      })),
    }
  }

  async length(partition: number): Promise<number> {
    this.#check()
    return this.#partition(partition).entries.length
  }

  async oldest(partition: number): Promise<{ entryId: string; at: number } | undefined> {
    this.#check()
    const first = this.#partition(partition).entries[0]
    return first === undefined ? undefined : { entryId: first.entryId, at: first.at }
  }

  async remaining(partition: number, entryIds: readonly string[]): Promise<string[]> {
    this.#check()
    const present = new Set(this.#partition(partition).entries.map((e) => e.entryId))
    return entryIds.filter((id) => present.has(id))
  }

  async acquire(partition: number, token: string, ttlMs: number): Promise<boolean> {
    this.#check()
    const p = this.#partition(partition)
    const now = this.#clock()
    if (p.lease !== undefined && p.lease.expiresAt > now) return false
    p.lease = { token, expiresAt: now + ttlMs }
    return true
  }

  async renew(partition: number, token: string, ttlMs: number): Promise<boolean> {
    this.#check()
    const p = this.#partition(partition)
    const now = this.#clock()
    if (p.lease === undefined || p.lease.token !== token || p.lease.expiresAt <= now) return false
    p.lease.expiresAt = now + ttlMs
    return true
  }

  async release(partition: number, token: string): Promise<void> {
    this.#check()
    const p = this.#partition(partition)
    if (p.lease?.token === token) p.lease = undefined
  }

  /** How many keys the partition's sequence store holds (for tests: only keys with writes pending). */
  sequenceCount(partition: number): number {
    return this.#partition(partition).seqs.size
  }

  /** Entry ids pending for each consumer (for tests). */
  pendingOf(partition: number): Map<string, string> {
    return new Map(this.#partition(partition).pending)
  }
}
