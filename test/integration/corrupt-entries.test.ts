import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache } from '../../dist/index.js'
import { decodeEnvelope, ENVELOPE_MAGIC, encodeEnvelope } from '../../dist/serialization/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

function validEnvelope(value: unknown, tags: string[] = []): Buffer {
  const now = Date.now()
  const payload = Buffer.from(`p${JSON.stringify(value)}`)
  return encodeEnvelope({ createdAt: now, expiresAt: now + 60_000, tags, payload })
}

function garbage(): Buffer {
  const bytes = randomBytes(64)
  if (bytes[0] === ENVELOPE_MAGIC) bytes[0] = 0
  return bytes
}

/** Bytes that must never be served as a value, by what is wrong with them. */
const CORRUPTIONS: [string, () => Buffer][] = [
  ['random bytes', garbage],
  ['a plain string written by another program', () => Buffer.from('hello world')],
  ['an empty value', () => Buffer.alloc(0)],
  ['a valid envelope truncated inside its header', () => validEnvelope({ a: 1 }).subarray(0, 10)],
  [
    'a valid envelope truncated inside its tags',
    () => {
      const full = validEnvelope({ a: 1 }, ['tag-one', 'tag-two'])
      return full.subarray(0, 21 + 2 + 3)
    },
  ],
  [
    'a valid envelope truncated inside its payload',
    () => {
      const full = validEnvelope({ name: 'a long enough value to cut in half' })
      return full.subarray(0, full.length - 10)
    },
  ],
  [
    'an envelope with format version 9',
    () => {
      const bytes = Buffer.from(validEnvelope({ a: 1 }))
      bytes[1] = 9
      return bytes
    },
  ],
  [
    'a valid envelope around a garbage payload',
    () => {
      const now = Date.now()
      return encodeEnvelope({ createdAt: now, expiresAt: now + 60_000, tags: [], payload: randomBytes(40) })
    },
  ],
  [
    'a valid envelope around a truncated JSON payload',
    () => {
      const now = Date.now()
      return encodeEnvelope({
        createdAt: now,
        expiresAt: now + 60_000,
        tags: [],
        payload: Buffer.from('p{"a":'),
      })
    },
  ],
  [
    'an envelope flagged gzip whose payload is not gzip',
    () => {
      const bytes = Buffer.from(validEnvelope({ a: 1 }))
      bytes[2] = 1
      return bytes
    },
  ],
]

describe.each(CLIENTS)('corrupt bytes in Redis are a miss (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (options: CacheOptions) =>
    track(createCache({ jitter: 0, ...options, l2: { redis: server().url, client } }))

  it('sanity: the valid envelope this file corrupts is read as a hit', async () => {
    const namespace = uniqueNamespace('valid')
    await server().command('SET', `${namespace}:v1:k`, validEnvelope({ a: 1 }))
    const cache = open({ namespace })
    expect(await cache.get('k')).toEqual({ a: 1 })
    expect(cache.stats()).toMatchObject({ l2Hits: 1, decodeErrors: 0 })
  })

  it.each(CORRUPTIONS)(
    '%s: get is a miss, getOrSet runs the factory and overwrites, decodeErrors counts each read',
    async (_, make) => {
      const namespace = uniqueNamespace('corrupt')
      const storageKey = `${namespace}:v1:entry`
      expect(await server().command('SET', storageKey, make())).toBe('OK')
      const cache = open({ namespace })

      expect(await cache.get('entry')).toBeUndefined()
      expect(cache.stats().decodeErrors).toBe(1)
      expect(cache.stats().l2Hits).toBe(0)

      let calls = 0
      const value = await cache.getOrSet({
        key: 'entry',
        factory: () => {
          calls++
          return { fresh: true }
        },
      })
      expect(value).toEqual({ fresh: true })
      expect(calls).toBe(1)
      expect(cache.stats().decodeErrors).toBe(2)

      // The corrupt bytes were overwritten with a valid entry another instance can read.
      const stored = (await server().commandBuffer('GET', storageKey)) as Buffer
      expect(stored[0]).toBe(ENVELOPE_MAGIC)
      expect(() => decodeEnvelope(stored)).not.toThrow()
      const reader = open({ namespace })
      expect(await reader.get('entry')).toEqual({ fresh: true })
      expect(reader.stats()).toMatchObject({ l2Hits: 1, decodeErrors: 0 })
    },
  )

  it('getMany and getOrSetMany treat corrupt entries as misses too', async () => {
    const namespace = uniqueNamespace('corrupt-many')
    const keys = CORRUPTIONS.map((_, i) => `c${i}`)
    for (const [i, [, make]] of CORRUPTIONS.entries()) {
      await server().command('SET', `${namespace}:v1:c${i}`, make())
    }
    await server().command('SET', `${namespace}:v1:good`, validEnvelope('good'))
    const cache = open({ namespace })
    expect(await cache.getMany([...keys, 'good'])).toEqual([...keys.map(() => undefined), 'good'])
    expect(cache.stats().decodeErrors).toBe(CORRUPTIONS.length)

    const reader = open({ namespace })
    let loaded: string[] = []
    const result = await reader.getOrSetMany({
      keys: [...keys, 'good'],
      factory: (missing) => {
        loaded = missing
        return new Map(missing.map((k) => [k, `loaded ${k}`]))
      },
    })
    expect([...loaded].sort()).toEqual([...keys].sort())
    expect(result.get('good')).toBe('good')
    for (const k of keys) expect(result.get(k)).toBe(`loaded ${k}`)
    expect(reader.stats().decodeErrors).toBe(CORRUPTIONS.length)
  })
})
