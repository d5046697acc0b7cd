import { L2TimeoutError } from '../../errors.js'
import { pxOf, type RedisAdapter } from './adapter.js'
import { reconnectDelay, requireClient } from './client-modules.js'
import { FirstConnection } from './first-connection.js'
import { COMPARE_AND_DELETE, COMPARE_AND_EXPIRE, isNoScript, type LuaScript } from './scripts.js'
import { Subscriptions } from './subscriptions.js'

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
  set(key: string, value: Buffer | string, ...args: (string | number)[]): Promise<unknown>
  ping(): Promise<unknown>
  evalsha(sha: string, numKeys: number, ...args: (string | number | Buffer)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number | Buffer)[]): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<unknown>
  duplicate(overrides?: Record<string, unknown>): IoRedisSubscriber
  unlink(...keys: string[]): Promise<number>
  scan(cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>
  pipeline(): IoRedisPipeline
  callBuffer(command: string, ...args: (string | Buffer)[]): Promise<unknown>
  quit(): Promise<unknown>
  disconnect(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
  once(event: 'ready', listener: () => void): unknown
}

/** A duplicate connection in subscriber mode. */
interface IoRedisSubscriber {
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown
  on(event: 'close' | 'ready', listener: () => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
  disconnect(): void
}

interface IoRedisPipeline {
  set(key: string, value: Buffer, ...args: (string | number)[]): IoRedisPipeline
  exec(): Promise<[Error | null, unknown][] | null>
}

export interface IoRedisAdapterOptions {
  /**
   * ioredis's own per-command timeout (it waits forever on a frozen server otherwise). For a client
   * opened from a URL, also how long a command waits for the very first connection.
   */
  commandTimeoutMs: number
  connectTimeoutMs: number
  onError: (error: unknown) => void
}

/**
 * Adapter over ioredis. A client opened from a URL never queues or re-sends a command across a
 * disconnection (see the constructor); a client you pass in keeps the options you gave it.
 */
export class IoRedisAdapter implements RedisAdapter {
  readonly client = 'ioredis'
  readonly ordered = true
  readonly #client: IoRedisClient
  readonly #owned: boolean
  /** Only for a client we opened: commands wait (bounded) for its first connection. */
  readonly #first: FirstConnection | undefined
  readonly #commandTimeoutMs: number
  readonly #onError: (error: unknown) => void
  #subscriber: IoRedisSubscriber | undefined
  readonly #subscriptions = new Subscriptions()

  constructor(source: string | IoRedisClientLike, options: IoRedisAdapterOptions) {
    this.#commandTimeoutMs = options.commandTimeoutMs
    this.#onError = options.onError
    if (typeof source === 'string') {
      const Redis = load()
      this.#client = new Redis(source, {
        // Fail fast while disconnected, and never send a command later than when it was issued:
        // a SET queued during an outage and replayed after the reconnect could overwrite newer
        // data. enableOfflineQueue: false rejects commands issued while disconnected;
        // maxRetriesPerRequest: 0 rejects the commands in flight when the connection drops (with
        // 1 they would be kept for the next connection); autoResendUnfulfilledCommands: false
        // makes sure nothing in flight is re-sent after a reconnect either.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        // ioredis waits forever on a frozen server by default.
        commandTimeout: options.commandTimeoutMs,
        connectTimeout: options.connectTimeoutMs,
        // Always a number: ioredis keeps reconnecting by itself, backing off to 2 s between attempts.
        retryStrategy: reconnectDelay,
        // No enableAutoPipelining: it defers every command to the next event-loop turn, measured
        // +60–70 µs per sequential L2 read for no gain in concurrent throughput.
      })
      this.#owned = true
      const first = new FirstConnection(options.commandTimeoutMs)
      this.#client.once('ready', () => first.ready())
      this.#first = first
    } else {
      this.#client = source as IoRedisClient
      this.#owned = false
      this.#first = undefined
    }
    this.#client.on('error', options.onError)
  }

  get(key: string): Promise<Buffer | null> {
    return this.#run(() => this.#client.getBuffer(key))
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.#run(() => this.#client.mgetBuffer(...keys))
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    return this.#run(async () => {
      const px = pxOf(ttlMs)
      if (px === undefined) await this.#client.set(key, value)
      else await this.#client.set(key, value, 'PX', px)
    })
  }

  ping(): Promise<void> {
    return this.#run(async () => {
      await this.#client.ping()
    })
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.#run(async () => {
      const px = pxOf(ttlMs)
      const reply =
        px === undefined
          ? await this.#client.set(key, value, 'NX')
          : await this.#client.set(key, value, 'PX', px, 'NX')
      return reply !== null
    })
  }

  compareAndDelete(key: string, token: string): Promise<boolean> {
    return this.#run(async () => (await this.#eval(COMPARE_AND_DELETE, key, [token])) === 1)
  }

  compareAndExpire(key: string, token: string, ttlMs: number): Promise<boolean> {
    return this.#run(
      async () => (await this.#eval(COMPARE_AND_EXPIRE, key, [token, String(pxOf(ttlMs) ?? '')])) === 1,
    )
  }

  evalScript(script: LuaScript, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#run(() => this.#eval(script, key, args))
  }

  publish(channel: string, message: Buffer): Promise<void> {
    return this.#run(async () => {
      await this.#client.publish(channel, message)
    })
  }

  /**
   * One subscriber connection (a duplicate of the client) for every channel. ioredis resubscribes
   * by itself after a reconnect; 'up' is reported once our SUBSCRIBE is confirmed again.
   */
  async subscribe(
    channel: string,
    onMessage: (message: Buffer) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>> {
    const subscriber = this.#subscriberConnection()
    return this.#subscriptions.listen(
      channel,
      { onMessage, onState },
      () => subscriber.subscribe(channel),
      () => subscriber.unsubscribe(channel),
      this.#onError,
    )
  }

  #subscriberConnection(): IoRedisSubscriber {
    if (this.#subscriber !== undefined) return this.#subscriber
    // Subscribing may wait for the connection (offline queue on for this one); it resubscribes by itself.
    const subscriber = this.#client.duplicate({ enableOfflineQueue: true, autoResubscribe: true })
    const subscriptions = this.#subscriptions
    subscriber.on('error', this.#onError)
    subscriber.on('close', () => subscriptions.down())
    subscriber.on('ready', () => {
      if (!subscriptions.isDown) return
      // 'up' once our SUBSCRIBE is confirmed again, not merely connected.
      const channels = subscriptions.channels()
      Promise.all(channels.map((c) => subscriber.subscribe(c))).then(() => subscriptions.up(), this.#onError)
    })
    subscriber.on('messageBuffer', (channel, message) => subscriptions.deliver(channel.toString(), message))
    this.#subscriber = subscriber
    return subscriber
  }

  setMany(entries: readonly { key: string; value: Buffer; ttlMs: number }[]): Promise<void> {
    return this.#run(async () => {
      let pipeline = this.#client.pipeline()
      for (const { key, value, ttlMs } of entries) {
        const px = pxOf(ttlMs)
        pipeline = px === undefined ? pipeline.set(key, value) : pipeline.set(key, value, 'PX', px)
      }
      const results = await pipeline.exec()
      const failed = results?.find(([error]) => error !== null)
      if (failed) throw failed[0]
    })
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#run(() => this.#client.unlink(...keys))
  }

  command(args: readonly (string | Buffer)[]): Promise<unknown> {
    const [name, ...rest] = args
    return this.#run(() => this.#client.callBuffer(String(name), ...rest))
  }

  scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    return this.#run(async () => {
      const [next, keys] = await this.#client.scan(cursor, 'MATCH', match, 'COUNT', count)
      return { cursor: next, keys }
    })
  }

  async close(force: boolean): Promise<void> {
    this.#subscriber?.disconnect()
    this.#subscriber = undefined
    this.#subscriptions.clear()
    if (!this.#owned) return
    this.#first?.abort()
    if (force || this.#client.status !== 'ready') this.#client.disconnect()
    else await this.#client.quit()
  }

  #run<T>(command: () => Promise<T>): Promise<T> {
    return (this.#first === undefined ? command() : this.#first.run(command)).catch(this.#timedOut)
  }

  /**
   * ioredis's own commandTimeout may fire just before the tier's deadline (its timer starts first):
   * either way the caller gets an E_L2_TIMEOUT.
   */
  readonly #timedOut = (error: unknown): never => {
    if (error instanceof Error && error.message === 'Command timed out') {
      const within = this.#owned ? `${this.#commandTimeoutMs} ms (l2.timeout)` : 'its commandTimeout'
      throw new L2TimeoutError(`Redis did not answer within ${within}.`, { cause: error })
    }
    throw error
  }

  /** EVALSHA, then EVAL if the server does not have the script cached (first use, restart, SCRIPT FLUSH). */
  async #eval(script: LuaScript, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    try {
      return await this.#client.evalsha(script.sha, 1, key, ...args)
    } catch (error) {
      if (!isNoScript(error)) throw error
      return await this.#client.eval(script.lua, 1, key, ...args)
    }
  }
}

type IoRedisConstructor = new (url: string, options: Record<string, unknown>) => IoRedisClient

function load(): IoRedisConstructor {
  const mod = requireClient<IoRedisConstructor | { default: IoRedisConstructor }>('ioredis')
  return 'default' in mod ? mod.default : mod
}
