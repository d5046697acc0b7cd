/** `stratacache/redis`: the Redis L2, its adapters and the adapter interface for your own client. */
export { pxOf, type RedisAdapter } from './adapter.js'
export { createRedisTier, defaultRedisClient } from './create.js'
export { IoRedisAdapter, type IoRedisClient, type IoRedisClientLike } from './ioredis-adapter.js'
export { NodeRedisAdapter, type NodeRedisClient, type NodeRedisClientLike } from './node-redis-adapter.js'
export { RedisTier, type RedisTierOptions } from './redis-tier.js'
