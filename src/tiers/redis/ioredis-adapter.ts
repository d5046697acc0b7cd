import type { TrackingListener } from '../../invalidation/tracking.js'
import { reconnectDelay } from './client-modules.js'
import { type ClientPrimitives, type PxEntry, RedisCommands } from './commands.js'
import { afterFirstConnection, FirstConnection } from './first-connection.js'
import {
  guardedConnector,
  type IoRedisKeyed,
  IoRedisKeyedCommands,
  ioredisSet,
  loadIoRedis,
} from './ioredis-common.js'
import { Subscriptions } from './subscriptions.js'
import { INVALIDATE_CHANNEL, ServerTracking, subscriberName, trackingIdOf } from './tracking.js'

/** What an ioredis client (`new Redis()`) looks like to the option types. */
export interface IoRedisClientLike {
  status: string
  getBuffer(...args: never[]): unknown
}

/** The subset of an ioredis client we call. */
export interface IoRedisClient extends IoRedisKeyed {
  status: string
  duplicate(overrides?: Record<string, unknown>): IoRedisSubscriber
  scan(cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>
  pipeline(): IoRedisPipeline
  callBuffer(command: string, ...args: (string | Buffer)[]): Promise<unknown>
  quit(): Promise<unknown>
  disconnect(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
  on(event: 'ready' | 'close', listener: () => void): unknown
  once(event: 'ready', listener: () => void): unknown
}

/** A duplicate connection in subscriber mode. */
interface IoRedisSubscriber {
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  // A tracking invalidation's message is an array of keys, or null (FLUSHDB).
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer | Buffer[] | null) => void): unknown
  on(event: 'close' | 'ready', listener: () => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
  disconnect(): void
}

interface IoRedisPipeline {
  set(key: string, value: Buffer | string, ...args: (string | number)[]): IoRedisPipeline
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
  /** Called on every (re)connection of the command connection, once it takes commands. */
  onReady?: () => void
  /** `l2.invalidation: 'tracking'`: the subscriber connection is named, so the tracking can find its id. */
  tracking?: boolean
}

/**
 * Adapter over ioredis. A client opened from a URL never queues or re-sends a command across a
 * disconnection (see {@link IoRedisPrimitives}); a client you pass in keeps the options you gave it.
 */
export class IoRedisAdapter extends RedisCommands {
  constructor(source: string | IoRedisClientLike, options: IoRedisAdapterOptions) {
    super(new IoRedisPrimitives(source, options))
  }
}

/** ioredis's commands on one Redis; the command layer is {@link RedisCommands}. */
class IoRedisPrimitives extends IoRedisKeyedCommands<IoRedisClient> implements ClientPrimitives {
  readonly client = 'ioredis'
  readonly ordered = true
  readonly first: FirstConnection | undefined
  readonly #onError: (error: unknown) => void
  #subscriber: IoRedisSubscriber | undefined
  readonly #subscriptions = new Subscriptions()
  /** The subscriber's CLIENT SETNAME (with `tracking`): how CLIENT LIST finds its id. */
  readonly #name: string | undefined
  readonly #tracking: ServerTracking
  #invalidations: Promise<unknown> | undefined

  constructor(source: string | IoRedisClientLike, options: IoRedisAdapterOptions) {
    const opened = typeof source === 'string' ? open(source, options) : undefined
    super(opened?.client ?? (source as IoRedisClient), opened !== undefined, options.commandTimeoutMs)
    this.first = opened?.first
    this.#onError = options.onError
    this.redis.on('error', options.onError)
    const onReady = options.onReady
    if (onReady !== undefined) this.redis.on('ready', () => onReady())
    this.#name = options.tracking === true ? subscriberName() : undefined
    this.#tracking = new ServerTracking({
      redirectId: async () => {
        await this.#invalidations
        const list = await this.#command(['CLIENT', 'LIST', 'TYPE', 'pubsub'])
        return trackingIdOf(String(list), this.#name)
      },
      command: (args) => this.#command(args),
    })
    // The tracking lives on this connection: lost with it, issued again on every reconnection.
    this.redis.on('close', () => this.#tracking.down())
    this.redis.on('ready', () => this.#retrack())
  }

  /** A raw command, once the first connection is there (a client we opened queues nothing). */
  #command(args: readonly (string | Buffer)[]): Promise<unknown> {
    return afterFirstConnection(this.first, () => this.command(args))
  }

  #retrack(): void {
    // A subscriber still down re-issues it itself once it is back.
    if (this.#tracking.active && !this.#subscriptions.isDown) this.#tracking.enable().catch(this.#onError)
  }

  /** Client tracking of `prefix`, redirected to the subscriber connection (see {@link ServerTracking}). */
  track(prefix: string, listener: TrackingListener): Promise<() => Promise<void>> {
    if (this.#invalidations === undefined) {
      const subscriber = this.#subscriberConnection()
      this.#invalidations = subscriber.subscribe(INVALIDATE_CHANNEL)
    }
    return this.#tracking.track(prefix, listener)
  }

