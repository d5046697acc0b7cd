import tls from 'node:tls'
import { requireClient } from './client-modules.js'
import { keepErrorListener } from './connection.js'

/** Marks node-redis socket options whose sockets get a lifelong 'error' listener (a global symbol: one wrapper for every copy of stratacache). */
const GUARD = Symbol.for('stratacache.redis.lateSocketErrors')

type TlsConnect = typeof tls.connect

/**
 * node-redis socket options (`createClient({ socket })`) whose TLS sockets each keep an 'error'
 * listener for their whole life ({@link keepErrorListener}), handing `onLateError` what node-redis
 * no longer hears: during the TLS handshake node-redis listens with `events.once`, so a
 * certificate refused and then a record read in the same chunk (the server's alert) left the
 * second error unheard — an uncaught exception that ended the host process. node-redis 5/6 has no
 * socket factory; it passes its socket options to `tls.connect`, so `tls.connect` is wrapped
 * (once per process) to add the listener to the sockets whose options carry our mark. Every other
 * call goes through unchanged.
 */
export function guardedSocketOptions<T extends object>(socket: T, onLateError: (error: unknown) => void): T {
  guardTlsConnect()
  return { ...socket, [GUARD]: onLateError }
}

function guardTlsConnect(): void {
  const current = tls.connect as TlsConnect & { [GUARD]?: true }
  if (current[GUARD]) return
  const guarded = function (this: unknown, ...args: Parameters<TlsConnect>) {
    const socket = Reflect.apply(current, this, args) as tls.TLSSocket
    const options = args[0] as { [GUARD]?: unknown } | undefined
    const onLateError = typeof options === 'object' && options !== null ? options[GUARD] : undefined
    if (typeof onLateError === 'function') keepErrorListener(socket, onLateError as (error: Error) => void)
    return socket
  } as TlsConnect & { [GUARD]?: true }
  guarded[GUARD] = true
  tls.connect = guarded
}

/** SET's options on node-redis: [PX px] [NX] (`px` undefined = no expiry). */
export function nodeRedisSetOptions(
  px: number | undefined,
  ifAbsent = false,
): { PX?: number; NX?: boolean } | undefined {
  if (ifAbsent) return px === undefined ? { NX: true } : { PX: px, NX: true }
  return px === undefined ? undefined : { PX: px }
}

/** A node-redis client or cluster, for {@link bufferViews}. */
interface WithCommandOptions<T> {
  withCommandOptions(options: { typeMapping: Record<number, unknown>; timeout: number }): T
}

export interface NodeRedisModule<C, K> {
  createClient(options: Record<string, unknown>): C
  createCluster(options: Record<string, unknown>): K
  RESP_TYPES: { BLOB_STRING: number }
}

/** The installed node-redis (`redis` package). */
export function loadNodeRedis<C, K>(): NodeRedisModule<C, K> {
  return requireClient<NodeRedisModule<C, K>>('redis')
}

/**
 * The two views of a node-redis client (or cluster) stratacache sends commands through, both with
 * Buffer replies. Reads: bounded by the tier's deadline only (a stale queued read is harmless, and
 * node-redis's per-command timeout costs an AbortSignal timer each). Writes: node-redis's own
 * timeout as well, so a write reported failed is never sent after a reconnect.
 */
export function bufferViews<T>(
  raw: WithCommandOptions<T>,
  lib: NodeRedisModule<unknown, unknown>,
  writeTimeoutMs: number,
): { reader: T; writer: T; typeMapping: Record<number, unknown> } {
  const typeMapping = { [lib.RESP_TYPES.BLOB_STRING]: Buffer }
  return {
    reader: raw.withCommandOptions({ typeMapping, timeout: 0 }),
    writer: raw.withCommandOptions({ typeMapping, timeout: writeTimeoutMs }),
    typeMapping,
  }
}

/** The single-key commands a node-redis client and a node-redis cluster both have (Buffer replies). */
export interface NodeRedisKeyed {
  get(key: string): Promise<Buffer | null>
  mGet(keys: string[]): Promise<(Buffer | null)[]>
  set(key: string, value: Buffer | string, options?: { PX?: number; NX?: boolean }): Promise<unknown>
  evalSha(sha: string, options: { keys: string[]; arguments: (string | Buffer)[] }): Promise<unknown>
  eval(script: string, options: { keys: string[]; arguments: (string | Buffer)[] }): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<unknown>
  unlink(keys: string[]): Promise<number>
}

/**
 * The primitives node-redis sends the same way to one Redis and to a cluster (which routes them by
 * key): reads on the reader view, writes on the writer view (see {@link bufferViews}).
 */
export class NodeRedisKeyedCommands<C extends NodeRedisKeyed> {
  protected readonly reader: C
  protected readonly writer: C
  /**
   * The lock commands' view: the reader's, without node-redis's per-command timeout (an
   * AbortSignal timer each, ~12 µs: a tenth of a cold getOrSet's CPU). A lock command sent late,
   * after its caller gave up, is harmless: a SET NX expires with its TTL, and a compare-and-delete
   * or compare-and-expire only touches the caller's own token.
   */
  protected readonly locker: C

  constructor(reader: C, writer: C) {
    this.reader = reader
    this.writer = writer
    this.locker = reader
  }

  /** Called with the (first) key before each keyed command; throws to refuse it. */
  protected admit(_key: string | undefined): void {}

  /** node-redis already sends the commands of one tick in one socket write (see `RedisAdapter.together`). */
  together(send: () => void): void {
    send()
  }

  async get(key: string): Promise<Buffer | null> {
    this.admit(key)
    return this.reader.get(key)
  }

  async mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    this.admit(keys[0])
    return this.reader.mGet(keys as string[])
  }

  async set(key: string, value: Buffer, px: number | undefined): Promise<void> {
    this.admit(key)
    await this.writer.set(key, value, nodeRedisSetOptions(px))
  }

  async setIfAbsent(key: string, value: string, px: number | undefined): Promise<boolean> {
    this.admit(key)
    return (await this.locker.set(key, value, nodeRedisSetOptions(px, true))) !== null
  }

  async unlink(keys: readonly string[]): Promise<number> {
    this.admit(keys[0])
    return this.writer.unlink(keys as string[])
  }

  async evalsha(
    sha: string,
    key: string,
    args: readonly (string | Buffer)[],
    lock = false,
  ): Promise<unknown> {
    this.admit(key)
    return (lock ? this.locker : this.writer).evalSha(sha, { keys: [key], arguments: [...args] })
  }

  async eval(lua: string, key: string, args: readonly (string | Buffer)[], lock = false): Promise<unknown> {
    this.admit(key)
    return (lock ? this.locker : this.writer).eval(lua, { keys: [key], arguments: [...args] })
  }

  async publish(channel: string, message: Buffer): Promise<void> {
    await this.writer.publish(channel, message)
  }
}
