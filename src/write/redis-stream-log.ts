import { expectObject } from '../base/describe.js'
import { InvalidOptionError, WriteBehindNotReplicatedError } from '../errors.js'
import { pxOf } from '../tiers/redis/adapter.js'
import { keySlot, SLOT_COUNT } from '../tiers/redis/cluster-slot.js'
import { Packer } from '../tiers/redis/pack.js'
import type { StreamCommands } from '../tiers/tier.js'
import {
  type AppendOp,
  type AppendResult,
  compareIds,
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
import { ACK, APPEND, DEAD_LETTER, RELEASE, RELEASE_SEQ, REMAINING, RENEW } from './stream-scripts.js'

const GROUP = 'flushers'
const CLAIM_COUNT = 1000

export interface RedisStreamLogOptions {
  /** The cache namespace: logs of two namespaces never meet. */
  namespace: string
  /** The write-behind's name. */
  name: string
  /**
   * Write the cache's L2 entries in the append script (default false). Only where the cache's
   * keys and the log share one Redis (not a cluster: they live in other slots).
   */
  writesCache?: boolean
  /**
   * The log's partition count, for placing partitions on a cluster (default 1): each partition's
   * hash tag is chosen so that its slot is the middle of its share of the slot space.
   */
  partitions?: number
}

/**
 * The write-behind log on Redis Streams, one stream per partition, read through the consumer
 * group 'flushers' (XREADGROUP, XACK, XAUTOCLAIM). Keys start with '!', which no cache namespace
 * may, so `cache.clear()` never touches them; each partition's keys share a hash tag (one slot).
 *
 * - `!wb:{<ns>:<name>:<p>}:log`: the stream (entries are deleted once acknowledged);
 * - `!wb:{<ns>:<name>:<p>}:seq`: the last sequence of each key with writes pending (trimmed as
 *   they are flushed);
 * - `!wb:{<ns>:<name>:<p>}:top`: the partition's last sequence;
 * - `!wb:{<ns>:<name>:<p>}:lease`: which flusher owns the partition;
 * - `!wb:{<ns>:<name>}:dlq`: dead letters; `!wb:{<ns>:<name>}:meta`: the partition count.
 */
export class RedisStreamLog implements WriteLog {
  readonly description: string
  readonly writesCache: boolean
  readonly #redis: StreamCommands
  /** On a cluster, each partition's hash tag (see placeTags); elsewhere `<ns>:<name>:<p>`. */
  #tags: string[] = []
  readonly #base: string
  readonly #root: string
  readonly dead: DeadLetterStore

  constructor(redis: StreamCommands, options: RedisStreamLogOptions) {
    expectObject(redis, 'RedisStreamLog(redis): the Redis commands')
    expectObject(options, 'RedisStreamLog(redis, options)')
    this.#redis = redis
    this.writesCache = options.writesCache === true && redis.routed !== true
    if (redis.routed === true)
      this.#tags = placeTags(`${options.namespace}:${options.name}`, options.partitions ?? 1)
    this.#base = `${options.namespace}:${options.name}`
    this.#root = `!wb:{${this.#base}}`
    this.description = `redis stream ${this.#key(0, 'log')}`
    this.dead = {
      list: (count, after) => this.#listDead(count, after),
      count: async () => Number(await this.#redis.call(['XLEN', `${this.#root}:dlq`])),
      remove: async (ids) =>
        ids.length === 0 ? 0 : Number(await this.#redis.call(['XDEL', `${this.#root}:dlq`, ...ids])),
      get: async (ids) => {
        const out: DeadEntry[] = []
        for (const id of ids) {
          const reply = await this.#redis.call(['XRANGE', `${this.#root}:dlq`, id, id])
          for (const raw of asArray(reply)) {
            const entry = parseDead(raw)
            if (entry !== undefined) out.push(entry)
          }
        }
        return out
      },
    }
  }

  #key(partition: number, what: 'log' | 'seq' | 'top' | 'lease'): string {
    return `!wb:{${this.#tags[partition] ?? `${this.#base}:${partition}`}}:${what}`
  }

  async init(partitions: number): Promise<void> {
    const meta = `${this.#root}:meta`
    await this.#redis.call(['SET', meta, String(partitions), 'NX'])
    const stored = text(await this.#redis.call(['GET', meta]))
    if (stored !== undefined && stored !== String(partitions)) {
      throw new InvalidOptionError(
        `write-behind '${this.#base}': this log has ${stored} partitions but this process was given partitions: ${partitions}. Every process of a log must use the same number (to change it, drain the log and DEL ${meta}).`,
      )
    }
  }

  /** The partition count the log was created with (undefined for a log never used). */
  async storedPartitions(): Promise<number | undefined> {
    const stored = text(await this.#redis.call(['GET', `${this.#root}:meta`]))
    return stored === undefined ? undefined : Number(stored)
  }

  async append(
    partition: number,
    ops: readonly AppendOp[],
    maxPending: number,
    replication?: Replication,
  ): Promise<AppendResult[]> {
    const keys = [this.#key(partition, 'log'), this.#key(partition, 'seq'), this.#key(partition, 'top')]
    const fields = new Packer()
    let letters = ''
    // Markers go after the writes (see APPEND): their keys at the end of KEYS, their times last.
    let markerKeys: string[] | undefined
    let markerTimes: number[] | undefined
    // TTLs repeat from write to write: their text is made once.
    let ttl = Number.NaN
    let px = ''
    for (const op of ops) {
      const cache = this.writesCache ? op.cache : undefined
      // An entry that ends with the write's own bytes (the usual one: the envelope of the value
      // as the log holds it) goes as its head only; the script appends the value. The value then
      // crosses the wire once: a second copy was about half of what a write sends.
      const head = cache === undefined ? 0 : headLength(cache.value, op.value)
      letters +=
        (op.op === 'set' ? (op.holdSequence === true ? 'h' : 's') : 'd') +
        (cache === undefined ? '-' : head < 0 ? 'c' : 'e') +
        (op.replay === undefined ? '-' : 'r')
      fields.add(op.key)
      fields.add(op.value)
      if (cache !== undefined) {
        keys.push(cache.key)
        if (cache.ttlMs !== ttl) {
          ttl = cache.ttlMs
          // pxOf, as every Redis write: its own copy sent 1e19 ms and more as is, which Redis
          // refused inside the append (after the XADD), and read NaN as no expiry.
          px = String(pxOf(ttl, 'write-behind cache entry') ?? '')
        }
        fields.add(px)
        fields.add(head < 0 ? cache.value : cache.value.subarray(0, head))
      }
      if (op.replay !== undefined) {
        fields.add(op.replay.id)
        fields.add(String(op.replay.seq))
      }
      if (this.writesCache && op.markers !== undefined && op.markers.keys.length > 0) {
        markerKeys ??= []
        markerTimes ??= []
        for (const marker of op.markers.keys) {
          markerKeys.push(marker)
          markerTimes.push(op.markers.at)
        }
      }
    }
    if (markerKeys !== undefined && markerTimes !== undefined) {
      for (const marker of markerKeys) keys.push(marker)
      for (const at of markerTimes) fields.addDouble(at)
    }
    const args = [Number.isFinite(maxPending) ? String(maxPending) : '', letters, fields.finish()]
    const reply = text(
      replication === undefined || replication.replicas === 0
        ? await this.#redis.eval(APPEND, keys, args)
        : await this.#appendReplicated(keys, args, replication),
    )
    const words = reply === undefined || reply === '' ? [] : reply.split(' ')
    const out: AppendResult[] = []
    for (let i = 0; i + 1 < words.length; i += 2) {
      const first = words[i] as string
      const second = Number(words[i + 1])
      out.push(first === 'full' ? { full: second } : { id: first, seq: second })
    }
    return out
  }

  /**
   * The append, then `WAIT replicas timeout` on the same connection, sent together (one round
   * trip plus the replication): WAIT counts the replicas that have every write this connection
   * sent before it. On one connection the append's reply comes first; a WAIT answered before it
   * (or failed) did not follow it — the append was redirected (MOVED after a failover or a slot
   * move) and ran on another master, where the WAIT is sent again. After a NOSCRIPT the script
   * is sent again, and so is the WAIT.
   */
  async #appendReplicated(keys: string[], args: (string | Buffer)[], replication: Replication) {
    const tail = [String(keys.length), ...keys, ...args]
    // On a cluster, to the partition's master, on the connection the append went through.
    const wait = () =>
      this.#redis.call(
        ['WAIT', String(replication.replicas), String(Math.max(1, Math.ceil(replication.timeoutMs)))],
        keys[0],
      )
    let appendDone = false
    const appended = this.#redis.call(['EVALSHA', APPEND.sha, ...tail], keys[0]).finally(() => {
      appendDone = true
    })
    // Handled at once: it may fail while the append is still being redirected.
    const waited = wait().then(
      (replicas) => ({ replicas, afterAppend: appendDone }),
      () => undefined,
    )
    let reply: unknown
    let acked: unknown
    try {
      reply = await appended
      const first = await waited
      acked = first?.afterAppend === true ? first.replicas : await wait()
    } catch (error) {
      await waited
      if (!String((error as Error | undefined)?.message ?? '').startsWith('NOSCRIPT')) throw error
      reply = await this.#redis.call(['EVAL', APPEND.lua, ...tail], keys[0])
      acked = await wait()
    }
    const replicas = Number(acked)
    if (!(replicas >= replication.replicas)) {
      throw new WriteBehindNotReplicatedError(
        `write-behind '${this.#base}': the master appended the write but ${replicas} of the ${replication.replicas} replica(s) required confirmed it within ${replication.timeoutMs} ms (durability: 'replicated'). It may still be flushed, or lost if the master fails now: retry it (a retry wins over it), and check the replicas (INFO replication).`,
        replicas,
      )
    }
    return reply
  }

  async sequences(partition: number, keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return []
    const reply = asArray(await this.#redis.call(['HMGET', this.#key(partition, 'seq'), ...keys]))
    // A held sequence ends in '!' or '.' (see APPEND).
    return keys.map((_, i) => Number.parseInt(text(reply[i]) ?? '0', 10))
  }

  async releaseSequences(partition: number, writes: readonly FlushedKey[]): Promise<number[]> {
    if (writes.length === 0) return []
    const args = writes.flatMap((w) => [w.key, String(w.seq)])
    const reply = asArray(await this.#redis.eval(RELEASE_SEQ, [this.#key(partition, 'seq')], args))
    return writes.map((_, i) => Number(text(reply[i]) ?? 0))
  }

  async read(partition: number, consumer: string, count: number): Promise<LogEntry[]> {
    const stream = this.#key(partition, 'log')
    const reply = await this.#withGroup(partition, () =>
      this.#redis.call(
        ['XREADGROUP', 'GROUP', GROUP, consumer, 'COUNT', String(count), 'STREAMS', stream, '>'],
        stream,
      ),
    )
    return streamEntries(reply)
  }

  async claim(partition: number, consumer: string): Promise<LogEntry[]> {
    const stream = this.#key(partition, 'log')
    const out: LogEntry[] = []
    let cursor = '0-0'
    // Bounded: each round moves the cursor forward; a PEL larger than this is left for the next claim.
    for (let round = 0; round < 1000; round++) {
      const reply = asArray(
        await this.#withGroup(partition, () =>
          this.#redis.call([
            'XAUTOCLAIM',
            stream,
            GROUP,
            consumer,
            '0',
            cursor,
            'COUNT',
            String(CLAIM_COUNT),
          ]),
        ),
      )
      cursor = text(reply[0]) ?? '0-0'
      out.push(...parseEntries(reply[1]))
      // Entries in the pending list that no longer exist (deleted): acknowledge them away.
      const gone = asArray(reply[2])
        .map(text)
        .filter((id): id is string => id !== undefined)
      if (gone.length > 0) await this.ack(partition, gone)
      if (cursor === '0-0') break
    }
    return out.sort((a, b) => compareIds(a.entryId, b.entryId))
  }

  async ack(
    partition: number,
    entryIds: readonly string[],
    flushed: readonly FlushedKey[] = [],
  ): Promise<void> {
    if (entryIds.length === 0 && flushed.length === 0) return
    const ids = new Packer()
    for (const id of entryIds) ids.add(id)
    const trim = new Packer()
    for (const f of flushed) {
      trim.add(f.key)
      trim.addDouble(f.seq)
    }
    await this.#redis.eval(
      ACK,
      [this.#key(partition, 'log'), this.#key(partition, 'seq')],
      [GROUP, ids.finish(), trim.finish()],
    )
  }

  async deadLetter(
    partition: number,
    entry: LogEntry,
    attempts: number,
    error: string,
    alsoAck: readonly string[],
    maxDeadLetters = Number.POSITIVE_INFINITY,
  ): Promise<DroppedDeadLetters> {
    // Not atomic with the ack (the two streams live in different slots): a crash in between leaves
    // the entry in both, and it is dead-lettered again. A duplicate dead letter, never a lost one.
    const reply = asArray(
      await this.#redis.eval(
        DEAD_LETTER,
        [`${this.#root}:dlq`],
        [
          entry.key,
          entry.op === 'set' ? 's' : 'd',
          String(entry.seq),
          toBuffer(entry.value),
          entry.id,
          String(attempts),
          error.slice(0, 2000),
          String(partition),
          Number.isFinite(maxDeadLetters) ? String(maxDeadLetters) : '',
          String(DROPPED_SHOWN),
        ],
      ),
    )
    await this.ack(partition, [...new Set([entry.entryId, ...alsoAck])], [{ key: entry.key, seq: entry.seq }])
    const letters: Omit<DeadEntry, 'value'>[] = []
    for (const raw of asArray(reply[1])) {
      const dead = parseDead(raw)
      if (dead === undefined) continue
      const { value: _value, ...letter } = dead
      letters.push(letter)
    }
    return { count: Number(reply[0] ?? 0), letters }
  }

  async length(partition: number): Promise<number> {
    return Number(await this.#redis.call(['XLEN', this.#key(partition, 'log')]))
  }

  async oldest(partition: number): Promise<{ entryId: string; at: number } | undefined> {
    const reply = asArray(
      await this.#redis.call(['XRANGE', this.#key(partition, 'log'), '-', '+', 'COUNT', '1']),
    )
    const first = asArray(reply[0])
    const id = text(first[0])
    return id === undefined ? undefined : { entryId: id, at: idTime(id) }
  }

  async remaining(partition: number, entryIds: readonly string[]): Promise<string[]> {
    if (entryIds.length === 0) return []
    const reply = await this.#redis.eval(REMAINING, [this.#key(partition, 'log')], entryIds)
    return asArray(reply)
      .map(text)
      .filter((id): id is string => id !== undefined)
  }

  async acquire(partition: number, token: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#redis.call([
      'SET',
      this.#key(partition, 'lease'),
      token,
      'PX',
      leaseMs(ttlMs),
      'NX',
    ])
    return reply !== null && reply !== undefined
  }

  async renew(partition: number, token: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#redis.eval(RENEW, [this.#key(partition, 'lease')], [token, leaseMs(ttlMs)])
    return Number(reply) === 1
  }

  async release(partition: number, token: string): Promise<void> {
    await this.#redis.eval(RELEASE, [this.#key(partition, 'lease')], [token])
  }

  /** Runs `command`; if the group does not exist (first use, or Redis lost it), creates it and runs it again. */
  async #withGroup(partition: number, command: () => Promise<unknown>): Promise<unknown> {
    try {
      return await command()
    } catch (error) {
      if (!String((error as Error | undefined)?.message ?? error).includes('NOGROUP')) throw error
      try {
        // '0', not '$': writes appended before any flusher existed are delivered too (entries
        // are only ever removed once acknowledged, so nothing older than them is left).
        const stream = this.#key(partition, 'log')
        await this.#redis.call(['XGROUP', 'CREATE', stream, GROUP, '0', 'MKSTREAM'], stream)
      } catch (created) {
        if (!String((created as Error | undefined)?.message ?? created).includes('BUSYGROUP')) throw created
      }
      return await command()
    }
  }

  async #listDead(count: number, after: string | undefined): Promise<DeadEntry[]> {
    const start = after === undefined ? '-' : `(${after}`
    const reply = await this.#redis.call(['XRANGE', `${this.#root}:dlq`, start, '+', 'COUNT', String(count)])
    const out: DeadEntry[] = []
    for (const raw of asArray(reply)) {
      const entry = parseDead(raw)
      if (entry !== undefined) out.push(entry)
    }
    return out
  }
}

