import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type Cache,
  type CacheOptions,
  createCache,
  InvalidKeyError,
  InvalidOptionError,
  KeyTooLongError,
  MemoryRemoteTier,
  TooManyTagsError,
  ValueTooLargeError,
} from '../../dist/index.js'
import { BusCodec } from '../../dist/invalidation/messages.js'
import { SEALED_MAGIC, sealedKeyId } from '../../dist/security/keyring.js'
import { encodeEnvelope, TaggedJsonSerializer } from '../../dist/serialization/index.js'

const K1 = randomBytes(32)
const K2 = randomBytes(32)
const SECRET = 'the bus secret shared by every instance!'

const open: Cache[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close()))
  expect(({} as { isAdmin?: unknown }).isAdmin).toBeUndefined()
})

function cache(tier: MemoryRemoteTier, options: CacheOptions = {}): Cache {
  const c = createCache({ namespace: 'sec', l1: false, l2: { tier }, ...options })
  open.push(c)
  return c
}

const ring = (current: 'k1' | 'k2' = 'k1', keys: Record<string, Uint8Array> = { k1: K1 }) => ({
  encryption: { keys, current },
})

async function raw(tier: MemoryRemoteTier, key: string): Promise<Buffer> {
  const bytes = await tier.get(key)
  if (bytes === undefined) throw new Error(`nothing stored under ${key}`)
  return Buffer.from(bytes)
}

