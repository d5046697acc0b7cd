import { InvalidOptionError } from '../../errors.js'
import type { TrackingListener } from '../../invalidation/tracking.js'
import { reconnectDelay } from './client-modules.js'
import { type ClientPrimitives, type PxEntry, RedisCommands } from './commands.js'
import { afterFirstConnection, FirstConnection } from './first-connection.js'
import {
  bufferViews,
  guardedSocketOptions,
  loadNodeRedis,
  type NodeRedisKeyed,
  NodeRedisKeyedCommands,
  type NodeRedisModule,
  nodeRedisSetOptions,
} from './node-redis-common.js'
import { Subscriptions } from './subscriptions.js'
import { ServerTracking } from './tracking.js'

/** What a node-redis v5/v6 client (`createClient()` from `redis`) looks like to the option types. */
export interface NodeRedisClientLike {
  isOpen: boolean
  connect(): Promise<unknown>
  withTypeMapping(...args: never[]): unknown
}

/** The subset of a node-redis v5/v6 client we call, after Buffer type mapping. */
export interface NodeRedisClient extends NodeRedisKeyed {
  isOpen: boolean
  connect(): Promise<unknown>
  ping(): Promise<unknown>
  duplicate(overrides?: Record<string, unknown>): NodeRedisSubscriber
  scan(cursor: string, options: { MATCH: string; COUNT: number }): Promise<{ cursor: string; keys: string[] }>
  multi(): NodeRedisMulti
  sendCommand(args: (string | Buffer)[]): Promise<unknown>
  close(): Promise<void>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
  on(event: 'ready' | 'end' | 'reconnecting', listener: () => void): unknown
  once(event: 'ready', listener: () => void): unknown
  isReady: boolean
  /** The options it was created with (RESP: the protocol; node-redis 6 defaults to 3). */
  readonly options?: { RESP?: 2 | 3 }
  withCommandOptions(options: { typeMapping: Record<number, unknown>; timeout: number }): NodeRedisClient
}

/** A duplicate connection used for SUBSCRIBE (node-redis resubscribes by itself after a reconnect). */
interface NodeRedisSubscriber {
  connect(): Promise<unknown>
  subscribe(channel: string, listener: (message: Buffer) => void, bufferMode: true): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  on(event: 'ready' | 'end' | 'reconnecting', listener: () => void): unknown
  /** With `emitInvalidate` (RESP3): a tracking invalidation, one key at a time (null: FLUSHDB). */
  on(event: 'invalidate', listener: (key: Buffer | string | null) => void): unknown
  sendCommand(args: string[]): Promise<unknown>
  destroy(): void
  isOpen: boolean
}

interface NodeRedisMulti {
  set(key: string, value: Buffer, options?: { PX?: number }): NodeRedisMulti
  execAsPipeline(): Promise<unknown[]>
}

export interface NodeRedisAdapterOptions {
  /**
   * node-redis's own per-command timeout on writes (not on lock commands: see `locker`). Our tier's deadline only rejects the caller;
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
  /** Called on every (re)connection of the command connection, once it takes commands. */
  onReady?: () => void
  /** `l2.invalidation: 'tracking'`: the subscriber connection hears invalidations (RESP3 pushes). */
  tracking?: boolean
}

/**
 * Adapter over node-redis (`redis` package), the official client. A client opened from a URL never
 * queues a command while disconnected (see {@link NodeRedisPrimitives}); a client you pass in keeps
 * the options you gave it.
 */
export class NodeRedisAdapter extends RedisCommands {
  /** Wraps a client the user created (not closed by us unless asked) or opens one from a URL. */
  constructor(source: string | NodeRedisClientLike, options: NodeRedisAdapterOptions) {
    super(new NodeRedisPrimitives(source, options))
  }
}

/** node-redis's commands on one Redis; the command layer is {@link RedisCommands}. */
class NodeRedisPrimitives extends NodeRedisKeyedCommands<NodeRedisClient> implements ClientPrimitives {
  readonly client = 'redis'
  readonly ordered = true
  readonly first: FirstConnection | undefined
  readonly #raw: NodeRedisClient
  readonly #owned: boolean
  readonly #onError: (error: unknown) => void
  #subscriber: Promise<NodeRedisSubscriber> | undefined
  #subscriberHandle: NodeRedisSubscriber | undefined
  readonly #subscriptions = new Subscriptions()
  readonly #tracking: ServerTracking | undefined

