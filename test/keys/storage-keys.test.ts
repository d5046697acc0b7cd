import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache, key, shortenKey } from '../../dist/index.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

const open: Cache[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

/** A cache with no L1: every read is the Redis entry of the key, as another instance would see it. */
function cache(namespace: string): Cache {
  const c = createCache({ namespace, l1: false, l2: { redis: server().url } })
  open.push(c)
  return c
}

/** What Redis stores a key as: the UTF-8 bytes ioredis and node-redis send. */
const redisBytes = (text: string) => Buffer.from(text, 'utf8').toString('hex')

describe('distinct keys are distinct Redis keys (S3, S5)', () => {
  it('keys that differ only in a lone surrogate are different entries in Redis', async () => {
    const c = cache(uniqueNamespace('surrogate'))
    await c.set('user:\uD800', 'first')
    // Both are sent to Redis as the UTF-8 of U+FFFD unless the storage key tells them apart.
    expect(await c.get('user:\uDC00')).toBeUndefined()
    expect(await c.get('user:\uFFFD')).toBeUndefined()
    expect(await c.get('user:\uD800')).toBe('first')
  })

  it('a short key cannot forge the hashed storage key of a long one', async () => {
    const namespace = uniqueNamespace('forge')
    const c = cache(namespace)
    const longKey = `search:${'q'.repeat(400)}`
    await c.set(longKey, 'victim results')
    // Everybody can compute the hashed form: SHA-256 has no secret.
    const prefix = `${namespace}:v1:`
    const forged = shortenKey(prefix + longKey).slice(prefix.length)
    expect(forged).not.toBe(longKey)
    expect(await c.get(forged)).toBeUndefined()
    await c.set(forged, 'attacker results')
    expect(await c.get(longKey)).toBe('victim results')
  })

  it('a tag cannot forge the hashed marker of a long tag', async () => {
    const namespace = uniqueNamespace('forgetag')
    const c = cache(namespace)
    const longTag = `org:${'t'.repeat(400)}`
    await c.set('k', 'tagged', { tags: [longTag] })
    const forgedTag = shortenKey(`!tag:${namespace}:${longTag}`).slice(`!tag:${namespace}:`.length)
    await c.invalidateTags([forgedTag])
    expect(await c.get('k')).toBe('tagged')
  })

  it('shortenKey: distinct texts give distinct Redis key bytes (lone surrogates and "%#" included)', () => {
    const unit = fc.constantFrom('a', ':', '%', '#', '%#', '\uD800', '\uDC00', '\uFFFD', '😀', '\uD83D')
    const text = fc.array(unit, { minLength: 1, maxLength: 12 }).map((units) => units.join(''))
    fc.assert(
      fc.property(text, text, fc.constantFrom(64, 250), (a, b, maxBytes) => {
        fc.pre(a !== b)
        expect(redisBytes(shortenKey(a, maxBytes))).not.toBe(redisBytes(shortenKey(b, maxBytes)))
      }),
      { numRuns: 5000 },
    )
  })

  it('key(): parts that differ only in a lone surrogate give different Redis key bytes, and readable ones', () => {
    expect(redisBytes(key('user', '\uD800'))).not.toBe(redisBytes(key('user', '\uDC00')))
    expect(redisBytes(key('user', '\uD800'))).not.toBe(redisBytes(key('user', '\uFFFD')))
    expect(key('user', '\uD800')).toBe('user:%ED%A0%80')
    expect(key('user', '😀')).toBe('user:😀')
  })

  it('ordinary keys keep their storage form (no rehash of what earlier releases wrote)', () => {
    expect(shortenKey('ns:v1:user:42')).toBe('ns:v1:user:42')
    expect(shortenKey('ns:v1:user:😀:é')).toBe('ns:v1:user:😀:é')
    const long = `ns:v1:${'x'.repeat(300)}`
    expect(shortenKey(long)).toMatch(/^ns:v1:x+%#[0-9a-f]{32}$/)
  })
})
