import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()
const LARGE = 'x'.repeat(100_000)

describe.each(CLIENTS)('L2 compression (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (namespace: string, l2: { compressAbove?: number } = {}, options: CacheOptions = {}) =>
    track(createCache({ ...options, namespace, l2: { redis: server().url, client, ...l2 } }))

  it('a large compressible value with compressAbove 1024 is stored under 10 KB in Redis and reads back equal', async () => {
    const namespace = uniqueNamespace('gzip')
    const writer = open(namespace, { compressAbove: 1024 })
    await writer.set('big', LARGE)
    const size = (await server().command('STRLEN', `${namespace}:v1:big`)) as number
    expect(size).toBeGreaterThan(0)
    expect(size).toBeLessThan(10 * 1024)

    // Read back from Redis (not the writer's L1), by an instance with and one without the option.
    const reader = open(namespace, { compressAbove: 1024 })
    expect(await reader.get('big')).toBe(LARGE)
    expect(reader.stats().l2Hits).toBe(1)
    const plainReader = open(namespace)
    expect(await plainReader.get('big')).toBe(LARGE)
    expect(plainReader.stats()).toMatchObject({ l2Hits: 1, decodeErrors: 0 })
  })

  it('without compressAbove the same value is stored uncompressed', async () => {
    const namespace = uniqueNamespace('plain')
    const writer = open(namespace)
    await writer.set('big', LARGE)
    const size = (await server().command('STRLEN', `${namespace}:v1:big`)) as number
    expect(size).toBeGreaterThan(100_000)
  })

  it('values below compressAbove are stored uncompressed', async () => {
    const namespace = uniqueNamespace('small')
    const writer = open(namespace, { compressAbove: 1024 })
    const small = 'y'.repeat(500)
    await writer.set('small', small)
    const size = (await server().command('STRLEN', `${namespace}:v1:small`)) as number
    expect(size).toBeGreaterThan(500)
    const reader = open(namespace, { compressAbove: 1024 })
    expect(await reader.get('small')).toBe(small)
  })
})