  constructor(source: string | NodeRedisClientLike, options: NodeRedisAdapterOptions) {
    const lib = loadNodeRedis<NodeRedisClient, never>()
    const opened = typeof source === 'string' ? open(lib, source, options) : undefined
    const raw = opened?.client ?? (source as unknown as NodeRedisClient)
    // Without an 'error' listener node-redis would crash the host process on a socket error.
    raw.on('error', options.onError)
    const onReady = options.onReady
    if (onReady !== undefined) raw.on('ready', () => onReady())
    if (!raw.isOpen) raw.connect().catch(options.onError)
    const views = bufferViews(raw, lib, options.commandTimeoutMs)
    super(views.reader, views.writer)
    this.#raw = raw
    this.#owned = opened !== undefined
    this.first = opened?.first
    this.#onError = options.onError
    if (options.tracking === true) {
      // Invalidations redirected to a RESP2 connection come as pub/sub messages node-redis does
      // not hand over; to a RESP3 one, as pushes it emits with `emitInvalidate`.
      if (raw.options?.RESP === 2)
        throw new InvalidOptionError(
          "l2.invalidation 'tracking' with a node-redis client needs RESP3 (the default of node-redis 6): create the client without `RESP: 2`, or use l2.invalidation 'bus'.",
        )
      const tracking = new ServerTracking({
        // A RESP3 connection answers commands while subscribed.
        redirectId: async () =>
          String(await (await this.#subscriberConnection()).sendCommand(['CLIENT', 'ID'])),
        command: (args) => afterFirstConnection(this.first, () => this.command(args)),
      })
      this.#tracking = tracking
      // The tracking lives on this connection: lost with it, issued again on every reconnection.
      raw.on('end', () => tracking.down())
      raw.on('reconnecting', () => tracking.down())
      raw.on('ready', () => {
        if (tracking.active && !this.#subscriptions.isDown) tracking.enable().catch(options.onError)
      })
    }
  }

  /** Client tracking of `prefix`, redirected to the subscriber connection (see {@link ServerTracking}). */
  async track(prefix: string, listener: TrackingListener): Promise<() => Promise<void>> {
    const tracking = this.#tracking
    if (tracking === undefined)
      throw new InvalidOptionError("track() needs the adapter created with l2.invalidation 'tracking'.")
    await this.#subscriberConnection()
    return tracking.track(prefix, listener)
  }

  async setMany(entries: readonly PxEntry[]): Promise<void> {
    let multi = this.writer.multi()
    for (const { key, value, px } of entries) multi = multi.set(key, value, nodeRedisSetOptions(px))
    await multi.execAsPipeline()
  }

  /** On the writes' connection view: node-redis's own timeout, so a command reported failed is never sent later. */
  command(args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.writer.sendCommand([...args])
  }

  async scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    const reply = await this.#raw.scan(cursor, { MATCH: match, COUNT: count })
    return { cursor: String(reply.cursor), keys: reply.keys.map(String) }
  }

  async ping(): Promise<void> {
    await this.reader.ping()
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
    const tracking = this.#tracking
    const subscriber = this.#raw.duplicate({
      disableOfflineQueue: false,
      ...(tracking === undefined ? {} : { emitInvalidate: true }),
    })
    const subscriptions = this.#subscriptions
    this.#subscriberHandle = subscriber
    subscriber.on('error', this.#onError)
    subscriber.on('reconnecting', () => {
      subscriptions.down()
      tracking?.down()
    })
    subscriber.on('end', () => {
      subscriptions.down()
      tracking?.down()
    })
    // node-redis has resubscribed on this connection before 'ready'.
    subscriber.on('ready', () => {
      subscriptions.up()
      // A new connection, a new id: the tracking is redirected to it.
      if (tracking?.active) tracking.enable().catch(this.#onError)
    })
    if (tracking !== undefined)
      subscriber.on('invalidate', (key) => tracking.deliver(key === null ? null : [key]))
    this.#subscriber = subscriber.connect().then(() => subscriber)
    return this.#subscriber
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
    this.#tracking?.clear()
    if (!this.#owned) return
    if (force || !this.#raw.isReady) this.#raw.destroy()
    else await this.#raw.close()
  }
}

/**
 * Opens a client from a URL that fails fast while disconnected: a command issued then rejects at
 * once, and the commands in flight when the connection drops are rejected too, so nothing issued
 * during an outage is sent after the reconnect, where a late SET could overwrite newer data.
 * Commands wait (bounded) for its first connection instead.
 */
function open(
  lib: NodeRedisModule<NodeRedisClient, never>,
  url: string,
  options: NodeRedisAdapterOptions,
): { client: NodeRedisClient; first: FirstConnection } {
  const client = lib.createClient({
    url,
    disableOfflineQueue: true,
    // No CLIENT SETINFO round trip before 'ready' on every (re)connection: on a busy event loop
    // each round trip costs a turn, and each turn delays recovery (issue 24).
    disableClientInfo: true,
    commandsQueueMaxLength: options.maxQueuedCommands,
    // Every socket keeps an 'error' listener for life: a TLS handshake failing twice must not
    // crash the host (see guardedSocketOptions).
    socket: guardedSocketOptions(
      {
        connectTimeout: options.connectTimeoutMs,
        // Always a number: back off (see reconnectDelay for the cap) and never give up (the cache
        // serves its L1 meanwhile), including when Redis is not up yet at start.
        reconnectStrategy: reconnectDelay,
      },
      options.onError,
    ),
  })
  const first = new FirstConnection(options.commandTimeoutMs)
  client.once('ready', () => first.ready())
  return { client, first }
}
