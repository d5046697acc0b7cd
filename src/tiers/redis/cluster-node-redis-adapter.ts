import { timerMs } from '../../base/clock.js'
import { reconnectDelay } from './client-modules.js'
import { ClusterAdapter, type ClusterDriver, isRedirection, type PipelineCommand } from './cluster-adapter.js'
import type { ClusterNodeAddress } from './cluster-options.js'
import { keySlot } from './cluster-slot.js'
import type { SubscriberLink } from './cluster-subscriber.js'
import { FirstConnection } from './first-connection.js'
import {
  bufferViews,
  guardedSocketOptions,
  loadNodeRedis,
  type NodeRedisKeyed,
  NodeRedisKeyedCommands,
  type NodeRedisModule,
  nodeRedisSetOptions,
} from './node-redis-common.js'

/** What a node-redis v5/v6 cluster (`createCluster()` from `redis`) looks like to the option types. */
export interface NodeRedisClusterLike {
  isOpen: boolean
  connect(): Promise<unknown>
  nodeClient(...args: never[]): unknown
  withTypeMapping(...args: never[]): unknown
}

/** A master of the topology (`cluster.masters`). */
interface NodeRedisShardNode {
  host: string
  port: number
  address?: string
  /** Its connection, once one was started. */
  client?: { isReady: boolean }
}

/** The subset of a node-redis cluster we call, after Buffer type mapping. */
interface NodeRedisCluster extends NodeRedisKeyed {
  /** node-redis 6's cluster-level `keyPrefix`. */
  readonly _keyPrefix?: unknown
  isOpen: boolean
  isReady: boolean
  connect(): Promise<unknown>
  /** Slot → shard, per the client's topology. */
  readonly slots: ({ master: NodeRedisShardNode } | undefined)[]
  readonly masters?: NodeRedisShardNode[]
  getMasters?(): NodeRedisShardNode[]
  nodeClient(node: NodeRedisShardNode): Promise<NodeRedisNodeClient>
  /** The topology (node-redis 5/6: `rediscover()` asks the known nodes for CLUSTER SLOTS again). */
  readonly _slots?: { rediscover?(startWith?: unknown): Promise<void> }
  close(): Promise<void>
  destroy(): void
  on(event: 'error', listener: (error: unknown) => void): unknown
  on(event: 'node-error', listener: (error: unknown, node?: { host: string; port: number }) => void): unknown
  on(event: 'node-ready', listener: (node: { host: string; port: number }) => void): unknown
  withCommandOptions(options: { typeMapping: Record<number, unknown>; timeout: number }): NodeRedisCluster
}

interface NodeRedisMulti {
  get(key: string): NodeRedisMulti
  mGet(keys: string[]): NodeRedisMulti
  set(key: string, value: Buffer, options?: { PX?: number }): NodeRedisMulti
  unlink(keys: string[]): NodeRedisMulti
  execAsPipeline(): Promise<unknown[]>
}

/** The connection to one node. */
interface NodeRedisNodeClient {
  readonly options?: { socket?: Record<string, unknown> }
  ping(): Promise<unknown>
  sendCommand(args: (string | Buffer)[]): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<unknown>
  scan(
    cursor: string,
    options: { MATCH: string; COUNT: number },
  ): Promise<{ cursor: unknown; keys: unknown[] }>
  duplicate(overrides: Record<string, unknown>): NodeRedisSubscriber
  withTypeMapping(typeMapping: Record<number, unknown>): NodeRedisNodeClient
  multi(): NodeRedisMulti
}

interface NodeRedisSubscriber {
  isReady: boolean
  connect(): Promise<unknown>
  subscribe(channel: string, listener: (message: Buffer) => void, bufferMode: true): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  ping(): Promise<unknown>
  on(event: 'error', listener: (error: unknown) => void): unknown
  on(event: 'end' | 'terminated', listener: () => void): unknown
  destroy(): void
}

export interface NodeRedisClusterAdapterOptions {
  /** node-redis's own per-command timeout on writes (see node-redis-adapter.ts). */
  commandTimeoutMs: number
  /** Bound on the commands each node connection holds. */
  maxQueuedCommands: number
  connectTimeoutMs: number
  onError: (error: unknown) => void
}