describe('encryption at rest (S8, S9): every refused entry is a miss plus a security event, never the wrong value', () => {
  it('stores sealed bytes: no plaintext, no tags, no timestamps readable in Redis', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, ring())
    await c.set('user:1', { email: 'alice@example.com' }, { tags: ['org:acme'] })
    const bytes = await raw(tier, 'sec:v1:user:1')
    expect(bytes[0]).toBe(SEALED_MAGIC)
    expect(sealedKeyId(bytes)).toBe('k1')
    expect(bytes.toString('latin1')).not.toContain('alice')
    expect(bytes.toString('latin1')).not.toContain('acme')
    expect(await c.get('user:1')).toEqual({ email: 'alice@example.com' })
    expect(c.stats().securityEvents).toBe(0)
  })

  it('a value copied from one key to another reads as a miss (integrity)', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, ring())
    await c.set('session:alice', { user: 'alice', admin: true })
    await c.set('session:mallory', { user: 'mallory', admin: false })
    await tier.set('sec:v1:session:mallory', await raw(tier, 'sec:v1:session:alice'), 60_000)
    let calls = 0
    const value = await c.getOrSet({
      key: 'session:mallory',
      factory: () => ({ user: 'mallory', fresh: ++calls }),
    })
    expect(value).toEqual({ user: 'mallory', fresh: 1 })
    expect(c.stats()).toMatchObject({ integrityFailures: 1, securityEvents: 1 })
  })

  it('one flipped byte anywhere reads as a miss', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, ring())
    await c.set('k', 'secret value')
    const sealed = await raw(tier, 'sec:v1:k')
    for (let at = 0; at < sealed.length; at++) {
      const tampered = Buffer.from(sealed)
      tampered[at] = (tampered[at] as number) ^ 0x04
      await tier.set('sec:v1:k', tampered, 60_000)
      expect(await c.get('k'), `byte ${at}`).toBeUndefined()
    }
    expect(c.stats().securityEvents).toBe(sealed.length)
    expect(c.stats().l2Hits).toBe(0)
  })

  it('a removed key id (the entry stripped of it) and a relabelled key id read as misses', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, { encryption: { keys: { k1: K1, k2: K2 }, current: 'k1' } })
    await c.set('k', 'v')
    const sealed = await raw(tier, 'sec:v1:k')
    // Key id length 0 and the id bytes cut out.
    const stripped = Buffer.concat([sealed.subarray(0, 2), Buffer.from([0]), sealed.subarray(5)])
    await tier.set('sec:v1:k', stripped, 60_000)
    expect(await c.get('k')).toBeUndefined()
    const relabelled = Buffer.from(sealed)
    relabelled.write('k2', 3, 'latin1')
    await tier.set('sec:v1:k', relabelled, 60_000)
    expect(await c.get('k')).toBeUndefined()
    expect(c.stats()).toMatchObject({ malformedEntries: 1, integrityFailures: 1, securityEvents: 2 })
  })

  it('after rotation, entries under the old key still read; once the old key is removed, they are misses (unknown key)', async () => {
    const tier = new MemoryRemoteTier()
    const before = cache(tier, ring('k1'))
    await before.set('old', 'written with k1')
    const during = cache(tier, ring('k2', { k2: K2, k1: K1 }))
    expect(await during.get('old')).toBe('written with k1')
    await during.set('new', 'written with k2')
    expect(sealedKeyId(await raw(tier, 'sec:v1:new'))).toBe('k2')
    const after = cache(tier, ring('k2', { k2: K2 }))
    expect(await after.get('new')).toBe('written with k2')
    expect(await after.get('old')).toBeUndefined()
    expect(after.stats()).toMatchObject({ unknownKeyIds: 1, securityEvents: 1 })
  })

  it('a plaintext value planted where encryption is required reads as a miss (plaintextRefused)', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, ring())
    const planted = encodeEnvelope({
      createdAt: Date.now(),
      expiresAt: Date.now() + 60_000,
      tags: [],
      payload: new TaggedJsonSerializer().encode({ admin: true }),
    })
    await tier.set('sec:v1:session:x', planted, 60_000)
    expect(await c.get('session:x')).toBeUndefined()
    expect(c.stats()).toMatchObject({ plaintextRefused: 1, securityEvents: 1 })
  })

  it('opt-in per entry: with all: false only entries written with encrypt: true are sealed', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, { encryption: { keys: { k1: K1 }, current: 'k1', all: false } })
    await c.set('public', 1)
    await c.set('private', 2, { encrypt: true })
    expect((await raw(tier, 'sec:v1:public'))[0]).toBe(0xc5)
    expect((await raw(tier, 'sec:v1:private'))[0]).toBe(SEALED_MAGIC)
    expect(await c.get('public')).toBe(1)
    expect(await c.get('private')).toBe(2)
    const plain = cache(new MemoryRemoteTier())
    await expect(plain.set('k', 1, { encrypt: true })).rejects.toThrow(InvalidOptionError)
  })

  it('never shows a key: inspect(cache), stats and snapshots carry ids and counts only', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, {
      encryption: { keys: { k1: K1.toString('base64') }, current: 'k1' },
      bus: { secret: SECRET },
    })
    await c.set('k', 'v')
    const shown = `${inspect(c, { showHidden: true, depth: 6 })} ${JSON.stringify(c.stats())} ${JSON.stringify(c.snapshot())}`
    expect(shown).not.toContain(K1.toString('base64'))
    expect(shown).not.toContain(K1.toString('hex'))
    expect(shown).not.toContain(SECRET)
  })
})