  async setMany(entries: readonly PxEntry[]): Promise<void> {
    const pipeline = this.redis.pipeline()
    for (const { key, value, px } of entries) ioredisSet(pipeline, key, value, px)
    const results = await pipeline.exec().catch(this.timedOut)
    const failed = results?.find(([error]) => error !== null)
    if (failed) this.timedOut(failed[0])
  }

  async scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    const [next, keys] = await this.redis.scan(cursor, 'MATCH', match, 'COUNT', count).catch(this.timedOut)
    return { cursor: next, keys }
  }

  command(args: readonly (string | Buffer)[]): Promise<unknown> {
    const [name, ...rest] = args
    return this.redis.callBuffer(String(name), ...rest).catch(this.timedOut)
  }

  /**
   * One subscriber connection (a duplicate of the client) for every channel, subscribed again on
   * every reconnection; 'up' is reported once our SUBSCRIBE is confirmed again.
   */
  subscribe(
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
    // Subscribing may wait for the connection (offline queue on for this one). It resubscribes on
    // 'ready' below, not by ioredis's autoResubscribe: that one's SUBSCRIBE has no handler, and
    // when it fails (a server at maxclients, a connection cut right after it opened) the rejection
    // went unhandled — which ends the process.
    const subscriber = this.redis.duplicate({
      enableOfflineQueue: true,
      autoResubscribe: false,
      ...(this.#name === undefined ? {} : { connectionName: this.#name }),
    })
    const subscriptions = this.#subscriptions
    const tracking = this.#tracking
    subscriber.on('error', this.#onError)
    subscriber.on('close', () => {
      subscriptions.down()
      tracking.down()
    })
    subscriber.on('ready', () => {
      if (!subscriptions.isDown) return
      // 'up' once our SUBSCRIBE is confirmed again, not merely connected.
      const channels = subscriptions.channels()
      if (this.#invalidations !== undefined) channels.push(INVALIDATE_CHANNEL)
      Promise.all(channels.map((c) => subscriber.subscribe(c))).then(() => {
        subscriptions.up()
        // A new connection, a new id: the tracking is redirected to it.
        if (tracking.active) tracking.enable().catch(this.#onError)
      }, this.#onError)
    })
    subscriber.on('messageBuffer', (channel, message) => {
      const name = channel.toString()
      if (name === INVALIDATE_CHANNEL) tracking.deliver(message)
      else if (Buffer.isBuffer(message)) subscriptions.deliver(name, message)
    })
    this.#subscriber = subscriber
    return subscriber
  }

  async close(force: boolean): Promise<void> {
    this.#subscriber?.disconnect()
    this.#subscriber = undefined
    this.#subscriptions.clear()
    this.#tracking.clear()
    if (!this.owned) return
    if (force || this.redis.status !== 'ready') this.redis.disconnect()
    else await this.redis.quit()
  }
}

/**
 * Opens a client from a URL that fails fast while disconnected and never sends a command later
 * than when it was issued: a SET queued during an outage and replayed after the reconnect could
 * overwrite newer data. Commands wait (bounded) for its first connection instead.
 */
function open(
  url: string,
  options: IoRedisAdapterOptions,
): { client: IoRedisClient; first: FirstConnection } {
  const Redis = loadIoRedis<IoRedisClient, never>()
  // Every socket keeps an 'error' listener for life: a TLS handshake failing twice must not crash
  // the host (see guardedConnector). The subscriber (duplicate()) inherits it.
  const Connector = guardedConnector(options.onError)
  const client = new Redis(url, {
    ...(Connector === undefined ? {} : { Connector }),
    // enableOfflineQueue: false rejects commands issued while disconnected; maxRetriesPerRequest: 0
    // rejects the commands in flight when the connection drops (with 1 they would be kept for the
    // next connection); autoResendUnfulfilledCommands: false makes sure nothing in flight is re-sent
    // after a reconnect either.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // No commandTimeout: the tier's deadline bounds every call, judged after the event loop's I/O
    // poll (base/deadline.ts). ioredis's own timer fires before that poll, so on a busy loop it
    // failed replies that had arrived in time — the breaker's probe among them, and the
    // subscriber's resubscribe (an unhandled rejection inside ioredis). Issue 24.
    connectTimeout: options.connectTimeoutMs,
    // Always a number: ioredis keeps reconnecting by itself (see reconnectDelay for the cap).
    retryStrategy: reconnectDelay,
    // 'ready' on connect, without a round trip for INFO first: on a busy event loop every round
    // trip costs a turn, and each turn delays recovery (issue 24). A Redis still loading its data
    // answers LOADING errors, which count against the breaker like any failure.
    enableReadyCheck: false,
    // Nor CLIENT SETINFO first (after reading ioredis's package.json from disk), for the same reason.
    disableClientInfo: true,
    // No enableAutoPipelining: it defers every command to the next event-loop turn, measured
    // +60–70 µs per sequential L2 read for no gain in concurrent throughput.
  })
  const first = new FirstConnection(options.commandTimeoutMs)
  client.once('ready', () => first.ready())
  return { client, first }
}