// ---- reply parsing: ioredis gives arrays of Buffers; node-redis (RESP3) may give maps ----------

/**
 * Where `value` starts when `entry` ends with it (the entry's head is what precedes it); -1 when it
 * does not, or `value` is empty (nothing to share). One memcmp of the value's bytes.
 */
function headLength(entry: Uint8Array, value: Uint8Array): number {
  const head = entry.byteLength - value.byteLength
  if (value.byteLength === 0 || head < 0) return -1
  return Buffer.from(entry.buffer, entry.byteOffset + head, value.byteLength).equals(value) ? head : -1
}

function asArray(reply: unknown): unknown[] {
  if (Array.isArray(reply)) return reply
  if (reply instanceof Map) return [...reply.entries()]
  return []
}

function text(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined
  if (Buffer.isBuffer(value)) return value.toString('utf8')
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8')
  return String(value)
}

function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value
  return Buffer.from(text(value) ?? '', 'utf8')
}

/** The entries of the one stream in an XREADGROUP reply (`[[name, entries]]`, or a map name → entries). */
function streamEntries(reply: unknown): LogEntry[] {
  if (reply === null || reply === undefined) return []
  if (reply instanceof Map) {
    const first = reply.values().next()
    return first.done ? [] : parseEntries(first.value)
  }
  if (Array.isArray(reply)) {
    const first = asArray(reply[0])
    return parseEntries(first[1])
  }
  if (typeof reply === 'object') {
    const values = Object.values(reply as Record<string, unknown>)
    return parseEntries(values[0])
  }
  return []
}

