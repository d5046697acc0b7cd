import { createRequire } from 'node:module'
import { InvalidOptionError } from '../../errors.js'
import { pxOf, type RedisAdapter } from './adapter.js'

/** What an ioredis client (`new Redis()`) looks like to the option types. */
export interface IoRedisClientLike {
  status: string
  getBuffer(...args: never[]): unknown
}

/** The subset of an ioredis client we call. */
export interface IoRedisClient {
  status: string
  getBuffer(key: string): Promise<Buffer | null>
  mgetBuffer(...keys: string[]): Promise<(Buffer | null)[]>
  set(key: string, value: Buffer, ...args: (string | number)[]): Promise<unknown>
  unlink(...keys: string[]): Promise<number>
  scan(cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>
  pipeline(): IoRedisPipeline
  quit(): Promise<unknown>
  disconnect(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
}

interface IoRedisPipeline {
  set(key: string, value: Buffer, ...args: (string | number)[]): IoRedisPipeline
  exec(): Promise<[Error | null, unknown][] | null>
}

export interface IoRedisAdapterOptions {
  commandTimeoutMs: number
  connectTimeoutMs: number
  onError: (error: unknown) => void
}

/** Adapter over ioredis. */
export class IoRedisAdapter implements RedisAdapter {
  readonly client = 'ioredis'
  readonly #client: IoRedisClient
  readonly #owned: boolean

  constructor(source: string | IoRedisClientLike, options: IoRedisAdapterOptions) {
    if (typeof source === 'string') {
      const Redis = load()
      this.#client = new Redis(source, {
        // Bounded: a command is retried at most once across a reconnect, and times out on its own
        // (ioredis waits forever on a frozen server by default).
        maxRetriesPerRequest: 1,
        commandTimeout: options.commandTimeoutMs,
        connectTimeout: options.connectTimeoutMs,
        retryStrategy: (times: number) => Math.min(50 * 2 ** times, 2000),
      })
      this.#owned = true
    } else {
      this.#client = source as IoRedisClient
      this.#owned = false
    }
    this.#client.on('error', options.onError)
  }

  get(key: string): Promise<Buffer | null> {
    return this.#client.getBuffer(key)
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.#client.mgetBuffer(...keys)
  }

  async set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    const px = pxOf(ttlMs)
    if (px === undefined) await this.#client.set(key, value)
    else await this.#client.set(key, value, 'PX', px)
  }

  async setMany(entries: readonly { key: string; value: Buffer; ttlMs: number }[]): Promise<void> {
    let pipeline = this.#client.pipeline()
    for (const { key, value, ttlMs } of entries) {
      const px = pxOf(ttlMs)
      pipeline = px === undefined ? pipeline.set(key, value) : pipeline.set(key, value, 'PX', px)
    }
    const results = await pipeline.exec()
    const failed = results?.find(([error]) => error !== null)
    if (failed) throw failed[0]
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#client.unlink(...keys)
  }

  async scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    const [next, keys] = await this.#client.scan(cursor, 'MATCH', match, 'COUNT', count)
    return { cursor: next, keys }
  }

  async close(force: boolean): Promise<void> {
    if (!this.#owned) return
    if (force || this.#client.status !== 'ready') this.#client.disconnect()
    else await this.#client.quit()
  }
}

type IoRedisConstructor = new (url: string, options: Record<string, unknown>) => IoRedisClient

function load(): IoRedisConstructor {
  try {
    const mod = createRequire(import.meta.url)('ioredis') as
      | IoRedisConstructor
      | { default: IoRedisConstructor }
    return 'default' in mod ? mod.default : mod
  } catch (cause) {
    throw new InvalidOptionError(
      "l2.client 'ioredis' needs the ioredis package: run `npm install ioredis` (or choose l2.client 'redis').",
      { cause },
    )
  }
}
