import { createHash } from 'node:crypto'
import { InvalidOptionError, WriteBehindNotReplicatedError } from '../errors.js'
import { keySlot, SLOT_COUNT } from '../tiers/redis/cluster-slot.js'
import type { StreamCommands } from '../tiers/tier.js'
import {
  type AppendOp,
  type AppendResult,
  compareIds,
  type DeadEntry,
  type DeadLetterStore,
  type FlushedKey,
  idTime,
  type LogEntry,
  type Replication,
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
 * KEYS[1] the partition's stream, KEYS[2] its per-key sequence hash, KEYS[3] the partition's top
 * sequence, then the cache entries written with the appends (single Redis only: on a cluster
 * they live in other slots) and dependency markers. ARGV[1] the pending bound ('' for none),
 * ARGV[2] the number of writes, then per write: key, op ('s'|'d'), value, replayed id ('' for a
 * new write), replayed seq, the index in KEYS of its cache entry ('' for none), the cache entry's
 * bytes, its PX ('' for none); then pairs (index in KEYS of a dependency marker, time). Appends
 * each write unless the stream already holds the bound, in one atomic step with its sequence and
 * its cache entry, and bumps each marker that exists as the cache's BUMP_MARKER does ('delete'
 * mode, existing only): the reply is, per write, `id, seq` (a replayed write's original ones) or
 * `'full', length`.
 *
 * A sequence is max(Redis's clock in µs, the partition's top + 1): it grows with every write of
 * the partition, so a key whose hash field was trimmed (nothing pending) still gets a greater
 * one, and so does every key after Redis lost its data (no persistence, restart): the idempotent
 * flush never ignores new writes. The hash holds the last sequence of each key with writes
 * pending (what the cache's ordering check reads); acknowledgments trim it. An op 'h' is a set
 * whose sequence is held (AppendOp.holdSequence): stored as `<seq>!`, it outlives its flush
 * (`<seq>.` then) until RELEASE_SEQ. Numbers pass through
 * string.format('%d'): Lua's default conversion prints 14 significant digits only.
 */
const APPEND = script(`
local max = tonumber(ARGV[1])
local len = redis.call('XLEN', KEYS[1])
local out = {}
local top
local last = 2 + 8 * tonumber(ARGV[2])
for i = 3, last, 8 do
  if max and len >= max then
    out[#out + 1] = 'full'
    out[#out + 1] = len
  else
    local key, op, rid = ARGV[i], ARGV[i + 1], ARGV[i + 3]
    local id
    local q
    if rid == '' then
      if not top then
        local t = redis.call('TIME')
        top = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local stored = tonumber(redis.call('GET', KEYS[3]) or '0')
        if stored >= top then top = stored + 1 end
      else
        top = top + 1
      end
      q = string.format('%d', top)
      if op == 'h' then
        op = 's'
        redis.call('HSET', KEYS[2], key, q .. '!')
      else
        redis.call('HSET', KEYS[2], key, q)
      end
      id = redis.call('XADD', KEYS[1], '*', 'k', key, 'o', op, 'q', q, 'v', ARGV[i + 2])
    else
      q = ARGV[i + 4]
      if op == 'h' then op = 's' end
      redis.call('XADD', KEYS[1], '*', 'k', key, 'o', op, 'q', q, 'v', ARGV[i + 2], 'i', rid)
      id = rid
    end
    local c = ARGV[i + 5]
    if c ~= '' then
      local px = ARGV[i + 7]
      if px == '' then
        redis.call('SET', KEYS[tonumber(c)], ARGV[i + 6])
      else
        redis.call('SET', KEYS[tonumber(c)], ARGV[i + 6], 'PX', px)
      end
    end
    len = len + 1
    out[#out + 1] = id
    out[#out + 1] = q
  end
end
if top then redis.call('SET', KEYS[3], string.format('%d', top)) end
for i = last + 1, #ARGV, 2 do
  local marker = KEYS[tonumber(ARGV[i])]
  local cur = redis.call('GET', marker)
  if cur then
    local d, e = 0, 0
    local j = string.find(cur, ',', 1, true)
    if j then d = tonumber(string.sub(cur, 1, j - 1)) or 0 e = tonumber(string.sub(cur, j + 1)) or 0 end
    local at = tonumber(ARGV[i + 1])
    if at > d then d = at end
    redis.call('SET', marker, string.format('%.3f,%.3f', d, e), 'KEEPTTL')
  end
end
return out
`)

/**
 * KEYS[1] the stream, KEYS[2] the sequence hash; ARGV[1] the group, ARGV[2] how many entry ids
 * follow, then the ids, then key/sequence pairs: XACK then XDEL the ids, and HDEL each key whose
 * last sequence is the one given (its newest write is flushed: nothing of it is pending).
 */
const ACK = script(`
local n = tonumber(ARGV[2])
local ids = {}
for i = 3, 2 + n do ids[#ids + 1] = ARGV[i] end
local deleted = 0
if n > 0 then
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  deleted = redis.call('XDEL', KEYS[1], unpack(ids))
end
for i = 3 + n, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if cur == ARGV[i + 1] then
    redis.call('HDEL', KEYS[2], ARGV[i])
  elseif cur == ARGV[i + 1] .. '!' then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1] .. '.')
  end
end
return deleted
`)

/**
 * KEYS[1] the sequence hash; ARGV key/sequence pairs of held writes (op 'h' of APPEND): replies
 * with each key's last sequence ('0' for none) and releases each write's hold — forgets the key
 * if its write was flushed already (`<seq>.`), else leaves it to the ack (`<seq>`). A newer write
 * of the key replaced the hold: nothing to release.
 */
const RELEASE_SEQ = script(`
local out = {}
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    out[#out + 1] = string.match(cur, '^%d+') or '0'
    if cur == ARGV[i + 1] .. '!' then
      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    elseif cur == ARGV[i + 1] .. '.' then
      redis.call('HDEL', KEYS[1], ARGV[i])
    end
  else
    out[#out + 1] = '0'
  end
end
return out
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
    const args: (string | Buffer)[] = [
      Number.isFinite(maxPending) ? String(maxPending) : '',
      String(ops.length),
    ]
    const bumps: string[] = []
    for (const op of ops) {
      if (this.writesCache && op.markers !== undefined) {
        for (const marker of op.markers.keys) {
          keys.push(marker)
          bumps.push(String(keys.length), String(op.markers.at))
        }
      }
      const cache = this.writesCache ? op.cache : undefined
      let cacheIndex = ''
      if (cache !== undefined) {
        keys.push(cache.key)
        cacheIndex = String(keys.length)
      }
      args.push(
        op.key,
        op.op === 'set' ? (op.holdSequence === true ? 'h' : 's') : 'd',
        toBuffer(op.value),
        op.replay?.id ?? '',
        op.replay === undefined ? '' : String(op.replay.seq),
        cacheIndex,
        cache === undefined ? '' : toBuffer(cache.value),
        cache === undefined || !Number.isFinite(cache.ttlMs)
          ? ''
          : String(Math.max(1, Math.ceil(cache.ttlMs))),
      )
    }
    const all = bumps.length === 0 ? args : args.concat(bumps)
    const reply = asArray(
      replication === undefined || replication.replicas === 0
        ? await this.#redis.eval(APPEND, keys, all)
        : await this.#appendReplicated(keys, all, replication),
    )
    const out: AppendResult[] = []
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const first = text(reply[i]) ?? ''
      const second = Number(text(reply[i + 1]))
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
    const keys = [this.#key(partition, 'log'), this.#key(partition, 'seq')]
    for (let i = 0; i < Math.max(entryIds.length, 1); i += ACK_CHUNK) {
      const ids = entryIds.slice(i, i + ACK_CHUNK)
      const args = [GROUP, String(ids.length), ...ids]
      // The trim goes with the last chunk: its entries are gone by then.
      if (i + ACK_CHUNK >= entryIds.length) for (const f of flushed) args.push(f.key, String(f.seq))
      if (args.length > 2) await this.#redis.eval(ACK, keys, args)
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
    await this.ack(partition, [...new Set([entry.entryId, ...alsoAck])], [{ key: entry.key, seq: entry.seq }])
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
