import { pxOf, type RedisAdapter } from './adapter.js'
import { reconnectDelay, requireClient } from './client-modules.js'
import { FirstConnection } from './first-connection.js'
import { COMPARE_AND_DELETE, COMPARE_AND_EXPIRE, isNoScript, type LuaScript } from './scripts.js'
import { Subscriptions } from './subscriptions.js'

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
  set(key: string, value: Buffer | string, options?: { PX?: number; NX?: boolean }): Promise<unknown>
  ping(): Promise<unknown>
  evalSha(sha: string, options: { keys: string[]; arguments: (string | Buffer)[] }): Promise<unknown>
  eval(script: string, options: { keys: string[]; arguments: (string | Buffer)[] }): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<unknown>
  duplicate(overrides?: Record<string, unknown>): NodeRedisSubscriber
  unlink(keys: string[]): Promise<number>
  scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string; keys: string[] }>
  multi(): NodeRedisMulti
  sendCommand(args: (string | Buffer)[]): Promise<unknown>
  close(): Promise<void>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
  once(event: 'ready', listener: () => void): unknown
  isReady: boolean
  withCommandOptions(options: { typeMapping: Record<number, unknown>; timeout: number }): NodeRedisClient
}

/** A duplicate connection used for SUBSCRIBE (node-redis resubscribes by itself after a reconnect). */
interface NodeRedisSubscriber {
  connect(): Promise<unknown>
  subscribe(channel: string, listener: (message: Buffer) => void, bufferMode: true): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  on(event: 'ready' | 'end' | 'reconnecting', listener: () => void): unknown
  destroy(): void
  isOpen: boolean
}

interface NodeRedisMulti {
  set(key: string, value: Buffer, options?: { PX?: number }): NodeRedisMulti
  execAsPipeline(): Promise<unknown[]>
}

export interface NodeRedisAdapterOptions {
  /**
   * node-redis's own per-command timeout on writes. Our tier's deadline only rejects the caller;
   * this one also drops a command not yet written to the socket, so for a client you pass in that
   * keeps an offline queue, a write reported as failed is never sent later, after a reconnect, over
   * a newer value. For a client opened from a URL (no offline queue), also how long a command waits
   * for the very first connection.
   */
  commandTimeoutMs: number
  /** Bound on the commands node-redis holds (its own queue is unbounded by default). */
  maxQueuedCommands: number
  connectTimeoutMs: number
  onError: (error: unknown) => void
}

/**
 * Adapter over node-redis (`redis` package), the official client. A client opened from a URL never
 * queues a command while disconnected (see the constructor); a client you pass in keeps the options
 * you gave it.
 */
export class NodeRedisAdapter implements RedisAdapter {
  readonly client = 'redis'
  readonly ordered = true
  readonly #raw: NodeRedisClient
  /** Reads: bounded by the tier's deadline only (a stale queued read is harmless, and node-redis's per-command timeout costs an AbortSignal timer each). */
  readonly #reader: NodeRedisClient
  /** Writes: node-redis's own timeout as well, so a write reported failed is never sent after a reconnect. */
  readonly #client: NodeRedisClient
  readonly #owned: boolean
  /** Only for a client we opened: commands wait (bounded) for its first connection. */
  readonly #first: FirstConnection | undefined
  readonly #onError: (error: unknown) => void
  #subscriber: Promise<NodeRedisSubscriber> | undefined
  #subscriberHandle: NodeRedisSubscriber | undefined
  readonly #subscriptions = new Subscriptions()

