import { createRequire } from 'node:module'
import { InvalidOptionError } from '../../errors.js'
import type { RedisAdapter } from './adapter.js'
import { type TlsOptions, withTls } from './client-modules.js'
import { ClusterAdapter } from './cluster-adapter.js'
import { IoRedisClusterAdapter, type IoRedisClusterLike } from './cluster-ioredis-adapter.js'
import { NodeRedisClusterAdapter, type NodeRedisClusterLike } from './cluster-node-redis-adapter.js'
import { isClusterUrls, parseClusterUrls } from './cluster-options.js'
import { ClusterTier } from './cluster-tier.js'
import { ConnectionReport } from './connection.js'
import { IoRedisAdapter, type IoRedisClientLike } from './ioredis-adapter.js'
import { NodeRedisAdapter, type NodeRedisClientLike } from './node-redis-adapter.js'
import type { L2Options } from './options.js'
import { RedisTier } from './redis-tier.js'

/**
 * Bound on the commands a node-redis client holds (written or waiting for the socket). Clients
 * opened from a URL queue nothing while disconnected (see the adapters).
 */
const MAX_QUEUED_COMMANDS = 10_000

/**
 * The client a URL opens when `l2.client` is not given: ioredis, measured faster on this
 * project's benchmarks (docs/redis.md), when it is installed; otherwise node-redis.
 */
export function defaultRedisClient(): 'redis' | 'ioredis' {
  const require = createRequire(import.meta.url)
  for (const name of ['ioredis', 'redis'] as const) {
    try {
      require.resolve(name)
      return name
    } catch {}
  }
  throw new InvalidOptionError(
    'l2.redis needs a Redis client: run `npm install ioredis` (or `npm install redis`).',
  )
}

/** The least a reconnect may take before the client gives up on it and tries again. */
const CONNECT_TIMEOUT_MS = 10_000

/**
 * Builds the Redis L2 from `l2` options: a URL, `{ cluster: [urls] }`, a node-redis or ioredis
 * client or cluster, or an adapter. A cluster gets a {@link ClusterTier}: one lane (batching,
 * deadline, breaker) per master.
 */
export function createRedisTier(
  l2: L2Options & { redis: string },
  options: { timeoutMs: number; batchSize: number; onError: (error: unknown) => void },
): RedisTier
export function createRedisTier(
  l2: L2Options,
  options: { timeoutMs: number; batchSize: number; onError: (error: unknown) => void },
): RedisTier | ClusterTier
export function createRedisTier(
  l2: L2Options,
  options: { timeoutMs: number; batchSize: number; onError: (error: unknown) => void },
): RedisTier | ClusterTier {
  const source = l2.redis
  const tls = resolveTls((l2 as { tls?: unknown }).tls, source)
  // Every connection error the client reports is recorded: ready(), health() and diagnose() name it.
  const connection = new ConnectionReport()
  const clientOptions = {
    commandTimeoutMs: options.timeoutMs,
    // Generous: the client's timer fires before the event loop reads the connection's answer, so
    // on a busy loop (turns of a second or more) a short one failed every reconnect (issue 24).
    connectTimeoutMs: Math.max(options.timeoutMs, CONNECT_TIMEOUT_MS),
    maxQueuedCommands: MAX_QUEUED_COMMANDS,
    onError: (error: unknown) => {
      if (connection.closed) return
      connection.failed(error)
      options.onError(error)
    },
    // Every (re)connection: the breaker probes at once instead of at the end of its break.
    onReady: () => connection.ready(),
    tracking: l2.invalidation === 'tracking',
  }
  const adapter = withTls(tls, () => openAdapter(l2, source, clientOptions))
  if (clientOptions.tracking && adapter.track === undefined) {
    void adapter.close(true).catch(() => {})
    throw new InvalidOptionError(
      adapter instanceof ClusterAdapter
        ? "l2.invalidation 'tracking' is not supported on a Redis Cluster (tracking is per node, and these connections are not): use l2.invalidation 'bus', which reaches every instance on a Cluster too."
        : "l2.invalidation 'tracking' needs an adapter with track() (the built-in ioredis and node-redis adapters of a single Redis have it): use l2.invalidation 'bus'.",
    )
  }
  const tierOptions = { timeoutMs: options.timeoutMs, batchSize: options.batchSize, connection }
  if (adapter instanceof ClusterAdapter) return ClusterTier.open(adapter, tierOptions)
  return new RedisTier(adapter, tierOptions)
}

