import { createRequire } from 'node:module'
import { InvalidOptionError, L2TimeoutError } from '../../errors.js'
import { requireClient } from './client-modules.js'
import { keepErrorListener } from './connection.js'

/** ioredis's SET: `set(key, value, ...args)`, on a client, a Cluster or a pipeline. */
interface IoRedisSetter<R> {
  set(key: string, value: Buffer | string, ...args: (string | number)[]): R
}

/** SET key value [PX px] [NX] on ioredis (`px` undefined = no expiry). */
export function ioredisSet<R>(
  target: IoRedisSetter<R>,
  key: string,
  value: Buffer | string,
  px: number | undefined,
  ifAbsent = false,
): R {
  if (ifAbsent)
    return px === undefined ? target.set(key, value, 'NX') : target.set(key, value, 'PX', px, 'NX')
  return px === undefined ? target.set(key, value) : target.set(key, value, 'PX', px)
}

/**
 * ioredis's own commandTimeout may fire just before the tier's deadline (its timer starts first):
 * either way the caller gets an E_L2_TIMEOUT. `owned`: the client was opened from a URL with
 * `commandTimeoutMs` (l2.timeout); otherwise it has the commandTimeout you configured.
 */
export function ioredisTimeouts(owned: boolean, commandTimeoutMs: number): (error: unknown) => unknown {
  const within = owned ? `${commandTimeoutMs} ms (l2.timeout)` : 'its commandTimeout'
  return (error) =>
    error instanceof Error && error.message === 'Command timed out'
      ? new L2TimeoutError(`Redis did not answer within ${within}.`, { cause: error })
      : error
}

type IoRedisModule<R, C> = (new (
  url: string,
  options: Record<string, unknown>,
) => R) & {
  Cluster?: new (nodes: { host: string; port: number }[], options: Record<string, unknown>) => C
}

/** The installed ioredis's `Redis` class (its CommonJS export or its `default`). */
export function loadIoRedis<R, C>(): IoRedisModule<R, C> {
  const mod = requireClient<IoRedisModule<R, C> | { default: IoRedisModule<R, C> }>('ioredis')
  return 'default' in mod ? mod.default : mod
}

/** ioredis's connector for one Redis (lib/connectors/StandaloneConnector): `connect()` resolves with the socket it opened. */
interface IoRedisConnector {
  connect(onError: (error: unknown) => void): Promise<SocketLike>
}

/** What {@link IoRedisKeyedCommands.together} uses of ioredis's socket (`client.stream`: a net or TLS socket). */
interface CorkableSocket {
  readonly writable: boolean
  cork(): void
  uncork(): void
}

interface SocketLike {
  on(event: 'error', listener: (error: Error) => void): unknown
  listenerCount(event: 'error'): number
}

type ConnectorClass = new (options: Record<string, unknown>) => IoRedisConnector

/**
 * An ioredis `Connector` (its documented option for how a client opens its socket) that keeps an
 * 'error' listener on every socket it opens, for the socket's whole life ({@link keepErrorListener}):
 * a TLS handshake failing twice must not crash the host. Errors ioredis no longer hears go to
 * `onLateError`. Undefined if the installed ioredis has no StandaloneConnector where ioredis 5
 * keeps it (the client then runs with its own connector).
 */
export function guardedConnector(onLateError: (error: unknown) => void): ConnectorClass | undefined {
  let Standalone: ConnectorClass
  try {
    const mod = createRequire(import.meta.url)('ioredis/built/connectors/StandaloneConnector.js') as {
      default?: ConnectorClass
    }
    if (typeof mod.default !== 'function') return undefined
    Standalone = mod.default
  } catch {
    return undefined
  }
  return class GuardedConnector extends Standalone {
    override async connect(onError: (error: unknown) => void): Promise<SocketLike> {
      const socket = await super.connect(onError)
      keepErrorListener(socket, onLateError)
      return socket
    }
  }
}

/** The installed ioredis's `Cluster` class. */
export function loadIoRedisCluster<C>(): NonNullable<IoRedisModule<unknown, C>['Cluster']> {
  const mod = requireClient<{
    Cluster?: IoRedisModule<unknown, C>['Cluster']
    default?: { Cluster?: IoRedisModule<unknown, C>['Cluster'] }
  }>('ioredis')
  const Cluster = mod.Cluster ?? mod.default?.Cluster
  if (Cluster === undefined)
    throw new InvalidOptionError('The installed ioredis exports no Cluster: use ioredis 5.')
  return Cluster
}

/** The single-key commands an ioredis client and an ioredis `Cluster` both have. */
export interface IoRedisKeyed {
  getBuffer(key: string): Promise<Buffer | null>
  mgetBuffer(...keys: string[]): Promise<(Buffer | null)[]>
  set(key: string, value: Buffer | string, ...args: (string | number)[]): Promise<unknown>
  ping(): Promise<unknown>
  evalsha(sha: string, numKeys: number, ...args: (string | number | Buffer)[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: (string | number | Buffer)[]): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<unknown>
  unlink(...keys: string[]): Promise<number>
}

/**
 * The primitives ioredis sends the same way to one Redis and to a Cluster (which routes them by
 * key), its own command timeout reported as E_L2_TIMEOUT (see {@link ioredisTimeouts}).
 */
export class IoRedisKeyedCommands<C extends IoRedisKeyed> {
  protected readonly redis: C
  /** True when stratacache opened the client (from a URL), so closes it. */
  readonly owned: boolean
  protected readonly asTimeout: (error: unknown) => unknown
  protected readonly timedOut = (error: unknown): never => {
    throw this.asTimeout(error)
  }

  constructor(redis: C, owned: boolean, commandTimeoutMs: number) {
    this.redis = redis
    this.owned = owned
    this.asTimeout = ioredisTimeouts(owned, commandTimeoutMs)
  }

  /**
   * ioredis writes each command to its socket as it is sent — one system call each, about a third
   * of a cold `getOrSet`'s CPU time — so the socket is corked while `send` runs and the commands
   * leave in one write. A Cluster (no single socket: `stream` is a single client's) sends as it did.
   */
  together(send: () => void): void {
    const socket = (this.redis as { stream?: CorkableSocket }).stream
    if (socket === undefined || !socket.writable) {
      send()
      return
    }
    socket.cork()
    try {
      send()
    } finally {
      socket.uncork()
    }
  }

  get(key: string): Promise<Buffer | null> {
    return this.redis.getBuffer(key).catch(this.timedOut)
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.redis.mgetBuffer(...keys).catch(this.timedOut)
  }

  async set(key: string, value: Buffer, px: number | undefined): Promise<void> {
    await ioredisSet(this.redis, key, value, px).catch(this.timedOut)
  }

  async setIfAbsent(key: string, value: string, px: number | undefined): Promise<boolean> {
    return (await ioredisSet(this.redis, key, value, px, true).catch(this.timedOut)) !== null
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.redis.unlink(...keys).catch(this.timedOut)
  }

  evalsha(sha: string, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.redis.evalsha(sha, 1, key, ...args).catch(this.timedOut)
  }

  eval(lua: string, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.redis.eval(lua, 1, key, ...args).catch(this.timedOut)
  }

  async publish(channel: string, message: Buffer): Promise<void> {
    await this.redis.publish(channel, message).catch(this.timedOut)
  }

  async ping(): Promise<void> {
    await this.redis.ping().catch(this.timedOut)
  }
}