  /** Wraps a client the user created (not closed by us unless asked) or opens one from a URL. */
  constructor(source: string | NodeRedisClientLike, options: NodeRedisAdapterOptions) {
    const lib = load()
    this.#onError = options.onError
    if (typeof source === 'string') {
      this.#raw = lib.createClient({
        url: source,
        // Fail fast while disconnected: a command issued then rejects at once, and the commands in
        // flight when the connection drops are rejected too, so nothing issued during an outage is
        // sent after the reconnect, where a late SET could overwrite newer data.
        disableOfflineQueue: true,
        commandsQueueMaxLength: options.maxQueuedCommands,
        socket: {
          connectTimeout: options.connectTimeoutMs,
          // Always a number: back off to 2 s between attempts and never give up (the cache serves
          // its L1 meanwhile), including when Redis is not up yet at start.
          reconnectStrategy: reconnectDelay,
        },
      })
      this.#owned = true
      const first = new FirstConnection(options.commandTimeoutMs)
      this.#raw.once('ready', () => first.ready())
      this.#first = first
    } else {
      this.#raw = source as unknown as NodeRedisClient
      this.#owned = false
      this.#first = undefined
    }
    // Without an 'error' listener node-redis would crash the host process on a socket error.
    this.#raw.on('error', options.onError)
    if (!this.#raw.isOpen) this.#raw.connect().catch(options.onError)
    const typeMapping = { [lib.RESP_TYPES.BLOB_STRING]: Buffer }
    this.#reader = this.#raw.withCommandOptions({ typeMapping, timeout: 0 })
    this.#client = this.#raw.withCommandOptions({ typeMapping, timeout: options.commandTimeoutMs })
  }

  get(key: string): Promise<Buffer | null> {
    return this.#run(() => this.#reader.get(key))
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.#run(() => this.#reader.mGet(keys as string[]))
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    return this.#run(async () => {
      const px = pxOf(ttlMs)
      await this.#client.set(key, value, px === undefined ? undefined : { PX: px })
    })
  }

  setMany(entries: readonly { key: string; value: Buffer; ttlMs: number }[]): Promise<void> {
    return this.#run(async () => {
      let multi = this.#client.multi()
      for (const { key, value, ttlMs } of entries) {
        const px = pxOf(ttlMs)
        multi = multi.set(key, value, px === undefined ? undefined : { PX: px })
      }
      await multi.execAsPipeline()
    })
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#run(() => this.#client.unlink(keys as string[]))
  }

  /** On the writes' connection view: node-redis's own timeout, so a command reported failed is never sent later. */
  command(args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#run(() => this.#client.sendCommand([...args]))
  }

  scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    return this.#run(async () => {
      const reply = await this.#raw.scan(cursor, { MATCH: match, COUNT: count })
      return { cursor: String(reply.cursor), keys: reply.keys.map(String) }
    })
  }

  ping(): Promise<void> {
    return this.#run(async () => {
      await this.#reader.ping()
    })
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.#run(async () => {
      const px = pxOf(ttlMs)
      const reply = await this.#client.set(key, value, px === undefined ? { NX: true } : { PX: px, NX: true })
      return reply !== null
    })
  }

  evalScript(script: LuaScript, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#run(() => this.#eval(script, key, args))
  }

  publish(channel: string, message: Buffer): Promise<void> {
    return this.#run(async () => {
      await this.#client.publish(channel, message)
    })
  }

  async subscribe(
    channel: string,
    onMessage: (message: Buffer) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>> {
    const subscriber = await this.#subscriberConnection()
    const subscriptions = this.#subscriptions
    return subscriptions.listen(
      channel,
      { onMessage, onState },
      () => subscriber.subscribe(channel, (message) => subscriptions.deliver(channel, message), true),
      () => subscriber.unsubscribe(channel),
      this.#onError,
    )
  }

  #subscriberConnection(): Promise<NodeRedisSubscriber> {
    if (this.#subscriber !== undefined) return this.#subscriber
    const subscriber = this.#raw.duplicate({ disableOfflineQueue: false })
    const subscriptions = this.#subscriptions
    this.#subscriberHandle = subscriber
    subscriber.on('error', this.#onError)
    subscriber.on('reconnecting', () => subscriptions.down())
    subscriber.on('end', () => subscriptions.down())
    // node-redis has resubscribed on this connection before 'ready'.
    subscriber.on('ready', () => subscriptions.up())
    this.#subscriber = subscriber.connect().then(() => subscriber)
    return this.#subscriber
  }

  compareAndDelete(key: string, token: string): Promise<boolean> {
    return this.#run(async () => (await this.#eval(COMPARE_AND_DELETE, key, [token])) === 1)
  }

  compareAndExpire(key: string, token: string, ttlMs: number): Promise<boolean> {
    const px = pxOf(ttlMs)
    return this.#run(
      async () =>
        (await this.#eval(COMPARE_AND_EXPIRE, key, [token, px === undefined ? '' : String(px)])) === 1,
    )
  }

  async close(force: boolean): Promise<void> {
    try {
      this.#subscriberHandle?.destroy()
    } catch {
      // Already closed.
    }
    this.#subscriber = undefined
    this.#subscriberHandle = undefined
    this.#subscriptions.clear()
    if (!this.#owned) return
    this.#first?.abort()
    if (force || !this.#raw.isReady) this.#raw.destroy()
    else await this.#raw.close()
  }

  #run<T>(command: () => Promise<T>): Promise<T> {
    return this.#first === undefined ? command() : this.#first.run(command)
  }

  /** EVALSHA, then EVAL if the server does not have the script cached (first use, restart, SCRIPT FLUSH). */
  async #eval(script: LuaScript, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    const options = { keys: [key], arguments: [...args] }
    try {
      return await this.#client.evalSha(script.sha, options)
    } catch (error) {
      if (!isNoScript(error)) throw error
      return await this.#client.eval(script.lua, options)
    }
  }
}

interface NodeRedisModule {
  createClient(options: Record<string, unknown>): NodeRedisClient
  RESP_TYPES: { BLOB_STRING: number }
}

function load(): NodeRedisModule {
  return requireClient<NodeRedisModule>('redis')
}
