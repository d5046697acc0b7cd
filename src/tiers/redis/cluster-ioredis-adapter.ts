import { timerMs } from '../../base/clock.js'
import { reconnectDelay } from './client-modules.js'
import { ClusterAdapter, type ClusterDriver, type PipelineCommand } from './cluster-adapter.js'
import type { ClusterNodeAddress } from './cluster-options.js'
import type { SubscriberLink } from './cluster-subscriber.js'
import { FirstConnection } from './first-connection.js'
import {
  guardedConnector,
  type IoRedisKeyed,
  IoRedisKeyedCommands,
  ioredisSet,
  loadIoRedisCluster,
} from './ioredis-common.js'

/** What an ioredis `Cluster` (`new Redis.Cluster(nodes)`) looks like to the option types. */
export interface IoRedisClusterLike {
  isCluster: boolean
  nodes(...args: never[]): unknown
  getBuffer(...args: never[]): unknown
}

/** The subset of an ioredis `Cluster` we call. */
interface IoRedisCluster extends IoRedisKeyed {
  status: string
  options?: { keyPrefix?: string }
  nodes(role: 'master' | 'all'): IoRedisNode[]
  /** Slot → node keys (`host:port`), the master first. */
  slots: string[][]
  pipeline(): IoRedisPipeline
  /** Asks a node for CLUSTER SLOTS (ioredis: one refresh at a time; the callback runs when it ends). */
  refreshSlotsCache(callback: (error?: Error | null) => void): void
  quit(): Promise<unknown>
  disconnect(): void
  on(event: 'error' | 'node error', listener: (error: unknown) => void): unknown
  on(event: '+node', listener: (node: IoRedisNode) => void): unknown
  on(event: 'refresh', listener: () => void): unknown
  once(event: 'ready', listener: () => void): unknown
}

interface IoRedisPipeline {
  getBuffer(key: string): IoRedisPipeline
  mgetBuffer(...keys: string[]): IoRedisPipeline
  set(key: string, value: Buffer | string, ...args: (string | number)[]): IoRedisPipeline
  unlink(...keys: string[]): IoRedisPipeline
  exec(): Promise<[Error | null, unknown][] | null>
}

/** One node connection of the cluster (an ioredis `Redis`). */
interface IoRedisNode {
  status: string
  options: { host?: string; port?: number; readOnly?: boolean }
  connect(): Promise<unknown>
  scan(cursor: string, ...args: (string | number)[]): Promise<[string, string[]]>
  ping(): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<unknown>
  callBuffer(command: string, ...args: (string | Buffer)[]): Promise<unknown>
  duplicate(overrides: Record<string, unknown>): IoRedisSubscriber
  pipeline(): IoRedisPipeline
  on(event: 'ready', listener: () => void): unknown
  once(event: 'ready' | 'end', listener: () => void): unknown
  off(event: 'ready' | 'end', listener: () => void): unknown
}

interface IoRedisSubscriber {
  connect(): Promise<unknown>
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
  ping(): Promise<unknown>
  on(event: 'messageBuffer', listener: (channel: Buffer, message: Buffer) => void): unknown
  on(event: 'error', listener: (error: unknown) => void): unknown
  once(event: 'end', listener: () => void): unknown
  disconnect(): void
}

export interface IoRedisClusterAdapterOptions {
  /** ioredis's per-command timeout on every node (it waits forever on a frozen node otherwise). */
  commandTimeoutMs: number
  connectTimeoutMs: number
  onError: (error: unknown) => void
}