describe('the authenticated bus (S10)', () => {
  it('a forged clear PUBLISHed by anyone without the secret is dropped and counted; signed messages still flow', async () => {
    const tier = new MemoryRemoteTier()
    const options = { l1: { maxEntries: 100 }, bus: { secret: SECRET } }
    const a = cache(tier, options)
    const b = cache(tier, options)
    await Promise.all([a.ready(), b.ready()])
    await b.set('k', 'v1')
    expect(b.peek('k')).toBe('v1')
    // An attacker with Redis access publishes on the channel: unsigned, and with a guessed secret.
    await tier.bus.publish('!bus:sec', new BusCodec().encode({ op: 'clear', source: 'evil', at: Date.now() }))
    await tier.bus.publish(
      '!bus:sec',
      new BusCodec({ secret: 'a guessed secret that is long enough!!' }).encode({
        op: 'clear',
        source: 'evil',
        at: Date.now(),
      }),
    )
    await new Promise((resolve) => setImmediate(resolve))
    expect(b.peek('k')).toBe('v1')
    expect(b.stats()).toMatchObject({ busUnauthenticated: 2, busMessagesDropped: 2 })
    // A genuine delete from a still reaches b.
    await a.delete('k')
    await expect.poll(() => b.peek('k')).toBeUndefined()
  })

  it('without a secret, a forged change dated far ahead freezes an instance for at most bus.maxAge', async () => {
    const tier = new MemoryRemoteTier()
    let now = 1_000_000
    const b = cache(tier, { l1: { maxEntries: 100 }, clock: () => now, bus: { maxAge: '1m' } })
    await b.ready()
    await tier.bus.publish(
      '!bus:sec',
      new BusCodec().encode({ op: 'clear', source: 'evil', at: now + 365 * 86_400_000 }),
    )
    await expect.poll(() => b.stats().busMessages).toBe(1)
    now += 61_000
    await b.set('k', 'fresh')
    expect(await b.get('k')).toBe('fresh')
  })

  it('a bus.maxAge of 0 (or under a second) is refused: every other instance’s message would be dropped as expired', () => {
    // 0 reads like "no limit" (as Keyv's ttl 0), but the age check would drop every message sent
    // even a millisecond before it is read, while heartbeats still say the bus is healthy.
    for (const maxAge of [0, '0s', 50, '500ms'] as const) {
      expect(() => createCache({ namespace: 'sec', bus: { maxAge } }), String(maxAge)).toThrow(
        expect.objectContaining({ code: 'E_INVALID_OPTION', message: expect.stringContaining('bus.maxAge') }),
      )
    }
    const c = createCache({ namespace: 'sec', bus: { maxAge: '1s' } })
    open.push(c)
  })

  it('a captured genuine message replayed later is dropped', async () => {
    const tier = new MemoryRemoteTier()
    const captured: Uint8Array[] = []
    await tier.bus.subscribe(
      '!bus:sec',
      (m) => captured.push(m),
      () => {},
    )
    const a = cache(tier, { l1: { maxEntries: 100 }, bus: { secret: SECRET } })
    const b = cache(tier, { l1: { maxEntries: 100 }, bus: { secret: SECRET } })
    await Promise.all([a.ready(), b.ready()])
    await a.clear()
    await expect.poll(() => captured.length).toBe(1)
    await b.set('k', 'kept')
    await tier.bus.publish('!bus:sec', captured[0] as Uint8Array)
    await new Promise((resolve) => setImmediate(resolve))
    expect(b.peek('k')).toBe('kept')
    expect(b.stats().busReplayed).toBe(1)
  })

  it('malformed and oversized messages are dropped without throwing in the subscriber', async () => {
    const tier = new MemoryRemoteTier()
    const b = cache(tier, { l1: { maxEntries: 100 } })
    await b.ready()
    await b.set('k', 'v')
    for (const bytes of [
      Buffer.from('not json'),
      Buffer.from([0xb5, 2, 1, 0]),
      Buffer.alloc((1 << 20) + 1, 0x7b),
    ]) {
      await tier.bus.publish('!bus:sec', bytes)
    }
    await new Promise((resolve) => setImmediate(resolve))
    expect(b.peek('k')).toBe('v')
    expect(b.stats()).toMatchObject({ busMessagesDropped: 3, busOversized: 1 })
  })
})

