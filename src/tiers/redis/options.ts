import type { Duration } from '../../base/duration.js'
import type { RemoteTier } from '../tier.js'
import type { RedisAdapter } from './adapter.js'
import type { TlsOptions } from './client-modules.js'
import type { IoRedisClusterLike } from './cluster-ioredis-adapter.js'
import type { NodeRedisClusterLike } from './cluster-node-redis-adapter.js'
import type { RedisClusterUrls } from './cluster-options.js'
import type { IoRedisClientLike } from './ioredis-adapter.js'
import type { NodeRedisClientLike } from './node-redis-adapter.js'

/** Options of the shared tier. */
export interface L2Options {
  /**
   * A Redis URL (`redis://…`, `rediss://…`), a Redis Cluster as `{ cluster: [node URLs] }`, a
   * connected or unconnected client or cluster client of the `redis` package (`createClient`,
   * `createCluster`) or of `ioredis` (`Redis`, `Redis.Cluster`), a {@link RedisAdapter}, or any
   * {@link RemoteTier}. A client you pass is not closed by `cache.close()`. Cluster:
   * docs/redis.md#redis-cluster.
   */
  redis?:
    | string
    | RedisClusterUrls
    | NodeRedisClientLike
    | IoRedisClientLike
    | NodeRedisClusterLike
    | IoRedisClusterLike
    | RedisAdapter
  /** Any remote tier (e.g. `MemoryRemoteTier` in tests). Exclusive with `redis`. */
  tier?: RemoteTier
  /** Which client a URL opens. Default `'ioredis'` when installed (see docs/redis.md for the measurements), else `'redis'`. */
  client?: 'redis' | 'ioredis'
  /** Deadline of every Redis call. Default `'500ms'`. */
  timeout?: Duration
  /** Most keys per coalesced MGET. Default 100. */
  batchSize?: number
  /** Gzip L2 payloads of at least this many bytes (when it saves space). Default: off. */
  compressAbove?: number
  /**
   * Stop calling a failing L2 for a while: after `threshold` consecutive failures (default 5) the
   * cache runs L1-only for `breakDuration` (default `'5s'`), probes Redis in the background with a
   * PING, and resumes when it answers. `false` turns it off.
   */
  breaker?: false | { threshold?: number; breakDuration?: Duration }
  /**
   * What `set`/`delete` do when the L2 write fails: `'suppress'` (default) resolves — the L1 is
   * updated and the key is queued to be deleted from the L2 when it answers again, so no instance
   * reads the outdated L2 value once it is back and nothing is replayed over newer data —
   * `'throw'` rejects with E_L2 / E_L2_TIMEOUT / E_L2_UNAVAILABLE.
   */
  writeErrors?: 'suppress' | 'throw'
  /**
   * How other instances' changes reach this instance's L1 (docs/invalidation.md#modes). `'bus'`
   * (default): stratacache's own pub/sub messages. `'tracking'`: the bus, plus Redis client
   * tracking (BCAST on the namespace's key prefix), so a key changed by any client — another
   * program, `redis-cli` — leaves every L1 too. One Redis only (not a Cluster); needs the bus,
   * `client|tracking` (and with ioredis `client|list`) in the ACL, and node-redis in RESP3.
   */
  invalidation?: 'bus' | 'tracking'
  /** TLS for connections opened from `rediss://` URLs: the CA to trust (and a client certificate). Verification is always on. */
  tls?: TlsOptions
}

/** `l2` without its `redis` (URL or client): a namespace child borrows its parent's connection instead. */
export function withoutRedis(l2: L2Options): L2Options {
  const { redis: _redis, ...rest } = l2
  return rest
}
