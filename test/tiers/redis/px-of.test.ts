/**
 * pxOf, the one place a TTL becomes Redis's PX: NaN (or anything not a number) is refused with an
 * E_INVALID_OPTION naming the operation, never read as "no expiry"; Infinity alone means no
 * expiry; a finite TTL is a whole number of ms from 1 to MAX_PX, so Redis takes it. Checked on its
 * own, then through a RedisTier over a real redis-server (both clients): a NaN TTL writes
 * nothing, and a 20-digit TTL is stored instead of refused by Redis.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { InvalidOptionError } from '../../../src/errors.js'
import { type Cache, createCache } from '../../../src/index.js'
import { MAX_PX, pxOf } from '../../../src/tiers/redis/adapter.js'
import { IoRedisAdapter } from '../../../src/tiers/redis/ioredis-adapter.js'
import { NodeRedisAdapter } from '../../../src/tiers/redis/node-redis-adapter.js'
import { RedisTier } from '../../../src/tiers/redis/redis-tier.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'

function refusal(run: () => unknown): InvalidOptionError {
  let error: unknown
  try {
    run()
  } catch (caught) {
    error = caught
  }
  expect(error).toBeInstanceOf(InvalidOptionError)
  return error as InvalidOptionError
}

describe('pxOf', () => {
  it('refuses NaN with E_INVALID_OPTION naming the operation, instead of "no expiry"', () => {
    const error = refusal(() => pxOf(Number.NaN, 'Redis SET'))
    expect(error.code).toBe('E_INVALID_OPTION')
    expect(error.message).toMatch(/^Redis SET: the TTL is NaN, not a number of milliseconds/)
    expect(error.message).toMatch(/Infinity for no expiry/)
    // Without an operation it still says what was refused.
    expect(refusal(() => pxOf(Number.NaN)).message).toMatch(/^a Redis write: the TTL is NaN/)
  })

  it('refuses what is not a number (a JavaScript caller passing a string), which was also "no expiry"', () => {
    expect(refusal(() => pxOf('5000' as unknown as number, 'lock renewal')).message).toMatch(
      /^lock renewal: the TTL is "5000"/,
    )
    refusal(() => pxOf(undefined as unknown as number))
  })

  it('answers no expiry for Infinity only; -Infinity, like any TTL ≤ 0, lives 1 ms', () => {
    expect(pxOf(Number.POSITIVE_INFINITY)).toBeUndefined()
    expect(pxOf(Number.NEGATIVE_INFINITY)).toBe(1)
    expect(pxOf(-5)).toBe(1)
    expect(pxOf(0)).toBe(1)
    expect(pxOf(-0)).toBe(1)
  })

  it('rounds a fraction up to whole milliseconds', () => {
    expect(pxOf(0.2)).toBe(1)
    expect(pxOf(1.2)).toBe(2)
    expect(pxOf(60_000)).toBe(60_000)
  })

  it('caps a finite TTL at MAX_PX (2^53 - 1), which prints as an integer; 1e22 would print as 1e+22', () => {
    expect(MAX_PX).toBe(Number.MAX_SAFE_INTEGER)
    expect(pxOf(1e22)).toBe(MAX_PX)
    expect(String(pxOf(1e22))).toMatch(/^\d+$/)
    expect(pxOf(Number.MAX_VALUE)).toBe(MAX_PX)
    expect(pxOf(MAX_PX - 1)).toBe(MAX_PX - 1)
  })
})

const server = useRedisServer()

describe.each(['redis', 'ioredis'] as const)('RedisTier TTLs over a real Redis (client %s)', (client) => {
  const tiers: RedisTier[] = []
  afterEach(async () => {
    await Promise.all(tiers.splice(0).map((t) => t.close()))
  })
  const open = () => {
    const options = {
      commandTimeoutMs: 2000,
      connectTimeoutMs: 2000,
      maxQueuedCommands: 1000,
      onError: () => {},
    }
    const adapter =
      client === 'ioredis'
        ? new IoRedisAdapter(server().url, options)
        : new NodeRedisAdapter(server().url, options)
    const tier = new RedisTier(adapter, { timeoutMs: 2000, batchSize: 100 })
    tiers.push(tier)
    return tier
  }
  const pttl = async (key: string) => Number(await server().command('PTTL', key))
  const value = Buffer.from('v')

  it('a NaN TTL rejects set, setMany, a fenced set and a marker touch, and writes no key (none kept for good)', async () => {
    const tier = open()
    const key = `${uniqueNamespace('px')}:k`
    await expect(tier.set(key, value, Number.NaN)).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringMatching(/^Redis SET: the TTL is NaN/),
    })
    await expect(tier.setMany([{ key, value, ttlMs: Number.NaN }])).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
    const store = tier.invalidation
    if (store === undefined) throw new Error('a RedisTier over a real client has an invalidation store')
    await expect(store.setLoaded(key, value, Number.NaN, Date.now(), 'set')).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringContaining('Redis SET (unless the key holds a newer value)'),
    })
    const marker = `${uniqueNamespace('px')}:marker`
    await expect(store.touchMarkers([marker], Number.NaN, Date.now())).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringContaining('tag marker touch'),
    })
    expect(await pttl(key)).toBe(-2)
    expect(await pttl(marker)).toBe(-2)
    // The tier still works after the refusals.
    await tier.set(key, value, 60_000)
    expect(await pttl(key)).toBeGreaterThan(0)
  })

  it('a NaN lock TTL rejects the acquisition, and takes no lock', async () => {
    const locks = open().locks
    if (locks === undefined) throw new Error('a RedisTier over a real client has locks')
    const key = `${uniqueNamespace('px')}:lock`
    await expect(locks.acquire(key, 'token', Number.NaN)).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringContaining('lock acquire'),
    })
    expect(await pttl(key)).toBe(-2)
  })

  it('a cache.set with a 20-digit TTL (what the HTTP layer passes for s-maxage=99999999999999999999) reaches Redis: another instance reads it', async () => {
    const namespace = uniqueNamespace('px-far')
    const open = (): Cache => createCache({ namespace, l2: { redis: server().url, client } })
    const writer = open()
    const reader = open()
    try {
      // The HTTP layer stores a response for ceil(1.25 × (s-maxage + stale windows) in ms) + 1 s.
      await writer.set('page', 'body', {
        ttl: Math.ceil(Number.parseInt('99999999999999999999', 10) * 1000 * 1.25) + 1000,
      })
      expect(writer.stats().l2Errors).toBe(0)
      expect(await reader.get('page')).toBe('body')
    } finally {
      await Promise.all([writer.close(), reader.close()])
    }
  })

  it('a 20-digit TTL is stored with an expiry far ahead, not refused by Redis as "1e+22"', async () => {
    const tier = open()
    const key = `${uniqueNamespace('px')}:far`
    await tier.set(key, value, 1e22)
    expect(await pttl(key)).toBeGreaterThan(1e15)
    const fenced = `${uniqueNamespace('px')}:fenced`
    expect(await tier.invalidation?.setLoaded(fenced, value, 1e22, Date.now(), 'set')).toBe(true)
    expect(await pttl(fenced)).toBeGreaterThan(1e15)
  })
})
