import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache, key } from '../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

describe.each(CLIENTS)('namespaces and key escaping in a real Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (options: CacheOptions) =>
    track(createCache({ jitter: 0, ...options, l2: { redis: server().url, client } }))

  it('clear() removes every key of its namespace (all versions) and nothing else', async () => {
    const namespace = uniqueNamespace('clr')
    const other = uniqueNamespace('other')
    const cache = open({ namespace })
    const oldVersion = open({ namespace, version: 'v0' })
    for (let i = 0; i < 50; i++) await cache.set(`k${i}`, i)
    await oldVersion.set('legacy', 'old')
    // Neighbours: another namespace, a namespace our name is a prefix of, and plain keys.
    const foreign = [
      `${other}:v1:k`,
      `${namespace}0:v1:k`,
      `${namespace}-x:v1:k`,
      `foreign-${namespace}`,
      namespace,
    ]
    for (const k of foreign) await server().command('SET', k, 'keep me')
    const otherCache = open({ namespace: other })
    await otherCache.set('mine', 'still here')
    expect(await server().scan(`${namespace}:*`)).toHaveLength(51)

    await cache.clear()

    expect(await server().scan(`${namespace}:*`)).toEqual([])
    for (const k of foreign) expect(await server().command('GET', k)).toBe('keep me')
    expect(await server().command('EXISTS', `${other}:v1:mine`)).toBe(1)
    expect(cache.peek('k1')).toBeUndefined()
    expect(await cache.get('k1')).toBeUndefined()
    // The other namespace's instance is unaffected, in Redis as in its L1.
    const freshOther = open({ namespace: other })
    expect(await freshOther.get('mine')).toBe('still here')
  })

  it("keys built with key('user', 'u*') and key('user', 'u1') are distinct: deleting one never affects the other", async () => {
    const namespace = uniqueNamespace('glob')
    const cache = open({ namespace })
    const star = key('user', 'u*')
    const one = key('user', 'u1')
    expect(star).not.toBe(one)
    await cache.set(star, 'star')
    await cache.set(one, 'one')
    expect(await server().scan(`${namespace}:*`)).toEqual(
      [`${namespace}:v1:${star}`, `${namespace}:v1:${one}`].sort(),
    )

    await cache.delete(star)
    expect(await server().command('EXISTS', `${namespace}:v1:${one}`)).toBe(1)
    // A deleted key holds a short-lived tombstone (the lease check), never the value.
    expect(await server().command('GET', `${namespace}:v1:${star}`)).toMatch(/^!del:/)
    const reader = open({ namespace })
    expect(await reader.get(one)).toBe('one')
    expect(await reader.get(star)).toBeUndefined()

    await cache.set(star, 'star again')
    await cache.delete(one)
    expect(await server().command('GET', `${namespace}:v1:${one}`)).toMatch(/^!del:/)
    const reader2 = open({ namespace })
    expect(await reader2.get(star)).toBe('star again')
  })

  it('raw keys containing * ? [ ] \\ round-trip as distinct literal keys in Redis', async () => {
    const namespace = uniqueNamespace('literal')
    const cache = open({ namespace })
    const keys = ['u*', 'u?', 'u[1]', 'u[a-z]', 'u\\', 'u\\*', 'u1', 'ua', '*', '?']
    for (const [i, k] of keys.entries()) await cache.set(k, i)
    const stored = await server().scan(`${namespace}:*`)
    expect(stored).toEqual(keys.map((k) => `${namespace}:v1:${k}`).sort())

    const reader = open({ namespace })
    for (const [i, k] of keys.entries()) expect(await reader.get(k)).toBe(i)
    expect(reader.stats().l2Hits).toBe(keys.length)

    // Deleting the glob-looking key removes only that literal key (leaving its tombstone).
    await cache.deleteMany(['u*', '*', 'u[1]'])
    const left = []
    for (const k of await server().scan(`${namespace}:*`)) {
      if (!String(await server().command('GET', k)).startsWith('!del:')) left.push(k)
    }
    expect(left).toEqual(
      keys
        .filter((k) => !['u*', '*', 'u[1]'].includes(k))
        .map((k) => `${namespace}:v1:${k}`)
        .sort(),
    )
    const reader2 = open({ namespace })
    expect(await reader2.getMany(keys)).toEqual(
      keys.map((k, i) => (['u*', '*', 'u[1]'].includes(k) ? undefined : i)),
    )
  })
})