class NodeRedisClusterDriver
  extends NodeRedisKeyedCommands<NodeRedisCluster>
  implements ClusterDriver<NodeRedisShardNode>
{
  readonly client = 'redis'
  readonly owned: boolean
  readonly first: FirstConnection | undefined
  readonly keyPrefix: string
  readonly #raw: NodeRedisCluster
  readonly #onError: (error: unknown) => void
  readonly #typeMapping: Record<number, unknown>
  readonly #typedClients = new WeakMap<NodeRedisNodeClient, NodeRedisNodeClient>()
  /** Masters whose first connection attempt is awaited, by address. */
  readonly #attempts = new Map<string, () => void>()
  readonly #onNodeReady: ((address: string) => void)[] = []
  #closed = false
  #retry: NodeJS.Timeout | undefined

  constructor(
    source: readonly ClusterNodeAddress[] | NodeRedisClusterLike,
    options: NodeRedisClusterAdapterOptions,
  ) {
    const lib = loadNodeRedis<never, NodeRedisCluster>()
    const owned = Array.isArray(source)
    const raw = owned
      ? create(lib, source as readonly ClusterNodeAddress[], options)
      : (source as unknown as NodeRedisCluster)
    const views = bufferViews(raw, lib, options.commandTimeoutMs)
    super(views.reader, views.writer)
    this.#raw = raw
    this.owned = owned
    this.#typeMapping = views.typeMapping
    this.#onError = options.onError
    const prefix = raw._keyPrefix
    this.keyPrefix = prefix === undefined || prefix === null ? '' : String(prefix)
    if (owned) {
      const firstConnection = new FirstConnection(options.commandTimeoutMs)
      this.first = firstConnection
      // The cluster client gives up when no root node answers: try again, forever, until closed.
      const connect = (attempt: number) => {
        this.#retry = undefined
        if (this.#closed) return
        raw.connect().then(
          () => {
            // Commands wait (bounded) until every master is connected, or failed once (down).
            const masters = this.masters()
            Promise.all(masters.map((m) => this.#firstAttempt(m, options.connectTimeoutMs))).then(() =>
              firstConnection.ready(),
            )
          },
          (error: unknown) => {
            options.onError(error)
            if (!this.#closed) this.#retry = setTimeout(() => connect(attempt + 1), reconnectDelay(attempt))
          },
        )
      }
      // Listeners first: without an 'error' listener node-redis would crash the host process.
      raw.on('error', options.onError)
      raw.on('node-error', (error, node) => {
        options.onError(error)
        if (node !== undefined) this.#attempts.get(`${node.host}:${node.port}`)?.()
      })
      connect(0)
    } else {
      this.first = undefined
      raw.on('error', options.onError)
      raw.on('node-error', options.onError)
      if (!raw.isOpen) raw.connect().catch(options.onError)
    }
  }

  onNodeReady(listener: (address: string) => void): void {
    if (this.#onNodeReady.length === 0) {
      this.#raw.on('node-ready', (node) => {
        const address = `${node.host}:${node.port}`
        for (const each of this.#onNodeReady) each(address)
      })
    }
    this.#onNodeReady.push(listener)
  }

  /** See {@link #assertConnected}. */
  protected override admit(key: string | undefined): void {
    this.#assertConnected(key)
  }

  async publishNode(node: NodeRedisShardNode, channel: string, message: Buffer): Promise<void> {
    await (await this.#nodeClient(node)).publish(channel, message)
  }

  slotOwner(slot: number): string | undefined {
    const master = this.#raw.slots[slot]?.master
    return master === undefined ? undefined : this.address(master)
  }

  /**
   * A pipeline on the connection to the slot's master. Not `cluster.multi()`: its pipelines ignore
   * the type mapping (values would come back as strings, binary envelopes broken). node-redis
   * rejects a pipeline at its first error reply without the others' replies: a redirection means
   * "send each on its own" (a SET already run is then sent again at once, with the same value).
   */
  async pipeline(slot: number, commands: readonly PipelineCommand[]): Promise<unknown[] | undefined> {
    const master = this.#raw.slots[slot]?.master
    // Your keyPrefix is applied by the cluster client, not by its node connections: one by one.
    if (master === undefined || this.keyPrefix !== '') return undefined
    const client = this.#typed(await this.#nodeClient(master))
    let multi = client.multi()
    for (const command of commands) {
      switch (command.kind) {
        case 'get':
          multi = multi.get(command.key)
          break
        case 'mget':
          multi = multi.mGet(command.keys as string[])
          break
        case 'set':
          multi = multi.set(command.key, command.value, nodeRedisSetOptions(command.px))
          break
        case 'unlink':
          multi = multi.unlink(command.keys as string[])
          break
      }
    }
    try {
      return await multi.execAsPipeline()
    } catch (error) {
      // Some versions report every reply, errors in place.
      const replies = (error as { replies?: unknown }).replies
      if (Array.isArray(replies) && Array.isArray((error as { errorIndexes?: unknown }).errorIndexes)) {
        return replies
      }
      if (isRedirection(error)) return undefined
      throw error
    }
  }

  /** Resolves once `master` is connected, or its first attempt failed, or after `ms`. */
  #firstAttempt(master: NodeRedisShardNode, ms: number): Promise<void> {
    const address = this.address(master)
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer)
        this.#attempts.delete(address)
        resolve()
      }
      const timer = setTimeout(done, timerMs(ms))
      this.#attempts.set(address, done)
      this.#raw.nodeClient(master).then(done, done)
    })
  }

  /**
   * For a cluster we opened (masters connected in the background, see the constructor): throws
   * unless the connection to the master of `key`'s slot is up. node-redis would otherwise make the
   * command wait for that connection, then send it whenever the master comes back: long after its
   * caller gave up, over newer data. A master not yet connected (new after a failover) is connected
   * now, for the next commands.
   */
  #assertConnected(key: string | undefined): void {
    if (!this.owned || key === undefined) return
    const master = this.#raw.slots[keySlot(this.keyPrefix + key)]?.master
    if (master === undefined || master.client?.isReady === true) return
    throw this.#notConnected(master)
  }

  /** The connection to `node`: for a cluster we opened, only if it is up (as above). */
  #nodeClient(node: NodeRedisShardNode): Promise<NodeRedisNodeClient> {
    if (this.owned && node.client?.isReady !== true) return Promise.reject(this.#notConnected(node))
    return this.#raw.nodeClient(node)
  }

  #notConnected(node: NodeRedisShardNode): Error {
    if (node.client === undefined) this.#raw.nodeClient(node).catch(() => {})
    return new Error(`Not connected to the Redis Cluster master ${this.address(node)}.`)
  }

  /** The node connection with Buffer replies (one proxy per connection). */
  #typed(client: NodeRedisNodeClient): NodeRedisNodeClient {
    let typed = this.#typedClients.get(client)
    if (typed === undefined) {
      typed = client.withTypeMapping(this.#typeMapping)
      this.#typedClients.set(client, typed)
    }
    return typed
  }

  slotOwners(): Iterable<string> {
    return this.masters().map((m) => this.address(m))
  }

  masters(): readonly NodeRedisShardNode[] {
    return this.#raw.masters ?? this.#raw.getMasters?.() ?? []
  }

  address(node: NodeRedisShardNode): string {
    return node.address ?? `${node.host}:${node.port}`
  }

  async scanNode(
    node: NodeRedisShardNode,
    cursor: string,
    match: string,
    count: number,
  ): Promise<{ cursor: string; keys: string[] }> {
    const client = await this.#nodeClient(node)
    const reply = await client.scan(cursor, { MATCH: match, COUNT: count })
    return { cursor: String(reply.cursor), keys: reply.keys.map(String) }
  }

  async pingNode(node: NodeRedisShardNode): Promise<void> {
    await (await this.#nodeClient(node)).ping()
  }

  async commandNode(node: NodeRedisShardNode, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#typed(await this.#nodeClient(node)).sendCommand([...args])
  }

  /** node-redis rediscovers by itself on MOVED and after a node's reconnection attempts; this asks now. */
  async refreshTopology(): Promise<void> {
    const slots = this.#raw._slots
    if (slots?.rediscover === undefined || !this.#raw.isOpen) return
    try {
      await slots.rediscover()
    } catch {
      return
    }
    // The promoted replica: connected now, not on the first command for its slots (which would fail).
    for (const master of this.masters()) {
      if (master.client === undefined) this.#raw.nodeClient(master).catch(() => {})
    }
  }

  async ping(): Promise<void> {
    throw new Error('No Redis Cluster master is known: the cluster is not connected.')
  }

  async openSubscriber(
    node: NodeRedisShardNode,
    onMessage: (channel: string, message: Buffer) => void,
    onEnd: () => void,
  ): Promise<SubscriberLink> {
    const base = await this.#nodeClient(node)
    // The node's own options (address, credentials, TLS), but never reconnecting: ClusterSubscriber
    // picks the next master itself when this one is lost.
    const subscriber = base.duplicate({
      socket: { ...(base.options?.socket ?? { host: node.host, port: node.port }), reconnectStrategy: false },
      disableOfflineQueue: false,
    })
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      onEnd()
    }
    subscriber.on('error', (error) => {
      this.#onError(error)
      if (!subscriber.isReady) end()
    })
    subscriber.on('end', end)
    subscriber.on('terminated', end)
    try {
      await subscriber.connect()
    } catch (error) {
      ended = true
      destroy(subscriber)
      throw error
    }
    return {
      subscribe: async (channel) => {
        await subscriber.subscribe(channel, (message) => onMessage(channel, message), true)
      },
      unsubscribe: async (channel) => {
        await subscriber.unsubscribe(channel)
      },
      ping: async () => {
        await subscriber.ping()
      },
      close: () => {
        ended = true
        destroy(subscriber)
      },
    }
  }

  async close(force: boolean): Promise<void> {
    this.#closed = true
    if (this.#retry !== undefined) clearTimeout(this.#retry)
    if (force || !this.#raw.isReady) this.#raw.destroy()
    else await this.#raw.close()
  }
}

/**
 * Opens a cluster client from node addresses. connect() discovers the topology only: with every
 * master connected eagerly, it would wait (forever) for a master that is down, and the cluster
 * would be unusable until it is back. The masters are connected in the background; commands to
 * one that is not connected fail at once (see the driver's #assertConnected).
 */
function create(
  lib: NodeRedisModule<never, NodeRedisCluster>,
  nodes: readonly ClusterNodeAddress[],
  options: NodeRedisClusterAdapterOptions,
): NodeRedisCluster {
  const seed = nodes[0] as ClusterNodeAddress
  return lib.createCluster({
    minimizeConnections: true,
    rootNodes: nodes.map(({ host, port, tls }) => ({
      socket: { host, port, ...(tls ? { tls: true } : {}) },
    })),
    // Every node connection (rootNodes only serve the discovery): as for a single Redis
    // (node-redis-adapter.ts), nothing is queued while a node is disconnected, so nothing
    // issued during an outage is sent after the reconnect; reconnect forever, backing off to 2 s.
    defaults: {
      ...(seed.username === undefined ? {} : { username: seed.username }),
      ...(seed.password === undefined ? {} : { password: seed.password }),
      disableOfflineQueue: true,
      commandsQueueMaxLength: options.maxQueuedCommands,
      // Every node socket (and the discovery's) keeps an 'error' listener for life: a TLS
      // handshake failing twice must not crash the host (see guardedSocketOptions).
      socket: guardedSocketOptions(
        {
          connectTimeout: options.connectTimeoutMs,
          reconnectStrategy: reconnectDelay,
          ...(seed.tls ? { tls: true } : {}),
        },
        options.onError,
      ),
    },
  })
}

function destroy(client: { destroy(): void }): void {
  try {
    client.destroy()
  } catch {
    // Already closed.
  }
}

/**
 * Adapter over a node-redis cluster: one opened from URLs (fail-fast settings, see the driver) or
 * yours (kept as you configured it; not closed with the cache). See {@link ClusterAdapter}.
 */
export class NodeRedisClusterAdapter extends ClusterAdapter<NodeRedisShardNode> {
  constructor(
    source: readonly ClusterNodeAddress[] | NodeRedisClusterLike,
    options: NodeRedisClusterAdapterOptions,
  ) {
    super(new NodeRedisClusterDriver(source, options), options)
  }
}