/** `[[id, [field, value, …]], …]` (or a field map), skipping entries whose fields are gone (nil). */
function fieldsOf(raw: unknown): Map<string, unknown> | undefined {
  if (raw === null || raw === undefined) return undefined
  const out = new Map<string, unknown>()
  if (raw instanceof Map) {
    for (const [k, v] of raw) out.set(text(k) ?? '', v)
    return out
  }
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) out.set(text(raw[i]) ?? '', raw[i + 1])
    return out
  }
  if (typeof raw === 'object') {
    for (const [k, v] of Object.entries(raw as Record<string, unknown>)) out.set(k, v)
    return out
  }
  return undefined
}

function parseEntries(raw: unknown): LogEntry[] {
  const out: LogEntry[] = []
  for (const item of asArray(raw)) {
    const pair = asArray(item)
    const entryId = text(pair[0])
    if (entryId === undefined) continue
    const entry = Array.isArray(pair[1]) ? entryOfList(entryId, pair[1]) : entryOfMap(entryId, pair[1])
    if (entry !== undefined) out.push(entry)
  }
  return out
}

/**
 * An entry from its field list (`[name, value, …]`, ioredis): read in one pass, the one-letter
 * names by their byte — no map per entry (what a flusher reads is every write once).
 */
function entryOfList(entryId: string, fields: unknown[]): LogEntry | undefined {
  let key: string | undefined
  let op: 'set' | 'delete' = 'set'
  let value: unknown
  let seq = 0
  let id: string | undefined
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i + 1]
    const letter = letterOf(fields[i])
    if (letter === K) key = text(field)
    else if (letter === O) op = text(field) === 'd' ? 'delete' : 'set'
    else if (letter === Q) seq = Number(text(field) ?? 0)
    else if (letter === V) value = field
    else if (letter === I) id = text(field)
  }
  if (key === undefined) return undefined
  id ??= entryId
  return { entryId, key, op, value: bytes(value), id, seq, at: idTime(id) }
}

