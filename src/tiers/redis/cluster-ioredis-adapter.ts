import { InvalidOptionError, L2TimeoutError } from '../../errors.js'
import { reconnectDelay, requireClient } from './client-modules.js'
import { ClusterAdapter, type ClusterDriver, type PipelineCommand } from './cluster-adapter.js'
import type { ClusterNodeAddress } from './cluster-options.js'
import type { SubscriberLink } from './cluster-subscriber.js'
import { FirstConnection } from './first-connection.js'

/** What an ioredis `Cluster` (`new Redis.Cluster(nodes)`) looks like to the option types. */
export interface IoRedisClusterLike {
  isCluster: boolean
  nodes(...args: never[]): unknown
  getBuffer(...args: never[]): unknown
}

/** The subset of an ioredis `Cluster` we call. */
interface IoRedisCluster {
  status: string
  options?: { keyPrefix?: string }
  getBuffer(key: string): Promise<Buffer | null>
  mgetBuffer(...keys: string[]): Promise<(Buffer | null)[]>
  set(key: string, value: Buffer | string, ...args: (string | number)[]): Promise<unknown>
  ping(): Promise<unknown>
  evalsha(sha: string, numKeys: number, ...args: (string | number | Buffer)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number | Buffer)[]): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<unknown>
  unlink(...keys: string[]): Promise<number>
  nodes(role: 'master'): IoRedisNode[]
  /** Slot → node keys (`host:port`), the master first. */
  slots: string[][]
  pipeline(): IoRedisPipeline
  quit(): Promise<unknown>
  disconnect(): void
  on(event: 'error' | 'node error', listener: (error: unknown) => void): unknown
  on(event: '+node', listener: (node: IoRedisNode) => void): unknown
  once(event: 'ready', listener: () => void): unknown
}

interface IoRedisPipeline {
  getBuffer(key: string): IoRedisPipeline
  mgetBuffer(...keys: string[]): IoRedisPipeline
  set(key: string, value: Buffer, ...args: (string | number)[]): IoRedisPipeline
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
  duplicate(overrides: Record<string, unknown>): IoRedisSubscriber
  pipeline(): IoRedisPipeline
  once(event: 'ready' | 'end', listener: () => void): unknown
  off(event: 'ready' | 'end', listener: () => void): unknown
}

interface IoRedisSubscriber {
  connect(): Promise<unknown>
  subscribe(channel: string): Promise<unknown>
  unsubscribe(channel: string): Promise<unknown>
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

class IoRedisClusterDriver implements ClusterDriver<IoRedisNode> {
  readonly client = 'ioredis'
  readonly owned: boolean
  readonly first: FirstConnection | undefined
  readonly keyPrefix: string
  readonly #cluster: IoRedisCluster
  readonly #commandTimeoutMs: number
  readonly #onError: (error: unknown) => void

