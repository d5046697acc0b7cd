import { randomBytes } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache, type EncryptionOptions } from '../../src/index.js'
import { isSealed, KeyRing, sealedKeyId } from '../../src/security/keyring.js'
import { rotateKeys } from '../../src/security/rotate.js'
import { encodeEnvelope, TaggedJsonSerializer } from '../../src/serialization/index.js'
import type { RedisAdapter } from '../../src/tiers/redis/adapter.js'
import { IoRedisAdapter } from '../../src/tiers/redis/index.js'
import { useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()
const K1 = randomBytes(32)
const K2 = randomBytes(32)
const json = new TaggedJsonSerializer()
const open: Cache[] = []

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
})

function cache(namespace: string, encryption?: EncryptionOptions): Cache {
  const c = createCache({
    namespace,
    l1: false,
    ...(encryption === undefined ? {} : { encryption }),
    l2: { redis: server().url, client: 'ioredis', timeout: '5s' },
  })
  open.push(c)
  return c
}

/** What an attacker with write access to Redis plants: a well-formed plaintext envelope. */
function planted(value: unknown): Buffer {
  const now = Date.now()
  return Buffer.from(
    encodeEnvelope({ createdAt: now, expiresAt: now + 3_600_000, tags: [], payload: json.encode(value) }),
  )
}

describe('rotateKeys and plaintext entries', () => {
  it('refuses to seal plaintext for caches that require encryption: a planted entry stays a miss', async () => {
    const encryption = { keys: { k2: K2, k1: K1 }, current: 'k2' }
    const c = cache('launder', encryption)
    await server().commandBuffer('SET', 'launder:v1:session', planted({ admin: true }), 'PX', 3_600_000)
    expect(await c.get('session')).toBeUndefined()
    expect(c.stats().plaintextRefused).toBe(1)

    // The caches refuse plaintext (all: true by default): sealing it would make the forgery authentic.
    await expect(
      rotateKeys({
        l2: { redis: server().url, client: 'ioredis' },
        namespace: 'launder',
        encryption,
        encryptPlaintext: true,
      }),
    ).rejects.toMatchObject({ code: 'E_INVALID_OPTION', message: expect.stringMatching(/all: false/) })

    const stored = (await server().commandBuffer('GET', 'launder:v1:session')) as Buffer
    expect(isSealed(stored)).toBe(false)
    expect(await c.get('session')).toBeUndefined()
    expect(c.stats().plaintextRefused).toBe(2)
  })

  it('seals genuine plaintext entries when the caches still accept them (all: false), and counts them', async () => {
    const plain = cache('migrate')
    for (let i = 0; i < 5; i++) await plain.set(`k${i}`, { i })
    // Bytes that start like an envelope but are not one: never sealed (they would read as
    // "corrupt" instead of as planted plaintext, hiding the security event).
    await server().commandBuffer('SET', 'migrate:v1:junk', Buffer.from([0xc5, 2, 0, 1, 2, 3]))

    const report = await rotateKeys({
      l2: { redis: server().url, client: 'ioredis' },
      namespace: 'migrate',
      encryption: { keys: { k1: K1 }, current: 'k1', all: false },
      encryptPlaintext: true,
    })
    expect(report).toMatchObject({ scanned: 6, plaintext: 6, plaintextSealed: 5, rotated: 0, changed: 0 })
    expect(isSealed((await server().commandBuffer('GET', 'migrate:v1:junk')) as Buffer)).toBe(false)

    const strict = cache('migrate', { keys: { k1: K1 }, current: 'k1' })
    expect(await strict.getMany(['k0', 'k1', 'k2', 'k3', 'k4'])).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })))
    expect(await strict.get('junk')).toBeUndefined()
    expect(strict.stats().plaintextRefused).toBe(1)
  })
})

describe('rotateKeys report', () => {
  it('counts re-encrypted, sealed-plaintext and changed entries exactly when one script call mixes them', async () => {
    const old = KeyRing.from({ keys: { k1: K1 }, current: 'k1' })
    const now = KeyRing.from({ keys: { k2: K2, k1: K1 }, current: 'k2' })
    const envelope = planted({ v: 1 })
    await server().commandBuffer('SET', 'mix:v1:a', old.seal(envelope, 'mix:v1:a'))
    await server().commandBuffer('SET', 'mix:v1:b', old.seal(envelope, 'mix:v1:b'))
    await server().commandBuffer('SET', 'mix:v1:c', envelope)
    const rewritten = now.seal(planted({ v: 2 }), 'mix:v1:b')

    // A cache writes b between the rotation's MGET and its compare-and-swap.
    const adapter = new IoRedisAdapter(server().url, {
      commandTimeoutMs: 5000,
      connectTimeoutMs: 2000,
      onError: () => {},
    })
    const racing = new Proxy(adapter, {
      get(target, property) {
        if (property === 'mget') {
          return async (keys: string[]) => {
            const values = await target.mget(keys)
            await server().commandBuffer('SET', 'mix:v1:b', rewritten)
            return values
          }
        }
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    }) as RedisAdapter
    const report = await rotateKeys({
      l2: { redis: racing },
      namespace: 'mix',
      encryption: { keys: { k2: K2, k1: K1 }, current: 'k2', all: false },
      encryptPlaintext: true,
    })
    expect(report).toMatchObject({ scanned: 3, rotated: 1, plaintext: 1, plaintextSealed: 1, changed: 1 })
    expect(sealedKeyId((await server().commandBuffer('GET', 'mix:v1:a')) as Buffer)).toBe('k2')
    expect(((await server().commandBuffer('GET', 'mix:v1:b')) as Buffer).equals(rewritten)).toBe(true)
    expect(sealedKeyId((await server().commandBuffer('GET', 'mix:v1:c')) as Buffer)).toBe('k2')
  })
})

describe('rotateKeys options', () => {
  it('refuses an unknown option before any I/O, naming the nearest one (a typo must not fall back silently)', async () => {
    await expect(
      rotateKeys({
        l2: { redis: server().url, client: 'ioredis' },
        namespace: 'typo',
        encryption: { keys: { k1: K1 }, current: 'k1' },
        encryptPlainText: true,
      } as never),
    ).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringMatching(/`encryptPlainText`: did you mean `encryptPlaintext`/),
    })
  })

  it('refuses an unknown encryption option without quoting a name shaped like a key', async () => {
    const hex = randomBytes(32).toString('hex')
    const rejection = rotateKeys({
      l2: { redis: server().url, client: 'ioredis' },
      namespace: 'typo',
      encryption: { keys: { k1: K1 }, current: 'k1', [hex]: 'k2' } as never,
    })
    await expect(rejection).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    const message = await rejection.catch((error: Error) => error.message)
    expect(message).not.toContain(hex)
    expect(message).toMatch(/encryption takes keys, current, all/)
  })

  it.each([
    ['missing', undefined],
    ['a bare URL', 'redis://:hunter2@127.0.0.1'],
  ])('says what l2 must be when it is %s (a typed error, not a TypeError)', async (_, l2) => {
    await expect(
      rotateKeys({ l2, namespace: 'x', encryption: { keys: { k1: K1 }, current: 'k1' } } as never),
    ).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      // Never the URL: it may hold a password.
      message: expect.stringMatching(
        /^rotateKeys: l2 must be an object like \{ redis: .*; got (undefined|string)\.$/,
      ),
    })
  })
})
