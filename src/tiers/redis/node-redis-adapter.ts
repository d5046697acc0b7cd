import { createRequire } from 'node:module'
import { InvalidOptionError } from '../../errors.js'
import { pxOf, type RedisAdapter } from './adapter.js'

/** What a node-redis v5/v6 client (`createClient()` from `redis`) looks like to the option types. */
export interface NodeRedisClientLike {
  isOpen: boolean
  connect(): Promise<unknown>
  withTypeMapping(...args: never[]): unknown
}

/** The subset of a node-redis v5/v6 client we call, after Buffer type mapping. */
export interface NodeRedisClient {
  isOpen: boolean
  connect(): Promise<unknown>
  get(key: string): Promise<Buffer | null>
  mGet(keys: string[]): Promise<(Buffer | null)[]>
  set(key: string, value: Buffer, options?: { PX?: number }): Promise<unknown>
  unlink(keys: string[]): Promise<number>
  scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string; keys: string[] }>
  multi(): NodeRedisMulti
  close(): Promise<void>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
  isReady: boolean
  withCommandOptions(options: { typeMapping: Record<number, unknown>; timeout: number }): NodeRedisClient
}

interface NodeRedisMulti {
  set(key: string, value: Buffer, options?: { PX?: number }): NodeRedisMulti
  execAsPipeline(): Promise<unknown[]>
}

export interface NodeRedisAdapterOptions {
  /**
   * node-redis's own per-command timeout. Our tier's deadline only rejects the caller; this one
   * also drops the command from node-redis's offline queue, so a write reported as failed is never
   * sent later, after a reconnect, over a newer value.
   */
  commandTimeoutMs: number
  /** Bound on commands queued while disconnected (node-redis's own queue is unbounded by default). */
  maxQueuedCommands: number
  connectTimeoutMs: number
  onError: (error: unknown) => void
}

/** Adapter over node-redis (`redis` package), the official client. */
export class NodeRedisAdapter implements RedisAdapter {
  readonly client = 'redis'
  readonly #raw: NodeRedisClient
  /** Reads: bounded by the tier's deadline only (a stale queued read is harmless, and node-redis's per-command timeout costs an AbortSignal timer each). */
  readonly #reader: NodeRedisClient
  /** Writes: node-redis's own timeout as well, so a write reported failed is never sent after a reconnect. */
  readonly #client: NodeRedisClient
  readonly #owned: boolean

  /** Wraps a client the user created (not closed by us unless asked) or opens one from a URL. */
  constructor(source: string | NodeRedisClientLike, options: NodeRedisAdapterOptions) {
    const lib = load()
    if (typeof source === 'string') {
      this.#raw = lib.createClient({
        url: source,
        disableOfflineQueue: false,
        commandsQueueMaxLength: options.maxQueuedCommands,
        socket: {
          connectTimeout: options.connectTimeoutMs,
          // Back off to 2 s between attempts; never give up (the cache serves L1 meanwhile).
          reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000),
        },
      })
      this.#owned = true
    } else {
      this.#raw = source as unknown as NodeRedisClient
      this.#owned = false
    }
    // Without an 'error' listener node-redis would crash the host process on a socket error.
    this.#raw.on('error', options.onError)
    if (!this.#raw.isOpen) this.#raw.connect().catch(options.onError)
    const typeMapping = { [lib.RESP_TYPES.BLOB_STRING]: Buffer }
    this.#reader = this.#raw.withCommandOptions({ typeMapping, timeout: 0 })
    this.#client = this.#raw.withCommandOptions({ typeMapping, timeout: options.commandTimeoutMs })
  }

  get(key: string): Promise<Buffer | null> {
    return this.#reader.get(key)
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.#reader.mGet(keys as string[])
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    const px = pxOf(ttlMs)
    await this.#client.set(key, value, px === undefined ? undefined : { PX: px })
  }

  async setMany(entries: readonly { key: string; value: Buffer; ttlMs: number }[]): Promise<void> {
    let multi = this.#client.multi()
    for (const { key, value, ttlMs } of entries) {
      const px = pxOf(ttlMs)
      multi = multi.set(key, value, px === undefined ? undefined : { PX: px })
    }
    await multi.execAsPipeline()
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#client.unlink(keys as string[])
  }

  async scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    const reply = await this.#raw.scan(cursor, { MATCH: match, COUNT: count })
    return { cursor: String(reply.cursor), keys: reply.keys.map(String) }
  }

  async close(force: boolean): Promise<void> {
    if (!this.#owned) return
    if (force || !this.#raw.isReady) this.#raw.destroy()
    else await this.#raw.close()
  }
}

interface NodeRedisModule {
  createClient(options: Record<string, unknown>): NodeRedisClient
  RESP_TYPES: { BLOB_STRING: number }
}

function load(): NodeRedisModule {
  try {
    return createRequire(import.meta.url)('redis') as NodeRedisModule
  } catch (cause) {
    throw new InvalidOptionError(
      "l2.client 'redis' needs the node-redis package: run `npm install redis` (or choose l2.client 'ioredis').",
      { cause },
    )
  }
}
