import { attempt } from '../../base/attempt.js'
import { stampText } from '../../base/clock.js'
import { within } from '../../base/deadline.js'
import type { LockService } from '../../coordination/lock.js'
import { ClosedError, L2TimeoutError } from '../../errors.js'
import type { Bus } from '../../invalidation/bus.js'
import {
  bumpAlongside,
  decodeMarker,
  type InvalidationMode,
  type InvalidationStore,
  isTombstone,
  type MarkerBump,
  tombstoneBytes,
} from '../../invalidation/store.js'
import type { KeyTracking } from '../../invalidation/tracking.js'
import { escapeGlob } from '../../keys/key.js'
import type { RemoteEntry, RemoteInfo, RemoteTier, StreamCommands } from '../tier.js'
import { PING_FALLBACK_KEY, pxOf, type RedisAdapter } from './adapter.js'
import { ConnectionReport } from './connection.js'
import { parseInfo } from './info.js'
import { BUMP_MARKER, isNoScript, type LuaScript, SET_LOADED, TIER_SCRIPTS, TOUCH_MARKER } from './scripts.js'
import { type WriteOp, WriteQueue } from './write-queue.js'

export interface RedisTierOptions {
  /** Deadline of every call, in ms: neither Redis client bounds a call to a frozen server. */
  timeoutMs: number
  /** Most keys in one MGET when single reads are batched. */
  batchSize: number
  /** Where the client's connection errors go (createRedisTier wires it); default: one that hears none. */
  connection?: ConnectionReport
}

interface PendingRead {
  key: string
  /** True for a value read (a tombstone is a miss); false for a raw read (tag markers). */
  value: boolean
  resolve: (value: Uint8Array | undefined) => void
  reject: (error: unknown) => void
}

const SCAN_COUNT = 1000
const UNLINK_CHUNK = 500

/**
 * The Redis L2. Every call has its own deadline ({@link L2TimeoutError} after `timeoutMs`), and
 * single reads issued in the same tick are coalesced into MGETs of at most `batchSize` keys, so N
 * concurrent misses cost ⌈N / batchSize⌉ round trips whatever the client's pipelining does.
 */
export class RedisTier implements RemoteTier {
  readonly name = 'redis'
  readonly adapter: RedisAdapter
  /**
   * Per-key locks on this Redis (SET NX PX, then compare-and-delete / compare-and-expire in Lua),
   * each call under the same deadline as the others. Present only when the adapter has
   * `setIfAbsent`, `compareAndDelete` and `compareAndExpire`. Lock keys are used as given.
   */
  declare readonly locks?: LockService
  /** Tombstones and tag markers, one key per Lua call (cluster-safe). Present when the adapter has `evalScript`. */
  declare readonly invalidation?: InvalidationStore
  /** Redis pub/sub on a dedicated connection. Present when the adapter has `publish` and `subscribe`. */
  declare readonly bus?: Bus
  /** Client tracking on the adapter's connections. Present when the adapter has `track`. */
  declare readonly tracking?: KeyTracking
  /** Raw commands (Redis Streams for the write-behind log), each under the deadline. Present when the adapter has `command`. */
  declare readonly streams?: StreamCommands
  /** Redis `INFO` (its memory and stats sections) under the deadline. Present when the adapter has `command`. */
  declare readonly info?: () => Promise<RemoteInfo>
  /** The connection's last error (since Redis last answered a PING or INFO): what ready() and health() name. */
  readonly connection: ConnectionReport
  readonly #timeoutMs: number
  readonly #batchSize: number
  #pending: PendingRead[] = []
  /** The writes of this tick, when the adapter can batch them (one Redis, raw commands). */
  readonly #writes: WriteQueue | undefined
  /** The lock acquisitions of this tick, on one connection (`ordered`): sent after its writes, before its reads. */
  #commands: (() => void)[] = []
  /** The adapter's `together`, or a plain call. */
  readonly #together: (send: () => void) => void
  #scheduled = false
  #closed = false