function openAdapter(
  l2: L2Options,
  source: L2Options['redis'],
  clientOptions: {
    commandTimeoutMs: number
    connectTimeoutMs: number
    maxQueuedCommands: number
    onError: (error: unknown) => void
    onReady: () => void
    tracking: boolean
  },
): RedisAdapter {
  let adapter: RedisAdapter
  if (typeof source === 'string') {
    adapter =
      (l2.client ?? defaultRedisClient()) === 'ioredis'
        ? new IoRedisAdapter(source, clientOptions)
        : new NodeRedisAdapter(source, clientOptions)
  } else if (isClusterUrls(source)) {
    const nodes = parseClusterUrls(source)
    adapter =
      (l2.client ?? defaultRedisClient()) === 'ioredis'
        ? new IoRedisClusterAdapter(nodes, clientOptions)
        : new NodeRedisClusterAdapter(nodes, clientOptions)
  } else if (isAdapter(source)) {
    adapter = source
  } else if (isIoRedisCluster(source)) {
    adapter = new IoRedisClusterAdapter(source, clientOptions)
  } else if (isNodeRedisCluster(source)) {
    adapter = new NodeRedisClusterAdapter(source, clientOptions)
  } else if (typeof (source as IoRedisClientLike | undefined)?.getBuffer === 'function') {
    adapter = new IoRedisAdapter(source as IoRedisClientLike, clientOptions)
  } else if (typeof (source as NodeRedisClientLike | undefined)?.withTypeMapping === 'function') {
    adapter = new NodeRedisAdapter(source as NodeRedisClientLike, clientOptions)
  } else {
    throw new InvalidOptionError(
      'l2.redis must be a redis:// URL, { cluster: [redis:// URLs] }, a `redis` or `ioredis` client or cluster, or a RedisAdapter.',
    )
  }
  return adapter
}

const TLS_FIELDS = new Set(['ca', 'cert', 'key', 'servername'])

/**
 * Validates `l2.tls`: only for connections opened from `rediss://` URLs, and only fields that say
 * what to trust — there is no way to turn certificate verification off here (pass your own
 * client if you must).
 */
export function resolveTls(tls: unknown, source: L2Options['redis']): TlsOptions | undefined {
  if (tls === undefined) return undefined
  if (typeof tls !== 'object' || tls === null || Array.isArray(tls)) {
    throw new InvalidOptionError("l2.tls must be an object like { ca: readFileSync('ca.pem') }.")
  }
  const unknown = Object.keys(tls).filter((k) => !TLS_FIELDS.has(k))
  if (unknown.length > 0) {
    throw new InvalidOptionError(
      `l2.tls takes only ca, cert, key and servername; got ${unknown.map((k) => `\`${k}\``).join(', ')}. Certificate verification cannot be turned off: give the CA that signed the server's certificate.`,
    )
  }
  const urls = typeof source === 'string' ? [source] : isClusterUrls(source) ? [...source.cluster] : undefined
  if (urls === undefined) {
    throw new InvalidOptionError(
      'l2.tls applies to connections opened from rediss:// URLs; configure TLS on the client you pass in instead.',
    )
  }
  if (urls.some((url) => typeof url !== 'string' || !url.startsWith('rediss://'))) {
    throw new InvalidOptionError('l2.tls needs rediss:// URLs (redis:// is plaintext).')
  }
  return tls as TlsOptions
}

function isAdapter(value: unknown): value is RedisAdapter {
  const v = value as Partial<RedisAdapter> | undefined
  return typeof v?.mget === 'function' && typeof v.scan === 'function' && typeof v.setMany === 'function'
}

/** An ioredis `Cluster` (checked before clients: it has their methods too). */
function isIoRedisCluster(value: unknown): value is IoRedisClusterLike {
  const v = value as Partial<IoRedisClusterLike> | undefined
  return v?.isCluster === true && typeof v.nodes === 'function' && typeof v.getBuffer === 'function'
}

/** A node-redis cluster (`createCluster`): a client would have no `nodeClient`. */
function isNodeRedisCluster(value: unknown): value is NodeRedisClusterLike {
  const v = value as Partial<NodeRedisClusterLike> | undefined
  return typeof v?.nodeClient === 'function' && typeof v.withTypeMapping === 'function'
}