/** A one-letter field name's character code (0 for any other name). */
function letterOf(name: unknown): number {
  if (Buffer.isBuffer(name)) return name.length === 1 ? (name[0] as number) : 0
  const named = text(name)
  return named !== undefined && named.length === 1 ? named.charCodeAt(0) : 0
}

const K = 0x6b
const O = 0x6f
const Q = 0x71
const V = 0x76
const I = 0x69

/** An entry from a field map (node-redis's RESP3) or object; undefined when its fields are gone. */
function entryOfMap(entryId: string, raw: unknown): LogEntry | undefined {
  const fields = fieldsOf(raw)
  if (fields === undefined) return undefined
  const key = text(fields.get('k'))
  if (key === undefined) return undefined
  const id = text(fields.get('i')) ?? entryId
  return {
    entryId,
    key,
    op: text(fields.get('o')) === 'd' ? 'delete' : 'set',
    value: bytes(fields.get('v')),
    id,
    seq: Number(text(fields.get('q')) ?? 0),
    at: idTime(id),
  }
}

function parseDead(raw: unknown): DeadEntry | undefined {
  const pair = asArray(raw)
  const deadId = text(pair[0])
  const fields = fieldsOf(pair[1])
  if (deadId === undefined || fields === undefined) return undefined
  const key = text(fields.get('k'))
  if (key === undefined) return undefined
  return {
    deadId,
    partition: Number(text(fields.get('p')) ?? 0),
    key,
    op: text(fields.get('o')) === 'd' ? 'delete' : 'set',
    value: bytes(fields.get('v')),
    id: text(fields.get('i')) ?? deadId,
    seq: Number(text(fields.get('q')) ?? 0),
    attempts: Number(text(fields.get('a')) ?? 0),
    error: text(fields.get('e')) ?? '',
    failedAt: idTime(deadId),
  }
}