  constructor(adapter: RedisAdapter, options: RedisTierOptions) {
    this.adapter = adapter
    this.#timeoutMs = options.timeoutMs
    this.#batchSize = options.batchSize
    this.connection = options.connection ?? new ConnectionReport()
    const { together } = adapter
    this.#together = together === undefined ? sendNow : (send) => together.call(adapter, send)
    const { setIfAbsent, compareAndDelete, compareAndExpire } = adapter
    if (setIfAbsent && compareAndDelete && compareAndExpire) {
      // On one connection the acquire waits for the end of its tick, to leave in the same socket
      // write as the second read a cold getOrSet sends with it (both are on the caller's path).
      // A release or an extend leaves at once: joined to the next key's read, Redis would run
      // its script before that read — on the next caller's path (measured: a cold getOrSet 10%
      // slower with Redis on another CPU) — where sent now it runs while this process goes on.
      const acquireCall: <T>(run: () => Promise<T>, what: string) => Promise<T> =
        adapter.ordered === true
          ? (run, what) => this.#soon(() => this.#call(run, what))
          : (run, what) => this.#call(run, what)
      this.locks = {
        acquire: (key, token, ttlMs) =>
          acquireCall(() => setIfAbsent.call(adapter, key, token, ttlMs), 'SET NX (lock acquire)'),
        extend: (key, token, ttlMs) =>
          this.#call(
            () => compareAndExpire.call(adapter, key, token, ttlMs),
            'compare-and-expire (lock extend)',
          ),
        release: (key, token) =>
          this.#call(() => compareAndDelete.call(adapter, key, token), 'compare-and-delete (lock release)'),
        orderedWithReads: adapter.ordered === true,
      }
    }
    const { evalScript, evalScriptKeys, publish, subscribe, command } = adapter
    if (command) {
      // Every (re)connection loads the tier's scripts before anything else is sent on it: after a
      // restart Redis has none cached, and each first EVALSHA would cost a NOSCRIPT round trip —
      // on a busy event loop a whole turn, enough to miss the deadline of the recovery's writes
      // (issue 24). The connection is ordered, so the EVALSHAs sent after this find them.
      this.connection.onReady(() => {
        for (const { lua } of TIER_SCRIPTS) command.call(adapter, ['EVAL', lua, '0']).catch(() => {})
      })
    }
    if (evalScriptKeys && adapter.ordered === true) {
      this.#writes = new WriteQueue(
        adapter,
        (script, keys, args) => evalScriptKeys.call(adapter, script, keys, args),
        (op, what) => this.#deadline(op, what),
      )
    }
    const writes = this.#writes
    if (evalScript) {
      const run = (script: LuaScript, key: string, args: (string | Buffer)[], what: string) =>
        this.#call(() => evalScript.call(adapter, script, key, args), what)
      /** SET unless the key holds something newer than `since` (see SET_LOADED); 1 when stored. */
      // Under attempt: a promise's caller catches rejections, so a refused TTL must not throw past it.
      const versioned = (key: string, value: Buffer, ttlMs: number, since: number, op: 'l' | 'v') =>
        attempt(() => {
          const args = [value, pxArg(ttlMs, 'SET (unless the key holds a newer value)'), stampText(since)]
          if (writes !== undefined) return this.#write(op, [key], args)
          return run(SET_LOADED, key, [...args, op], 'SET (unless the key holds a newer value)')
        })
      /**
       * A `v` write and the bump of one dependency marker, as one write of the batch (`w`): one
       * promise and one script operation instead of two of each (measured: 6 µs of this process's
       * CPU per `set` with 64 in flight, a fifth of it).
       */
      const versionedBumping = (
        key: string,
        value: Buffer,
        ttlMs: number,
        since: number,
        marker: string,
        bump: MarkerBump,
      ) =>
        attempt(() => {
          const px = pxArg(ttlMs, 'SET (and a dependency marker bump)')
          return this.#write(
            'w',
            [key, marker],
            [value, px, stampText(since), stampText(bump.at)],
            bump.failed,
          )
        })
      const store: InvalidationStore = {
        // Versioned like a set (dated `at`): a delete that reaches Redis late never replaces a
        // newer value, nor a later tombstone (whose time a load's lease check needs).
        tombstone: (keys, at, keepMs, bump) => {
          const value = tombstoneBytes(at)
          if (writes !== undefined && bump !== undefined && bump.keys.length === keys.length) {
            return Promise.all(
              keys.map((key, i) => versionedBumping(key, value, keepMs, at, bump.keys[i] as string, bump)),
            ).then(nothing)
          }
          return bumpAlongside(
            store,
            Promise.all(keys.map((key) => versioned(key, value, keepMs, at, 'v'))).then(nothing),
            bump,
          )
        },
        setLoaded: (key, value, ttlMs, since, kind = 'load', bump) => {
          if (writes !== undefined && kind === 'set' && bump?.keys.length === 1) {
            const marker = bump.keys[0] as string
            return versionedBumping(key, toBuffer(value), ttlMs, since, marker, bump).then(isOne)
          }
          return bumpAlongside(
            store,
            versioned(key, toBuffer(value), ttlMs, since, kind === 'load' ? 'l' : 'v').then(isOne),
            bump,
          )
        },
        markers: async (keys) => {
          if (keys.length === 0) return []
          // One GET per marker (coalesced into MGETs by the batcher): markers live in any slot.
          const values = await Promise.all(keys.map((key) => this.#read(key, false)))
          return values.map((v) =>
            v === undefined ? undefined : decodeMarker(Buffer.from(v).toString('latin1')),
          )
        },
        touchMarkers: async (keys, ttlMs, createdBefore) => {
          const args = [pxArg(ttlMs, 'tag marker touch'), String(createdBefore)]
          await Promise.all(
            keys.map((key) =>
              writes !== undefined
                ? this.#write('t', [key], args)
                : run(TOUCH_MARKER, key, args, 'tag marker touch'),
            ),
          )
        },
        bumpMarkers: async (keys, at, mode: InvalidationMode, ttlMs, onlyExisting = false) => {
          const args = [
            String(at),
            mode === 'delete' ? 'd' : 'e',
            pxArg(ttlMs, 'tag marker bump'),
            onlyExisting ? '1' : '0',
          ]
          await Promise.all(
            keys.map((key) =>
              writes !== undefined
                ? this.#write('b', [key], args)
                : run(BUMP_MARKER, key, args, 'tag marker bump'),
            ),
          )
        },
      }
      this.invalidation = store
    }
    if (command) this.streams = this.#streams((args) => command.call(adapter, args))
    if (command) {
      this.info = async () => {
        const reply = await this.#call(() => command.call(adapter, ['INFO']), 'INFO')
        this.connection.answered()
        return parseInfo(String(reply))
      }
    }
    const { track } = adapter
    if (track) this.tracking = { track: (prefix, listener) => track.call(adapter, prefix, listener) }
    if (publish && subscribe) {
      this.bus = {
        // Through the queue of writes when there is one: after every write issued before it.
        orderedWithWrites: writes !== undefined,
        publish: async (channel, message) => {
          if (writes !== undefined) await this.#write('p', [], [channel, toBuffer(message)])
          else await this.#call(() => publish.call(adapter, channel, toBuffer(message)), 'PUBLISH')
        },
        subscribe: (channel, onMessage, onState) => subscribe.call(adapter, channel, onMessage, onState),
        close: async () => {},
      }
    }
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#read(key, true)
  }

  /** `streams` over the adapter's `command` (set up by the constructor when the adapter has one). */
  #streams(command: (args: readonly (string | Buffer)[]) => Promise<unknown>): StreamCommands {
    const call = (args: readonly (string | Buffer)[]) => this.#call(() => command(args), String(args[0]))
    return {
      call,
      eval: async (script, keys, args) => {
        const tail = [String(keys.length), ...keys, ...args]
        try {
          return await call(['EVALSHA', script.sha, ...tail])
        } catch (error) {
          if (!isNoScript(error)) throw error
          return await call(['EVAL', script.lua, ...tail])
        }
      },
    }
  }

  /**
   * A single read, coalesced with the others of this tick into MGETs. `value`: a tombstone reads
   * as a miss (filtered when the reply arrives: no extra promise per read).
   */
  #read(key: string, value: boolean): Promise<Uint8Array | undefined> {
    if (this.#closed) return Promise.reject(new ClosedError('The Redis tier is closed.'))
    return new Promise((resolve, reject) => {
      if (this.#pending.push({ key, value, resolve, reject }) === 1) this.#schedule()
    })
  }

  /**
   * One write, sent with the others of this tick (see {@link WriteQueue}); resolves to its reply.
   * `bumpFailed`: where a `w`'s failed marker bump goes.
   */
  #write(
    op: WriteOp,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
    bumpFailed?: (error: unknown) => void,
  ): Promise<number> {
    if (this.#closed) return Promise.reject(new ClosedError('The Redis tier is closed.'))
    return (this.#writes as WriteQueue).push(op, keys, args, this.#schedule, bumpFailed)
  }

  /** `send` at the end of this tick, with the tick's other commands (see {@link flushAll}). */
  #soon<T>(send: () => Promise<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      if (this.#commands.push(() => void send().then(resolve, reject)) === 1) this.#schedule()
    })
  }

  readonly #schedule = (): void => {
    if (this.#scheduled) return
    this.#scheduled = true
    process.nextTick(this.#settle)
  }

  /**
   * With writes queued, one more hop: the bus message of this tick (queued by the cache on its
   * own next tick, after the writes it announces) then leaves with the tick's last writes, in the
   * same script call (the writes leave in calls of 16, pipelined: see WriteQueue).
   */
  readonly #settle = (): void => {
    if (this.#writes !== undefined && this.#writes.size > 0) process.nextTick(this.#flushAll)
    else this.#flushAll()
  }

  /**
   * The tick's commands, in one socket write where the client can (see `RedisAdapter.together`).
   * Writes first: a read issued in the same tick as a write of its key sees the write; locks
   * before reads: a lock's second read sees what the previous holder stored.
   */
  readonly #flushAll = (): void => {
    this.#scheduled = false
    // One command (the common case of a sequential caller) needs no gathering.
    const commands =
      (this.#writes !== undefined && this.#writes.size > 0 ? 1 : 0) +
      this.#commands.length +
      (this.#pending.length > 0 ? 1 : 0)
    if (commands > 1) this.#together(this.#sendAll)
    else this.#sendAll()
  }

  readonly #sendAll = (): void => {
    this.#writes?.flush()
    if (this.#commands.length > 0) {
      const commands = this.#commands
      this.#commands = []
      for (const send of commands) send()
    }
    if (this.#pending.length > 0) this.#flush()
  }

  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    this.#assertOpen()
    const out: (Uint8Array | undefined)[] = []
    const chunks: Promise<(Buffer | null)[]>[] = []
    for (let i = 0; i < keys.length; i += this.#batchSize) {
      chunks.push(this.#deadline(this.adapter.mget(keys.slice(i, i + this.#batchSize)), 'MGET'))
    }
    for (const values of await Promise.all(chunks)) {
      for (const value of values) out.push(value === null || isTombstone(value) ? undefined : value)
    }
    return out
  }

  async set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    this.#assertOpen()
    if (this.#writes !== undefined) {
      await this.#write('s', [key], [toBuffer(value), pxArg(ttlMs, 'SET')])
      return
    }
    await this.#deadline(this.adapter.set(key, toBuffer(value), ttlMs), 'SET')
  }

  async setMany(entries: readonly RemoteEntry[]): Promise<void> {
    this.#assertOpen()
    if (entries.length === 0) return
    if (this.#writes !== undefined) {
      await Promise.all(
        entries.map((e) => this.#write('s', [e.key], [toBuffer(e.value), pxArg(e.ttlMs, 'SET (setMany)')])),
      )
      return
    }
    const buffers = entries.map((e) => ({ key: e.key, value: toBuffer(e.value), ttlMs: e.ttlMs }))
    await this.#deadline(this.adapter.setMany(buffers), 'SET pipeline')
  }

  async delete(keys: readonly string[]): Promise<number> {
    this.#assertOpen()
    // After the writes issued before it.
    this.#writes?.flush()
    let deleted = 0
    for (let i = 0; i < keys.length; i += UNLINK_CHUNK) {
      deleted += await this.#deadline(this.adapter.unlink(keys.slice(i, i + UNLINK_CHUNK)), 'UNLINK')
    }
    return deleted
  }

  /** SCAN (never KEYS) with the prefix glob-escaped, then UNLINK what it finds, page by page. */
  async deleteByPrefix(prefix: string, pattern = '*'): Promise<number> {
    this.#assertOpen()
    this.#writes?.flush()
    const match = `${escapeGlob(prefix)}${pattern}`
    let cursor = '0'
    let deleted = 0
    do {
      const page = await this.#deadline(this.adapter.scan(cursor, match, SCAN_COUNT), 'SCAN')
      cursor = page.cursor
      if (page.keys.length > 0) deleted += await this.delete(page.keys)
    } while (cursor !== '0')
    return deleted
  }

  /** PING (or, for an adapter without `ping`, a GET of a key that need not exist) under the deadline. */
  async ping(): Promise<void> {
    this.#assertOpen()
    if (this.adapter.ping) await this.#deadline(this.adapter.ping(), 'PING')
    else await this.#deadline(this.adapter.get(PING_FALLBACK_KEY), 'GET (ping)')
    this.connection.answered()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    // What was issued before close() goes out before QUIT.
    this.#flushAll()
    this.#closed = true
    this.connection.close()
    try {
      await this.#deadline(this.adapter.close(false), 'QUIT')
    } catch {
      await this.adapter.close(true)
    }
  }

  readonly #flush = (): void => {
    const batch = this.#pending
    this.#pending = []
    if (batch.length === 1) {
      const read = batch[0] as PendingRead
      this.#deadline(this.adapter.get(read.key), 'GET').then((value) => settle(read, value), read.reject)
      return
    }
    for (let i = 0; i < batch.length; i += this.#batchSize) {
      const chunk = batch.slice(i, i + this.#batchSize)
      this.#deadline(this.adapter.mget(chunk.map((read) => read.key)), 'MGET').then(
        (values) => {
          for (let j = 0; j < chunk.length; j++) settle(chunk[j] as PendingRead, values[j] ?? null)
        },
        (error) => {
          for (const read of chunk) read.reject(error)
        },
      )
    }
  }

  #call<T>(run: () => Promise<T>, what: string): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError('The Redis tier is closed.'))
    return this.#deadline(run(), what)
  }

  #deadline<T>(operation: Promise<T>, what: string): Promise<T> {
    const ms = this.#timeoutMs
    return within(
      operation,
      ms,
      () => new L2TimeoutError(`Redis ${what} did not answer within ${ms} ms (l2.timeout).`),
    )
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('The Redis tier is closed.')
  }
}

/** A TTL as the scripts take PX: '' for no expiry; `what` names the operation if it is refused. */
function pxArg(ttlMs: number, what: string): string {
  return String(pxOf(ttlMs, `Redis ${what}`) ?? '')
}

function isOne(reply: unknown): boolean {
  return reply === 1
}

function nothing(): void {}

function sendNow(send: () => void): void {
  send()
}

function toBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
}

function settle(read: PendingRead, value: Buffer | null): void {
  read.resolve(value === null || (read.value && isTombstone(value)) ? undefined : value)
}