  constructor(
    source: readonly ClusterNodeAddress[] | IoRedisClusterLike,
    options: IoRedisClusterAdapterOptions,
  ) {
    this.#commandTimeoutMs = options.commandTimeoutMs
    this.#onError = options.onError
    if (Array.isArray(source)) {
      const nodes = source as readonly ClusterNodeAddress[]
      const first = nodes[0] as ClusterNodeAddress
      const Cluster = load()
      this.#cluster = new Cluster(
        nodes.map(({ host, port }) => ({ host, port })),
        {
          // As for a single Redis (ioredis-adapter.ts): never send a command later than when it was
          // issued. enableOfflineQueue: false rejects commands while the cluster is not ready.
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
            username: first.username,
            password: first.password,
            ...(first.tls ? { tls: {} } : {}),
            maxRetriesPerRequest: 0,
            autoResendUnfulfilledCommands: false,
            commandTimeout: options.commandTimeoutMs,
            connectTimeout: options.connectTimeoutMs,
          },
        },
      )
      this.owned = true
      // ioredis connects a node on its first command, and with the offline queue off it rejects the
      // commands that reach a node still connecting: connect every master as soon as it is known.
      this.#cluster.on('+node', (node) => {
        if (!node.options.readOnly && node.status === 'wait') node.connect().catch(() => {})
      })
      const firstConnection = new FirstConnection(options.commandTimeoutMs)
      this.#cluster.once('ready', () => {
        const masters = this.#cluster.nodes('master')
        Promise.all(masters.map((node) => settled(node, options.connectTimeoutMs))).then(() =>
          firstConnection.ready(),
        )
      })
      this.first = firstConnection
    } else {
      this.#cluster = source as unknown as IoRedisCluster
      this.owned = false
      this.first = undefined
    }
    this.#cluster.on('error', options.onError)
    this.#cluster.on('node error', options.onError)
    this.keyPrefix = this.#cluster.options?.keyPrefix ?? ''
  }

  get(key: string): Promise<Buffer | null> {
    return this.#cluster.getBuffer(key).catch(this.#timedOut)
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.#cluster.mgetBuffer(...keys).catch(this.#timedOut)
  }

  async set(key: string, value: Buffer, px: number | undefined): Promise<void> {
    await (px === undefined ? this.#cluster.set(key, value) : this.#cluster.set(key, value, 'PX', px)).catch(
      this.#timedOut,
    )
  }

  async setIfAbsent(key: string, value: string, px: number | undefined): Promise<boolean> {
    const reply = await (px === undefined
      ? this.#cluster.set(key, value, 'NX')
      : this.#cluster.set(key, value, 'PX', px, 'NX')
    ).catch(this.#timedOut)
    return reply !== null
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#cluster.unlink(...keys).catch(this.#timedOut)
  }

  evalsha(sha: string, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#cluster.evalsha(sha, 1, key, ...args).catch(this.#timedOut)
  }

  eval(lua: string, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#cluster.eval(lua, 1, key, ...args).catch(this.#timedOut)
  }

  async publish(channel: string, message: Buffer): Promise<void> {
    await this.#cluster.publish(channel, message).catch(this.#timedOut)
  }

  async publishNode(node: IoRedisNode, channel: string, message: Buffer): Promise<void> {
    await node.publish(channel, message).catch(this.#timedOut)
  }

  slotOwner(slot: number): string | undefined {
    return this.#cluster.slots[slot]?.[0]
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
      pipeline = this.#cluster.pipeline()
    } else {
      const owner = this.#cluster.slots[slot]?.[0]
      const node =
        owner === undefined ? undefined : this.#cluster.nodes('master').find((n) => this.address(n) === owner)
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
          if (command.px === undefined) pipeline.set(command.key, command.value)
          else pipeline.set(command.key, command.value, 'PX', command.px)
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
      return this.#timedOut(error)
    }
    if (results === null) return undefined
    return results.map(([error, value]) => (error === null ? value : asTimeout(error, this.#within())))
  }

  *slotOwners(): Iterable<string> {
    for (const nodes of this.#cluster.slots) if (nodes?.[0] !== undefined) yield nodes[0]
  }

  masters(): readonly IoRedisNode[] {
    return this.#cluster.nodes('master')
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
    const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', count).catch(this.#timedOut)
    return { cursor: next, keys }
  }

  async pingNode(node: IoRedisNode): Promise<void> {
    await node.ping().catch(this.#timedOut)
  }

  async ping(): Promise<void> {
    await this.#cluster.ping().catch(this.#timedOut)
  }

  async openSubscriber(
    node: IoRedisNode,
    onMessage: (channel: string, message: Buffer) => void,
    onEnd: () => void,
  ): Promise<SubscriberLink> {
    // The node's own options (address, credentials, TLS), but never reconnecting: ClusterSubscriber
    // picks the next master itself when this one is lost.
    const subscriber = node.duplicate({
      lazyConnect: true,
      retryStrategy: null,
      enableOfflineQueue: true,
      autoResubscribe: false,
      readOnly: false,
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
      close: () => subscriber.disconnect(),
    }
  }

  async close(force: boolean): Promise<void> {
    if (force || this.#cluster.status !== 'ready') this.#cluster.disconnect()
    else await this.#cluster.quit()
  }

  /** ioredis's own commandTimeout may fire just before the tier's deadline: either way, E_L2_TIMEOUT. */
  readonly #timedOut = (error: unknown): never => {
    throw asTimeout(error, this.#within())
  }

  #within(): string {
    return this.owned ? `${this.#commandTimeoutMs} ms (l2.timeout)` : 'its commandTimeout'
  }
}

function asTimeout(error: unknown, within: string): unknown {
  if (error instanceof Error && error.message === 'Command timed out') {
    return new L2TimeoutError(`Redis did not answer within ${within}.`, { cause: error })
  }
  return error
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
    const timer = setTimeout(done, ms)
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

type IoRedisClusterConstructor = new (
  nodes: { host: string; port: number }[],
  options: Record<string, unknown>,
) => IoRedisCluster

function load(): IoRedisClusterConstructor {
  const mod = requireClient<{
    Cluster?: IoRedisClusterConstructor
    default?: { Cluster?: IoRedisClusterConstructor }
  }>('ioredis')
  const Cluster = mod.Cluster ?? mod.default?.Cluster
  if (Cluster === undefined)
    throw new InvalidOptionError('The installed ioredis exports no Cluster: use ioredis 5.')
  return Cluster
}
