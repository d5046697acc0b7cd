import type { Redis } from 'ioredis'
import { createClient } from 'redis'
import { describe, expectTypeOf, it } from 'vitest'
import { type CacheOptions, createCache } from '../../dist/index.js'

describe('option types', () => {
  it('accept real node-redis and ioredis clients as l2.redis', () => {
    // Type-level only: the clients are never connected.
    type Redisish = NonNullable<Exclude<CacheOptions['l2'], false | undefined>['redis']>
    expectTypeOf(createClient({ url: 'redis://127.0.0.1:1' })).toExtend<Redisish>()
    expectTypeOf<Redis>().toExtend<Redisish>()
    expectTypeOf(createCache).returns.toHaveProperty('getOrSet')
  })
})
