/** `stratacache/redis`: the Redis L2, its adapters and the adapter interface for your own client. */
export { pxOf, type RedisAdapter } from './adapter.js'
export { ClusterAdapter, type ClusterDriver, type PipelineCommand } from './cluster-adapter.js'
export {
  IoRedisClusterAdapter,
  type IoRedisClusterAdapterOptions,
  type IoRedisClusterLike,
} from './cluster-ioredis-adapter.js'
export {
  NodeRedisClusterAdapter,
  type NodeRedisClusterAdapterOptions,
  type NodeRedisClusterLike,
} from './cluster-node-redis-adapter.js'
export { type ClusterNodeAddress, parseClusterUrls, type RedisClusterUrls } from './cluster-options.js'
export { groupBySlot, keySlot, SLOT_COUNT } from './cluster-slot.js'
export type { SubscriberLink } from './cluster-subscriber.js'
export { type ClusterMasterState, ClusterTier } from './cluster-tier.js'
export { createRedisTier, defaultRedisClient } from './create.js'
export { IoRedisAdapter, type IoRedisClient, type IoRedisClientLike } from './ioredis-adapter.js'
export { NodeRedisAdapter, type NodeRedisClient, type NodeRedisClientLike } from './node-redis-adapter.js'
export { RedisTier, type RedisTierOptions } from './redis-tier.js'
