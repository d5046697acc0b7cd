// cache-manager 7 over stratacache/keyv, used as its README shows (createCache({ stores: [keyv] })),
// sharing keys and values with the stratacache instance underneath.
import { createCache as createCacheManager } from 'cache-manager'
import Keyv from 'keyv'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { KeyvStratacache, sharedKeyvOptions } from '../../dist/keyv/index.js'
import { uniqueNamespace } from '../helpers/redis-server.js'

describe('cache-manager 7 over stratacache/keyv', () => {
  let cache: Cache
  let manager: ReturnType<typeof createCacheManager>

  beforeEach(() => {
    cache = createCache({ namespace: uniqueNamespace('cache-manager') })
    manager = createCacheManager({ stores: [new Keyv(sharedKeyvOptions(cache))] })
  })
  afterEach(async () => {
    await cache.close()
  })

  it('get/set/del: a set value is read back, then gone after del', async () => {
    expect(await manager.set('user:1', { name: 'Ada' })).toEqual({ name: 'Ada' })
    expect(await manager.get('user:1')).toEqual({ name: 'Ada' })
    expect(await manager.del('user:1')).toBe(true)
    expect(await manager.get('user:1')).toBeUndefined()
  })

  it('a value set through cache-manager is read by cache.get, and one set by cache.set by cache-manager', async () => {
    await manager.set('user:2', { name: 'Grace' })
    expect(await cache.get('user:2')).toEqual({ name: 'Grace' })
    await cache.set('user:3', { name: 'Barbara' })
    expect(await manager.get('user:3')).toEqual({ name: 'Barbara' })
  })

  it("set's ttl (ms) becomes the entry's TTL in the stratacache instance", async () => {
    await manager.set('short', 'soon gone', 60_000)
    const entry = await cache.get('short')
    expect(entry).toBe('soon gone')
    expect(await manager.ttl('short')).toBeUndefined() // the expiry lives in the cache, not in Keyv's envelope
  })

  it('wrap: computes once, then serves the cached value without calling the function again', async () => {
    let calls = 0
    const load = async () => {
      calls++
      return { computed: calls }
    }
    expect(await manager.wrap('wrapped', load)).toEqual({ computed: 1 })
    expect(await manager.wrap('wrapped', load)).toEqual({ computed: 1 })
    expect(calls).toBe(1)
    expect(await cache.get('wrapped')).toEqual({ computed: 1 })
  })

  it('a negative ttl (already expired, e.g. a token past its expiry) is not stored: Keyv would never read it back', async () => {
    await cache.set('token', 'previous')
    // ttl = token.expiresAt - Date.now(), for a token that has already expired.
    await manager.set('token', 'expired token', -1000)
    expect(await manager.get('token')).toBeUndefined()
    expect(await cache.get('token')).toBeUndefined()
    const store = new KeyvStratacache(cache)
    expect(await store.set('raw', 'envelope', -1)).toBe(true)
    expect(await cache.has('raw')).toBe(false)
  })

  it('clear empties the stratacache instance the store is shared with', async () => {
    await cache.set('a', 1)
    await manager.set('b', 2)
    await manager.clear()
    expect(await cache.get('a')).toBeUndefined()
    expect(await cache.get('b')).toBeUndefined()
  })

  it('a Keyv built with its default serializer is refused by a shareValues store, with what to do', async () => {
    const keyv = new Keyv({ store: new KeyvStratacache(cache, { shareValues: true }), throwOnErrors: true })
    await expect(keyv.set('k', 'v')).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringContaining('sharedKeyvOptions'),
    })
  })
})

describe('KeyvStratacache options', () => {
  it('refuses something that is not a cache, and a non-boolean shareValues', () => {
    expect(() => new KeyvStratacache({} as Cache)).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
    const cache = createCache()
    expect(() => new KeyvStratacache(cache, { shareValues: 'yes' as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION' }),
    )
    return cache.close()
  })
})