class IoRedisClusterDriver
  extends IoRedisKeyedCommands<IoRedisCluster>
  implements ClusterDriver<IoRedisNode>
{
  readonly client = 'ioredis'
  readonly first: FirstConnection | undefined
  readonly keyPrefix: string
  readonly #onError: (error: unknown) => void
  readonly #onNodeReady: ((address: string) => void)[] = []

  constructor(
    source: readonly ClusterNodeAddress[] | IoRedisClusterLike,
    options: IoRedisClusterAdapterOptions,
  ) {
    const opened = Array.isArray(source) ? open(source as readonly ClusterNodeAddress[], options) : undefined
    super(
      opened?.cluster ?? (source as unknown as IoRedisCluster),
      opened !== undefined,
      options.commandTimeoutMs,
    )
    this.first = opened?.first
    this.#onError = options.onError
    this.redis.on('error', options.onError)
    this.redis.on('node error', options.onError)
    this.keyPrefix = this.redis.options?.keyPrefix ?? ''
    // Every node connection, known now or later (a promoted replica): its 'ready' on each reconnect.
    const watch = (node: IoRedisNode) => {
      node.on('ready', () => {
        const address = this.address(node)
        for (const listener of this.#onNodeReady) listener(address)
      })
    }
    for (const node of this.redis.nodes('all')) watch(node)
    this.redis.on('+node', watch)
  }

  onNodeReady(listener: (address: string) => void): void {
    this.#onNodeReady.push(listener)
  }

  async publishNode(node: IoRedisNode, channel: string, message: Buffer): Promise<void> {
    await node.publish(channel, message).catch(this.timedOut)
  }

  slotOwner(slot: number): string | undefined {
    return this.redis.slots[slot]?.[0]
  }

  /**
   * A pipeline on the connection to the slot's master itself: ioredis's cluster pipelines cost
   * about twice as much (they check every key's slot again). Only on a ready connection: a node's
   * own offline queue would hold the commands until it connects. Replies MOVED/ASK/TRYAGAIN are
   * sent again, routed, by the adapter.
   */
  async pipeline(slot: number, commands: readonly PipelineCommand[]): Promise<unknown[] | undefined> {
    let pipeline: IoRedisPipeline
    if (this.keyPrefix !== '') {
      // Your keyPrefix is applied by the cluster client, not by its node connections.
      pipeline = this.redis.pipeline()
    } else {
      const owner = this.redis.slots[slot]?.[0]
      const node =
        owner === undefined ? undefined : this.redis.nodes('master').find((n) => this.address(n) === owner)
      if (node === undefined || node.status !== 'ready') return undefined
      pipeline = node.pipeline()
    }
    for (const command of commands) {
      switch (command.kind) {
        case 'get':
          pipeline.getBuffer(command.key)
          break
        case 'mget':
          pipeline.mgetBuffer(...command.keys)
          break
        case 'set':
          ioredisSet(pipeline, command.key, command.value, command.px)
          break
        case 'unlink':
          pipeline.unlink(...command.keys)
          break
      }
    }
    let results: [Error | null, unknown][] | null
    try {
      results = await pipeline.exec()
    } catch (error) {
      // A cluster pipeline checks, before sending anything, that one node owns every slot.
      if (error instanceof Error && error.message.includes('same slots allocation group')) return undefined
      return this.timedOut(error)
    }
    if (results === null) return undefined
    return results.map(([error, value]) => (error === null ? value : this.asTimeout(error)))
  }

  *slotOwners(): Iterable<string> {
    for (const nodes of this.redis.slots) if (nodes?.[0] !== undefined) yield nodes[0]
  }

  masters(): readonly IoRedisNode[] {
    return this.redis.nodes('master')
  }

  address(node: IoRedisNode): string {
    return `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`
  }

  async scanNode(
    node: IoRedisNode,
    cursor: string,
    match: string,
    count: number,
  ): Promise<{ cursor: string; keys: string[] }> {
    const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', count).catch(this.timedOut)
    return { cursor: next, keys }
  }

  async pingNode(node: IoRedisNode): Promise<void> {
    await node.ping().catch(this.timedOut)
  }

  commandNode(node: IoRedisNode, args: readonly (string | Buffer)[]): Promise<unknown> {
    const [name, ...rest] = args
    return node.callBuffer(String(name), ...rest).catch(this.timedOut)
  }

  refreshTopology(): Promise<void> {
    return new Promise((resolve) => {
      try {
        this.redis.refreshSlotsCache(() => resolve())
      } catch {
        resolve()
      }
    })
  }

  async openSubscriber(
    node: IoRedisNode,
    onMessage: (channel: string, message: Buffer) => void,
    onEnd: () => void,
  ): Promise<SubscriberLink> {
    // The node's own options (address, credentials, TLS), but never reconnecting: ClusterSubscriber
    // picks the next master itself when this one is lost. Nor the commands' timeout: ClusterSubscriber
    // gives its SUBSCRIBEs and PINGs their own deadlines.
    const subscriber = node.duplicate({
      lazyConnect: true,
      retryStrategy: null,
      enableOfflineQueue: true,
      autoResubscribe: false,
      readOnly: false,
      commandTimeout: undefined,
    })
    subscriber.on('error', this.#onError)
    subscriber.on('messageBuffer', (channel, message) => onMessage(channel.toString(), message))
    subscriber.once('end', onEnd)
    try {
      await subscriber.connect()
    } catch (error) {
      subscriber.disconnect()
      throw error
    }
    return {
      subscribe: async (channel) => {
        await subscriber.subscribe(channel)
      },
      unsubscribe: async (channel) => {
        await subscriber.unsubscribe(channel)
      },
      ping: async () => {
        await subscriber.ping()
      },
      close: () => subscriber.disconnect(),
    }
  }

  async close(force: boolean): Promise<void> {
    if (force || this.redis.status !== 'ready') this.redis.disconnect()
    else await this.redis.quit()
  }

  readonly #timedOut = (error: unknown): never => {
    throw this.asTimeout(error)
  }
}

/**
 * Opens a Cluster client from node addresses. As for a single Redis (ioredis-adapter.ts): never
 * send a command later than when it was issued; commands wait (bounded) for the first connection.
 */
function open(
  nodes: readonly ClusterNodeAddress[],
  options: IoRedisClusterAdapterOptions,
): { cluster: IoRedisCluster; first: FirstConnection } {
  const seed = nodes[0] as ClusterNodeAddress
  const Cluster = loadIoRedisCluster<IoRedisCluster>()
  const Connector = guardedConnector(options.onError)
  const cluster = new Cluster(
    nodes.map(({ host, port }) => ({ host, port })),
    {
      // enableOfflineQueue: false rejects commands while the cluster is not ready.
      // retryDelayOnFailover: 0 and retryDelayOnClusterDown: 0 reject a command whose node
      // connection closed (or that met CLUSTERDOWN) instead of re-sending it 100 ms later, when
      // it may overwrite newer data. MOVED/ASK (the command did not run) are still followed.
      enableOfflineQueue: false,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      // Reads from masters only: a replica may not have the last write yet.
      scaleReads: 'master',
      // The ready check sends CLUSTER INFO to a random node, and a failure starts the whole
      // connection over: while one master is down, a new client could take many attempts to
      // connect. Without it, a cluster that is down answers CLUSTERDOWN, which fails fast too.
      enableReadyCheck: false,
      // Always a number: ioredis keeps reconnecting to the cluster, backing off to 2 s.
      clusterRetryStrategy: reconnectDelay,
      redisOptions: {
        // Every node socket keeps an 'error' listener for life: a TLS handshake failing twice must
        // not crash the host (see guardedConnector). The subscriber (duplicate()) inherits it.
        ...(Connector === undefined ? {} : { Connector }),
        username: seed.username,
        password: seed.password,
        ...(seed.tls ? { tls: {} } : {}),
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        commandTimeout: options.commandTimeoutMs,
        connectTimeout: options.connectTimeoutMs,
      },
    },
  )
  // ioredis connects a node on its first command, and with the offline queue off it rejects the
  // commands that reach a node still connecting: connect every master as soon as it is known.
  cluster.on('+node', (node) => {
    if (!node.options.readOnly && node.status === 'wait') node.connect().catch(() => {})
  })
  // A replica promoted by a failover was known (not connected: reads go to masters only): connect
  // it as soon as the slot table names it a master, before the commands for its slots arrive.
  cluster.on('refresh', () => {
    for (const node of cluster.nodes('master')) if (node.status === 'wait') node.connect().catch(() => {})
  })
  const first = new FirstConnection(options.commandTimeoutMs)
  cluster.once('ready', () => {
    const masters = cluster.nodes('master')
    Promise.all(masters.map((node) => settled(node, options.connectTimeoutMs))).then(() => first.ready())
  })
  return { cluster, first }
}

/** Resolves once `node` is ready, gave up (ended), or after `ms`. */
function settled(node: IoRedisNode, ms: number): Promise<void> {
  if (node.status === 'ready' || node.status === 'end') return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      node.off('ready', done)
      node.off('end', done)
      resolve()
    }
    const timer = setTimeout(done, timerMs(ms))
    node.once('ready', done)
    node.once('end', done)
    if (node.status === 'wait') node.connect().catch(() => {})
  })
}

/**
 * Adapter over an ioredis `Cluster`: one opened from URLs (fail-fast settings, see the driver) or
 * yours (kept as you configured it; not closed with the cache). See {@link ClusterAdapter}.
 */
export class IoRedisClusterAdapter extends ClusterAdapter<IoRedisNode> {
  constructor(
    source: readonly ClusterNodeAddress[] | IoRedisClusterLike,
    options: IoRedisClusterAdapterOptions,
  ) {
    super(new IoRedisClusterDriver(source, options), options)
  }
}
