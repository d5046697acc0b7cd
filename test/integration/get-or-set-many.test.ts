import { describe, expect, it } from 'vitest'
import { createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach, countingTier } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

describe.each(CLIENTS)('getOrSetMany over a real Redis L2 (client %s)', (client) => {
  const track = closeAfterEach()

  it('100 keys with 30 in L1 and 30 only in L2 cost one L2 read and one factory call with exactly the 40 missing keys', async () => {
    const namespace = uniqueNamespace('many')
    const counted = countingTier(client, server().url)
    const reader = track(createCache({ namespace, jitter: 0, l2: { tier: counted.tier } }))
    const writer = track(createCache({ namespace, jitter: 0, l2: { redis: server().url, client } }))

    const keys = Array.from({ length: 100 }, (_, i) => `item:${i}`)
    const inL1 = keys.slice(0, 30)
    const onlyInL2 = keys.slice(30, 60)
    const missing = keys.slice(60)
    for (const key of inL1) await reader.set(key, { key, from: 'l1' })
    for (const key of onlyInL2) await writer.set(key, { key, from: 'l2' })
    for (const key of inL1) expect(reader.peek(key)).toEqual({ key, from: 'l1' })
    for (const key of onlyInL2) expect(reader.peek(key)).toBeUndefined()
    counted.reset()

    const factoryCalls: string[][] = []
    const result = await reader.getOrSetMany({
      keys,
      factory: async (keysToLoad) => {
        factoryCalls.push(keysToLoad)
        return new Map(keysToLoad.map((key) => [key, { key, from: 'factory' }]))
      },
    })

    // One MGET for the 70 keys L1 lacked, no single GETs.
    expect(counted.calls.get).toEqual([])
    expect(counted.calls.mget).toHaveLength(1)
    expect([...(counted.calls.mget[0] ?? [])].sort()).toEqual(
      [...onlyInL2, ...missing].map((k) => `${namespace}:v1:${k}`).sort(),
    )
    // One factory call with exactly the 40 keys found in neither tier.
    expect(factoryCalls).toHaveLength(1)
    expect([...(factoryCalls[0] ?? [])].sort()).toEqual([...missing].sort())

    expect(result.size).toBe(100)
    for (const key of inL1) expect(result.get(key)).toEqual({ key, from: 'l1' })
    for (const key of onlyInL2) expect(result.get(key)).toEqual({ key, from: 'l2' })
    for (const key of missing) expect(result.get(key)).toEqual({ key, from: 'factory' })

    const stats = reader.stats()
    expect(stats.l1Hits).toBe(30)
    expect(stats.l2Hits).toBe(30)
    expect(stats.factoryCalls).toBe(1)
    expect(stats.inFlight).toBe(0)
    // L2 hits were backfilled into the L1; loaded values were written to Redis.
    for (const key of onlyInL2) expect(reader.peek(key)).toEqual({ key, from: 'l2' })
    const stored = (await server().command('EXISTS', ...missing.map((k) => `${namespace}:v1:${k}`))) as number
    expect(stored).toBe(40)
  })
})
