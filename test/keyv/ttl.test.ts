/**
 * The Keyv adapter's TTLs: a NaN ttl (e.g. `Number(process.env.TTL)` with the variable unset, or
 * `expiresAt - Date.now()` with no expiresAt) fails every comparison, and used to fall through to
 * "no expiry": the key was cached for good. It is refused now, with E_INVALID_OPTION, storing
 * nothing; Keyv reports it as it reports any store error. Numbers keep their meaning.
 */
import Keyv from 'keyv'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/index.js'
import { KeyvStratacache, sharedKeyvOptions } from '../../src/keyv/index.js'
import { manualClock } from '../helpers/clock.js'

describe('KeyvStratacache set: the ttl', () => {
  let cache: Cache | undefined
  afterEach(async () => {
    await cache?.close()
    cache = undefined
  })

  it('refuses a NaN ttl with E_INVALID_OPTION and stores nothing (it used to store the key with no expiry)', async () => {
    const clock = manualClock()
    cache = createCache({ clock })
    const store = new KeyvStratacache(cache)
    await expect(store.set('token', 'envelope', Number.NaN)).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringMatching(/ttl must be a number of milliseconds.*got NaN/),
    })
    expect(await cache.has('token')).toBe(false)
    await expect(store.setMany([{ key: 'many', value: 'envelope', ttl: Number.NaN }])).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
    expect(await cache.has('many')).toBe(false)
  })

  it('refuses a ttl that is not a number (a string from a JavaScript caller, which also meant no expiry)', async () => {
    cache = createCache()
    const store = new KeyvStratacache(cache)
    await expect(store.set('k', 'v', '1h' as unknown as number)).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringContaining('got "1h"'),
    })
    expect(await cache.has('k')).toBe(false)
  })

  it('through Keyv: a NaN ttl stores nothing; Keyv answers false, or rejects with throwOnErrors', async () => {
    cache = createCache()
    const keyv = new Keyv(sharedKeyvOptions(cache))
    expect(await keyv.set('a', 1, Number.NaN)).toBe(false)
    expect(await cache.has('a')).toBe(false)
    const strict = new Keyv({ ...sharedKeyvOptions(cache), throwOnErrors: true })
    await expect(strict.set('b', 2, Number.NaN)).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    expect(await cache.has('b')).toBe(false)
  })

  it('keeps the meaning of numbers: a positive ttl expires, none or 0 never does, a negative one deletes', async () => {
    const clock = manualClock()
    cache = createCache({ clock })
    const store = new KeyvStratacache(cache)
    await store.set('short', 'v', 1000)
    await store.set('none', 'v')
    await store.set('zero', 'v', 0)
    await store.set('forever', 'v', Number.POSITIVE_INFINITY)
    clock.advance(60_000)
    expect(await cache.has('short')).toBe(false)
    expect(await cache.has('none')).toBe(true)
    expect(await cache.has('zero')).toBe(true)
    expect(await cache.has('forever')).toBe(true)
    await store.set('none', 'v', -1)
    expect(await cache.has('none')).toBe(false)
  })
})