describe('tenant isolation (S14, S18)', () => {
  it('the same logical key under two tenants is two entries, in the L1 and the L2', async () => {
    const tier = new MemoryRemoteTier()
    const acme = cache(tier, { tenant: 'acme', l1: { maxEntries: 100 } })
    const globex = cache(tier, { tenant: 'globex', l1: { maxEntries: 100 } })
    await acme.set('profile', 'acme profile')
    expect(await globex.get('profile')).toBeUndefined()
    await globex.set('profile', 'globex profile')
    expect(await acme.get('profile')).toBe('acme profile')
    expect(await tier.get('sec@acme:v1:profile')).toBeDefined()
    expect(await tier.get('sec@globex:v1:profile')).toBeDefined()
  })

  it('tags, patterns and clears of one tenant leave the other untouched', async () => {
    const tier = new MemoryRemoteTier()
    const a = cache(tier, { tenant: 'a' })
    const b = cache(tier, { tenant: 'b' })
    for (const c of [a, b]) {
      await c.set('x:1', 1, { tags: ['x'] })
      await c.set('y:1', 2)
      await c.set('z:1', 3)
    }
    await a.invalidateTags(['x'])
    await a.deleteMatching('y:*')
    expect(await a.get('x:1')).toBeUndefined()
    expect(await a.get('y:1')).toBeUndefined()
    expect(await b.get('x:1')).toBe(1)
    expect(await b.get('y:1')).toBe(2)
    await a.clear()
    expect(await a.get('z:1')).toBeUndefined()
    expect(await b.get('z:1')).toBe(3)
  })

  it('a tenant id that looks like a key, a pattern or another tenant changes nothing', async () => {
    const tier = new MemoryRemoteTier()
    const tricky = cache(tier, { tenant: 'a:v1:x' })
    const a = cache(tier, { tenant: 'a' })
    const star = cache(tier, { tenant: '*' })
    const none = cache(tier)
    await a.set('k', 'a')
    await none.set('k', 'none')
    await tricky.set('k', 'tricky')
    await star.clear()
    expect([await a.get('k'), await none.get('k'), await tricky.get('k')]).toEqual(['a', 'none', 'tricky'])
  })

  it('property: for random tenant and key pairs, a value written under one is never read under the other', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.string({ minLength: 1, maxLength: 8 }),
        fc.string({ minLength: 1, maxLength: 8 }),
        async (t1, k1, t2, k2) => {
          fc.pre(t1 !== t2 || k1 !== k2)
          const tier = new MemoryRemoteTier()
          const c1 = createCache({ namespace: 'p', tenant: t1, l1: false, l2: { tier } })
          const c2 = createCache({ namespace: 'p', tenant: t2, l1: false, l2: { tier } })
          try {
            await c1.set(k1, 'one')
            expect(await c2.get(k2)).toBeUndefined()
            await c2.clear()
            expect(await c1.get(k1)).toBe(t1 === t2 ? undefined : 'one')
          } finally {
            await Promise.all([c1.close(), c2.close()])
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('negative entries (null) carry the same tenant scope as values (S18)', async () => {
    const tier = new MemoryRemoteTier()
    const a = cache(tier, { tenant: 'a' })
    const b = cache(tier, { tenant: 'b' })
    expect(await a.getOrSet({ key: 'doc:1', factory: () => null, negativeTtl: '10s' })).toBeNull()
    let calls = 0
    expect(await b.getOrSet({ key: 'doc:1', factory: () => ({ id: 1, calls: ++calls }) })).toEqual({
      id: 1,
      calls: 1,
    })
    expect(await a.get('doc:1')).toBeNull()
  })
})

describe('limits (F16, S16): refused before any I/O, with typed errors', () => {
  function counting(): { tier: MemoryRemoteTier; calls: () => number } {
    const tier = new MemoryRemoteTier()
    let calls = 0
    for (const method of ['get', 'getMany', 'set', 'setMany', 'delete'] as const) {
      const original = tier[method].bind(tier) as (...args: unknown[]) => unknown
      ;(tier as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        calls++
        return original(...args)
      }
    }
    return { tier, calls: () => calls }
  }

  it('a 1 MiB key is a KeyTooLongError on every entry point; nothing reaches the L1 or the L2', async () => {
    const { tier, calls } = counting()
    const c = cache(tier, { l1: { maxEntries: 10 } })
    const huge = 'k'.repeat(1 << 20)
    await expect(c.set(huge, 1)).rejects.toThrow(KeyTooLongError)
    await expect(c.get(huge)).rejects.toThrow(KeyTooLongError)
    await expect(c.getOrSet({ key: huge, factory: () => 1 })).rejects.toThrow(KeyTooLongError)
    await expect(c.getMany(['a', huge])).rejects.toThrow(InvalidKeyError)
    await expect(c.delete(huge)).rejects.toThrow(KeyTooLongError)
    expect(() => c.peek(huge)).toThrow(KeyTooLongError)
    expect(calls()).toBe(0)
    expect(c.stats().l1Entries).toBe(0)
  })

  it('10,000 tags on one entry are refused (TooManyTagsError), as is an oversized tag', async () => {
    const { tier, calls } = counting()
    const c = cache(tier, { l1: { maxEntries: 10 } })
    const tags = Array.from({ length: 10_000 }, (_, i) => `t${i}`)
    await expect(c.set('k', 1, { tags })).rejects.toThrow(TooManyTagsError)
    await expect(c.set('k', 1, { tags: ['x'.repeat(2000)] })).rejects.toThrow(TooManyTagsError)
    expect(calls()).toBe(0)
    expect(c.peek('k')).toBeUndefined()
    await c.set('k', 1, { tags: tags.slice(0, 100) })
    expect(c.peek('k')).toBe(1)
  })

  it('a value over maxValueBytes is a ValueTooLargeError; the L1 keeps its previous value', async () => {
    const { tier, calls } = counting()
    const c = cache(tier, { l1: { maxEntries: 10 }, maxValueBytes: 1000 })
    await c.set('k', 'small')
    const before = calls()
    await expect(c.set('k', 'x'.repeat(1001))).rejects.toThrow(ValueTooLargeError)
    expect(calls()).toBe(before)
    expect(c.peek('k')).toBe('small')
  })

  it('limits are options, validated at construction', () => {
    expect(() => createCache({ maxKeyLength: 0 })).toThrow(InvalidOptionError)
    expect(() => createCache({ maxTags: 1.5 })).toThrow(InvalidOptionError)
    expect(() => createCache({ tenant: '' })).toThrow(InvalidOptionError)
    expect(() => createCache({ bus: { secret: 'short' } })).toThrow(/at least 32 bytes/)
    const small = createCache({ maxKeyLength: 8, l2: false })
    open.push(small)
    expect(() => small.peek('123456789')).toThrow(/maxKeyLength \(8\)/)
  })

  it('20,000 attacker-chosen keys evict within the L1 bounds (S16)', async () => {
    const c = createCache({ l1: { maxEntries: 1000, maxBytes: 200_000 }, l2: false })
    open.push(c)
    for (let i = 0; i < 20_000; i++) c.set(`attacker:${i}:${'x'.repeat(i % 50)}`, i)
    const s = c.stats()
    expect(s.l1Entries).toBeLessThanOrEqual(1000)
    expect(s.l1Bytes).toBeLessThanOrEqual(200_000)
    expect(s.l1Evictions).toBeGreaterThan(18_000)
  })
})

describe('encryption options refused before anything is written', () => {
  it('encrypt: false on a cache that requires encryption (all: true) is refused: the entry would be plaintext every read refuses', async () => {
    const tier = new MemoryRemoteTier()
    const c = cache(tier, ring())
    await expect(c.set('k', 'v', { encrypt: false })).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
      message: expect.stringContaining('encrypt: false'),
    })
    expect(tier.keys()).toEqual([])
    expect(c.stats().plaintextRefused).toBe(0)
    // With all: false, encrypt: false is the default and is taken.
    const optIn = cache(tier, { encryption: { keys: { k1: K1 }, current: 'k1', all: false } })
    await optIn.set('k', 'v', { encrypt: false })
    expect(await optIn.get('k')).toBe('v')
  })

  it('a key map given one level too high (a key as an option name) is refused without printing the key', () => {
    const hex = K2.toString('hex')
    for (const name of [hex, K2.toString('base64url')]) {
      let message = ''
      try {
        createCache({ encryption: { [name]: 'k1', current: 'k1' } as never })
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidOptionError)
        message = (error as Error).message
      }
      expect(message).not.toBe('')
      expect(message).not.toContain(name)
    }
  })
})
