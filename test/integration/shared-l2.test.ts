import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach, idSchema } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

describe.each(CLIENTS)('instances sharing one Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (options: CacheOptions) =>
    track(createCache({ jitter: 0, ...options, l2: { redis: server().url, client } }))

  it("second instance's first read is an L2 hit, backfilled into its L1 so its second read is an L1 hit", async () => {
    const namespace = uniqueNamespace('shared')
    const a = open({ namespace })
    const b = open({ namespace })
    await a.getOrSet({ key: 'product:1', factory: () => ({ id: 1, name: 'lamp' }) })
    expect(a.stats().factoryCalls).toBe(1)

    let bCalls = 0
    const factory = () => {
      bCalls++
      return { id: 1, name: 'from b' }
    }
    expect(b.peek('product:1')).toBeUndefined()
    const first = await b.getOrSet({ key: 'product:1', factory })
    expect(first).toEqual({ id: 1, name: 'lamp' })
    expect(b.stats()).toMatchObject({ l2Hits: 1, l1Hits: 0, factoryCalls: 0, misses: 0 })
    expect(b.peek('product:1')).toEqual({ id: 1, name: 'lamp' })

    const second = await b.getOrSet({ key: 'product:1', factory })
    expect(second).toEqual({ id: 1, name: 'lamp' })
    expect(b.stats()).toMatchObject({ l2Hits: 1, factoryCalls: 0 })
    expect(b.stats().l1Hits).toBeGreaterThanOrEqual(1)
    expect(bCalls).toBe(0)
  })

  it('a value written by one instance and failing the reader’s schema is a miss: the factory runs and schemaFailures is 1', async () => {
    const namespace = uniqueNamespace('schema')
    const writer = open({ namespace })
    const reader = open({ namespace })
    await writer.set('user:x', { id: 'x' })

    let calls = 0
    const value = await reader.getOrSet({
      key: 'user:x',
      schema: idSchema,
      factory: () => {
        calls++
        return { id: 7 }
      },
    })
    expect(value).toEqual({ id: 7 })
    expect(calls).toBe(1)
    expect(reader.stats().schemaFailures).toBe(1)
    expect(reader.stats().l2Hits).toBe(0)

    // The factory's valid value replaced the bad one in Redis: a third instance accepts it.
    const third = open({ namespace })
    expect(await third.get('user:x', { schema: idSchema })).toEqual({ id: 7 })
    expect(third.stats()).toMatchObject({ l2Hits: 1, schemaFailures: 0 })
  })

  it('a value that passes the schema is an L2 hit with no schema failure', async () => {
    const namespace = uniqueNamespace('schema-ok')
    const writer = open({ namespace })
    const reader = open({ namespace })
    await writer.set('user:1', { id: 1 })
    let calls = 0
    const value = await reader.getOrSet({
      key: 'user:1',
      schema: idSchema,
      factory: () => {
        calls++
        return { id: 2 }
      },
    })
    expect(value).toEqual({ id: 1 })
    expect(calls).toBe(0)
    expect(reader.stats()).toMatchObject({ l2Hits: 1, schemaFailures: 0 })
  })

  it('a version bump makes old entries unreachable: written under v1, read under v2 is a miss', async () => {
    const namespace = uniqueNamespace('version')
    const v1 = open({ namespace, version: 'v1' })
    const v2 = open({ namespace, version: 'v2' })
    await v1.set('config', { theme: 'old' })
    expect(await server().command('EXISTS', `${namespace}:v1:config`)).toBe(1)

    expect(await v2.get('config')).toBeUndefined()
    let calls = 0
    const value = await v2.getOrSet({
      key: 'config',
      factory: () => {
        calls++
        return { theme: 'new' }
      },
    })
    expect(value).toEqual({ theme: 'new' })
    expect(calls).toBe(1)
    expect(v2.stats().l2Hits).toBe(0)
    // Both versions now live side by side; v1 readers still see theirs.
    expect(await server().command('EXISTS', `${namespace}:v1:config`, `${namespace}:v2:config`)).toBe(2)
    const otherV1 = open({ namespace, version: 'v1' })
    expect(await otherV1.get('config')).toEqual({ theme: 'old' })
  })
})