/**
 * A lease's PX: whole ms, at least 1 and at most 2^53 - 1 (285,000 years). A longer visibilityTimeout
 * is accepted as an option; sent as is it would read '1e+22', which Redis refuses (no lease, ever).
 */
function leaseMs(ttlMs: number): string {
  return String(Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, Math.ceil(ttlMs))))
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

/**
 * Hash tags for the partitions of a log on a cluster: partition p of n gets `<base>:<p>~<i>`, the
 * first i whose slot lies near the middle of the p-th n-th of the slot space. Masters own
 * contiguous ranges of slots, so the partitions (and the flushing they bring) spread over the
 * masters rather than landing by chance on one. The same in every process (a pure function).
 */
export function placeTags(base: string, partitions: number): string[] {
  const share = SLOT_COUNT / partitions
  const near = Math.max(1, Math.floor(share / 8))
  const tags: string[] = []
  for (let p = 0; p < partitions; p++) {
    const middle = Math.floor((p + 0.5) * share)
    let tag = `${base}:${p}`
    for (let i = 0; i < 1_000_000; i++) {
      const candidate = `${base}:${p}~${i}`
      if (Math.abs(keySlot(`{${candidate}}`) - middle) <= near) {
        tag = candidate
        break
      }
    }
    tags.push(tag)
  }
  return tags
}
