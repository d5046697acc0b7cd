import { createHash } from 'node:crypto'
import { InvalidOptionError } from '../errors.js'
import type { StreamCommands } from '../tiers/tier.js'
import {
  type AppendOp,
  type AppendResult,
  compareIds,
  type DeadEntry,
  type DeadLetterStore,
  idTime,
  type LogEntry,
  type WriteLog,
} from './log.js'

interface Script {
  readonly lua: string
  readonly sha: string
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * KEYS[1] the partition's stream, KEYS[2] its per-key sequence hash. ARGV[1] the pending bound
 * ('' for none), then per write: key, op ('s'|'d'), value, replayed id ('' for a new write),
 * replayed seq. Appends each write unless the stream already holds the bound, in one atomic step
 * with its sequence: the reply is, per write, `id, seq` (a replayed write's original ones) or
 * `'full', length`.
 *
 * A key's first sequence is Redis's clock in µs (TIME), not 1: if Redis ever loses the hash (no
 * persistence, restart), the next sequence is still above any the database has seen, so the
 * idempotent flush never ignores new writes. Numbers pass through string.format('%d'): Lua's
 * default conversion prints 14 significant digits only.
 */
const APPEND = script(`
local max = tonumber(ARGV[1])
local len = redis.call('XLEN', KEYS[1])
local out = {}
local now
for i = 2, #ARGV, 5 do
  if max and len >= max then
    out[#out + 1] = 'full'
    out[#out + 1] = len
  else
    local key, op, value, rid, rseq = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    local id
    local seq
    if rid == '' then
      seq = redis.call('HINCRBY', KEYS[2], key, 1)
      if seq == 1 then
        if not now then
          local t = redis.call('TIME')
          now = tonumber(t[1]) * 1000000 + tonumber(t[2])
        end
        seq = now
        redis.call('HSET', KEYS[2], key, string.format('%d', seq))
      end
      id = redis.call('XADD', KEYS[1], '*', 'k', key, 'o', op, 'q', string.format('%d', seq), 'v', value)
    else
      seq = tonumber(rseq)
      redis.call('XADD', KEYS[1], '*', 'k', key, 'o', op, 'q', rseq, 'v', value, 'i', rid)
      id = rid
    end
    len = len + 1
    out[#out + 1] = id
    out[#out + 1] = string.format('%d', seq)
  end
end
return out
`)

/** KEYS[1] the stream; ARGV[1] the group, then entry ids: XACK then XDEL, atomically. */
const ACK = script(`
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return redis.call('XDEL', KEYS[1], unpack(ids))
`)

/** KEYS[1] the lease; ARGV[1] the token, ARGV[2] ms: PEXPIRE if the token holds it. */
const RENEW = script(
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0",
)

/** KEYS[1] the lease; ARGV[1] the token: DEL if the token holds it. */
const RELEASE = script(
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
)

const GROUP = 'flushers'
/** Ids per XACK/XDEL script call (Lua's unpack has a stack limit). */
const ACK_CHUNK = 1000
const CLAIM_COUNT = 1000

export interface RedisStreamLogOptions {
  /** The cache namespace: logs of two namespaces never meet. */
  namespace: string
  /** The write-behind's name. */
  name: string
}

/**
 * The write-behind log on Redis Streams, one stream per partition, read through the consumer
 * group 'flushers' (XREADGROUP, XACK, XAUTOCLAIM). Keys start with '!', which no cache namespace
 * may, so `cache.clear()` never touches them; each partition's keys share a hash tag (one slot).
 *
 * - `!wb:{<ns>:<name>:<p>}:log`: the stream (entries are deleted once acknowledged);
 * - `!wb:{<ns>:<name>:<p>}:seq`: per-key sequences (one hash field per key ever written);
 * - `!wb:{<ns>:<name>:<p>}:lease`: which flusher owns the partition;
 * - `!wb:{<ns>:<name>}:dlq`: dead letters; `!wb:{<ns>:<name>}:meta`: the partition count.
 */
export class RedisStreamLog implements WriteLog {
  readonly description: string
  readonly #redis: StreamCommands
  readonly #base: string
  readonly #root: string
  readonly dead: DeadLetterStore

  constructor(redis: StreamCommands, options: RedisStreamLogOptions) {
    this.#redis = redis
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

  #key(partition: number, what: 'log' | 'seq' | 'lease'): string {
    return `!wb:{${this.#base}:${partition}}:${what}`
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

  async append(partition: number, ops: readonly AppendOp[], maxPending: number): Promise<AppendResult[]> {
    const args: (string | Buffer)[] = [Number.isFinite(maxPending) ? String(maxPending) : '']
    for (const op of ops) {
      args.push(
        op.key,
        op.op === 'set' ? 's' : 'd',
        toBuffer(op.value),
        op.replay?.id ?? '',
        op.replay === undefined ? '' : String(op.replay.seq),
      )
    }
    const reply = asArray(
      await this.#redis.eval(APPEND, [this.#key(partition, 'log'), this.#key(partition, 'seq')], args),
    )
    const out: AppendResult[] = []
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const first = text(reply[i]) ?? ''
      const second = Number(text(reply[i + 1]))
      out.push(first === 'full' ? { full: second } : { id: first, seq: second })
    }
    return out
  }

  async sequences(partition: number, keys: readonly string[]): Promise<number[]> {
    if (keys.length === 0) return []
    const reply = asArray(await this.#redis.call(['HMGET', this.#key(partition, 'seq'), ...keys]))
    return keys.map((_, i) => Number(text(reply[i]) ?? 0))
  }

  async read(partition: number, consumer: string, count: number): Promise<LogEntry[]> {
    const stream = this.#key(partition, 'log')
    const reply = await this.#withGroup(partition, () =>
      this.#redis.call([
        'XREADGROUP',
        'GROUP',
        GROUP,
        consumer,
        'COUNT',
        String(count),
        'STREAMS',
        stream,
        '>',
      ]),
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

  async ack(partition: number, entryIds: readonly string[]): Promise<void> {
    const stream = this.#key(partition, 'log')
    for (let i = 0; i < entryIds.length; i += ACK_CHUNK) {
      await this.#redis.eval(ACK, [stream], [GROUP, ...entryIds.slice(i, i + ACK_CHUNK)])
    }
  }

  async deadLetter(
    partition: number,
    entry: LogEntry,
    attempts: number,
    error: string,
    alsoAck: readonly string[],
  ): Promise<void> {
    // Not atomic with the ack (the two streams live in different slots): a crash in between leaves
    // the entry in both, and it is dead-lettered again. A duplicate dead letter, never a lost one.
    await this.#redis.call([
      'XADD',
      `${this.#root}:dlq`,
      '*',
      'k',
      entry.key,
      'o',
      entry.op === 'set' ? 's' : 'd',
      'q',
      String(entry.seq),
      'v',
      toBuffer(entry.value),
      'i',
      entry.id,
      'a',
      String(attempts),
      'e',
      error.slice(0, 2000),
      'p',
      String(partition),
    ])
    await this.ack(partition, [...new Set([entry.entryId, ...alsoAck])])
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

  async acquire(partition: number, token: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#redis.call([
      'SET',
      this.#key(partition, 'lease'),
      token,
      'PX',
      String(Math.max(1, Math.ceil(ttlMs))),
      'NX',
    ])
    return reply !== null && reply !== undefined
  }

  async renew(partition: number, token: string, ttlMs: number): Promise<boolean> {
    const reply = await this.#redis.eval(
      RENEW,
      [this.#key(partition, 'lease')],
      [token, String(Math.max(1, Math.ceil(ttlMs)))],
    )
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
        await this.#redis.call(['XGROUP', 'CREATE', this.#key(partition, 'log'), GROUP, '0', 'MKSTREAM'])
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
    const fields = fieldsOf(pair[1])
    if (entryId === undefined || fields === undefined) continue
    const key = text(fields.get('k'))
    if (key === undefined) continue
    const id = text(fields.get('i')) ?? entryId
    out.push({
      entryId,
      key,
      op: text(fields.get('o')) === 'd' ? 'delete' : 'set',
      value: bytes(fields.get('v')),
      id,
      seq: Number(text(fields.get('q')) ?? 0),
      at: idTime(id),
    })
  }
  return out
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

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}
