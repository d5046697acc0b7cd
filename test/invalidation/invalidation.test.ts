import { describe, expect, it, vi } from 'vitest'
import { type CacheOptions, createCache, key, MemoryRemoteTier } from '../../dist/index.js'
import { BusCodec } from '../../dist/invalidation/messages.js'
import { deferred } from '../helpers/deferred.js'

/** Two instances sharing one in-memory L2 and its bus, as two processes share Redis. */
async function pair(extra: CacheOptions = {}) {
  const tier = new MemoryRemoteTier()
  const a = createCache({ namespace: 'inv', jitter: 0, l2: { tier }, ...extra })
  const b = createCache({ namespace: 'inv', jitter: 0, l2: { tier }, ...extra })
  await Promise.all([a.ready(), b.ready()])
  return { tier, a, b }
}

/** Lets queued bus deliveries (microtasks) run. */
const delivered = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('delete', () => {
  it('removes the key from the L2 and from the L1 of every instance', async () => {
    const { a, b } = await pair()
    await a.set('k', 'v1')
    expect(await b.get('k')).toBe('v1') // now in b's L1
    await delivered()
    const heard = b.stats().busMessages
    await a.delete('k')
    await delivered()
    expect(b.peek('k')).toBeUndefined()
    expect(await b.get('k')).toBeUndefined()
    expect(b.stats().busMessages).toBe(heard + 1)
  })

  it('ignores its own bus messages', async () => {
    const { a } = await pair()
    await a.set('k', 'v')
    await a.delete('k')
    await delivered()
    expect(a.stats().busMessages).toBe(0)
  })

  it('knows its own messages by their bytes: only the other instance decodes them (with a secret, only it checks their HMAC)', async () => {
    const { a, b } = await pair({ bus: { secret: 'a-secret-of-at-least-thirty-two-chars!' } })
    const decode = vi.spyOn(BusCodec.prototype, 'decode')
    try {
      for (let i = 0; i < 5; i++) {
        await a.set(`k${i}`, i)
        await delivered()
      }
      expect(b.stats().busMessages).toBe(5)
      expect(a.stats().busMessages).toBe(0)
      expect(decode).toHaveBeenCalledTimes(5)
    } finally {
      decode.mockRestore()
    }
  })

  it('a message that never came back does not keep the later ones from being known as its own', async () => {
    const { tier, a, b } = await pair()
    const decode = vi.spyOn(BusCodec.prototype, 'decode')
    // Sent but never delivered, with no cut the subscribers hear of (as a write batch that did
    // not send its message: every write in it was refused).
    const publish = vi.spyOn(tier.bus, 'publish').mockImplementationOnce(async () => {})
    try {
      await a.set('lost', 1)
      await delivered()
      expect(publish).toHaveBeenCalledTimes(1)
      expect(decode).toHaveBeenCalledTimes(0)
      await a.set('k', 2)
      await delivered()
      await a.set('k', 3)
      await delivered()
      expect(decode).toHaveBeenCalledTimes(2) // b's, not a's
      expect(b.stats().busMessages).toBe(2)
    } finally {
      decode.mockRestore()
      publish.mockRestore()
    }
  })
})

describe('set', () => {
  it('replaces the value in every instance: the others drop their copy and read the new one', async () => {
    const { a, b } = await pair()
    await a.set('k', 'old')
    expect(await b.get('k')).toBe('old')
    await a.set('k', 'new')
    await delivered()
    expect(b.peek('k')).toBeUndefined()
    expect(await b.get('k')).toBe('new')
  })

  it('invalidates what depends on the key it replaces', async () => {
    const { a, b } = await pair()
    await a.set('user:1', 'ada')
    await a.set('greeting:1', 'hello ada', { dependsOn: ['user:1'] })
    expect(await b.get('greeting:1')).toBe('hello ada')
    await a.set('user:1', 'grace')
    await delivered()
    expect(await a.get('greeting:1')).toBeUndefined()
    expect(await b.get('greeting:1')).toBeUndefined()
  })
})

describe('tags', () => {
  it('invalidateTags drops tagged entries in every tier and instance, and leaves the others', async () => {
    const { a, b } = await pair()
    await a.set('p1', 1, { tags: ['products', 'category:tv'] })
    await a.set('p2', 2, { tags: ['products', 'category:audio'] })
    await a.set('u1', 3, { tags: ['users'] })
    expect(await b.getMany(['p1', 'p2', 'u1'])).toEqual([1, 2, 3])
    await a.invalidateTags(['category:tv'])
    await delivered()
    expect(await b.get('p1')).toBeUndefined()
    expect(await b.get('p2')).toBe(2)
    const c = createCache({
      namespace: 'inv',
      l2: { tier: (a.l2 as unknown as { inner: MemoryRemoteTier }).inner },
    })
    expect(await c.get('p1')).toBeUndefined()
    expect(await c.get('p2')).toBe(2)
    expect(await c.get('u1')).toBe(3)
  })

  it('an entry written after the invalidation is served', async () => {
    const { a, b } = await pair()
    await a.set('p1', 'old', { tags: ['t'] })
    await a.invalidateTags(['t'])
    await a.set('p1', 'new', { tags: ['t'] })
    expect(await a.get('p1')).toBe('new')
    const c = createCache({
      namespace: 'inv',
      l2: { tier: (b.l2 as unknown as { inner: MemoryRemoteTier }).inner },
    })
    expect(await c.get('p1')).toBe('new')
  })

  it("mode 'expire' makes entries stale: never fresh, still served by grace while the refresh runs", async () => {
    const { a, b } = await pair({ grace: '1h' })
    await a.getOrSet({ key: 'p', tags: ['t'], factory: () => 'old' })
    expect(await b.get('p')).toBe('old')
    await a.invalidateTags(['t'], { mode: 'expire' })
    await delivered()
    expect(await b.get('p')).toBeUndefined() // get() serves fresh values only
    const gate = deferred<string>()
    expect(await b.getOrSet({ key: 'p', tags: ['t'], factory: () => gate.promise })).toBe('old')
    gate.resolve('new')
    await vi.waitFor(() => expect(b.peek('p')).toBe('new'))
  })

  it('a missing tag marker (evicted or flushed) makes its entries misses, never stale hits', async () => {
    const { tier, a } = await pair()
    await a.set('p', 'value', { tags: ['t'] })
    const markers = tier.keys().filter((k) => k.startsWith('!tag:'))
    expect(markers).toEqual(['!tag:inv:t'])
    await tier.delete(markers)
    const fresh = createCache({ namespace: 'inv', l2: { tier } })
    expect(await fresh.get('p')).toBeUndefined()
    expect(fresh.stats().tagInvalidatedReads).toBe(1)
  })

  it('costs one marker write per tag, whatever the number of tagged entries', async () => {
    const { tier, a } = await pair()
    for (let i = 0; i < 1000; i++) await a.set(`k${i}`, i, { tags: ['many'] })
    const before = tier.roundTrips
    await a.invalidateTags(['many'])
    expect(tier.roundTrips - before).toBe(1)
    expect(await a.get('k1')).toBeUndefined()
  })

  it('keeps tag metadata bounded: one marker per tag, none per entry', async () => {
    const { tier, a } = await pair()
    for (let i = 0; i < 200; i++) await a.set(`k${i}`, i, { tags: [`t${i % 5}`] })
    expect(tier.keys().filter((k) => k.startsWith('!tag:'))).toHaveLength(5)
  })

  it('rejects reserved and malformed tags', async () => {
    const { a } = await pair()
    await expect(a.set('k', 1, { tags: ['@key:x'] })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    await expect(a.invalidateTags([])).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    await expect(a.invalidateTags(['t'], { mode: 'soft' as 'delete' })).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
  })
})

describe('dependencies', () => {
  it('deleting a key invalidates what depends on it, transitively, across instances (user → posts → feed)', async () => {
    const { a, b } = await pair()
    await a.set('user:1', { name: 'ada' })
    await a.set('posts:1', ['p1'], { dependsOn: ['user:1'] })
    await a.set('feed:1', ['f1'], { dependsOn: ['posts:1'] })
    expect(await b.getMany(['user:1', 'posts:1', 'feed:1'])).toEqual([{ name: 'ada' }, ['p1'], ['f1']])
    await a.delete('user:1')
    await delivered()
    for (const cache of [a, b]) {
      expect(await cache.get('posts:1')).toBeUndefined()
      expect(await cache.get('feed:1')).toBeUndefined()
    }
  })

  it('cycles are harmless', async () => {
    const { a } = await pair()
    await a.set('x', 1, { dependsOn: ['y'] })
    await a.set('y', 2, { dependsOn: ['x'] })
    await a.delete('x')
    expect(await a.get('y')).toBeUndefined()
  })
})

describe('deleteMatching', () => {
  it('deletes only what the literal parts name, whatever glob characters user input holds', async () => {
    const { a, b } = await pair()
    const inputs = ['u*', 'u?', 'u[1]', 'u\\', 'u1', 'ua']
    for (const input of inputs) {
      await a.set(key('user', input, 'profile'), input)
      await a.set(key('user', input, 'orders'), input)
    }
    expect(await b.get(key('user', 'u1', 'profile'))).toBe('u1')
    const removed = await a.deleteMatching(`${key('user', 'u*')}:*`)
    expect(removed).toBe(2)
    await delivered()
    for (const input of inputs) {
      const expected = input === 'u*' ? undefined : input
      expect(await b.get(key('user', input, 'profile'))).toBe(expected)
      expect(await b.get(key('user', input, 'orders'))).toBe(expected)
    }
  })
})

describe('the read/invalidate race (leases)', () => {
  it('a load that started before a delete of its key does not write its old result back', async () => {
    const { a, b } = await pair()
    const gate = deferred<string>()
    const loading = a.getOrSet({ key: 'k', factory: () => gate.promise })
    await vi.waitFor(() => expect(a.stats().factoryCalls).toBe(1))
    await b.delete('k') // the source of truth changed; b invalidates
    gate.resolve('old (read before the change)')
    expect(await loading).toBe('old (read before the change)')
    const c = createCache({
      namespace: 'inv',
      l2: { tier: (a.l2 as unknown as { inner: MemoryRemoteTier }).inner },
    })
    expect(await c.get('k')).toBeUndefined()
    expect(a.peek('k')).toBeUndefined()
  })

  it('a load that started before a tag invalidation is stored, but never served as fresh', async () => {
    const { a, b } = await pair()
    const gate = deferred<string>()
    const loading = a.getOrSet({ key: 'k', tags: ['t'], factory: () => gate.promise })
    await vi.waitFor(() => expect(a.stats().factoryCalls).toBe(1))
    await b.invalidateTags(['t'])
    gate.resolve('old')
    await loading
    expect(a.peek('k')).toBeUndefined()
    const c = createCache({
      namespace: 'inv',
      l2: { tier: (a.l2 as unknown as { inner: MemoryRemoteTier }).inner },
    })
    expect(await c.get('k')).toBeUndefined()
  })
})

describe('bus cut', () => {
  it('after the bus reconnects, no instance serves a value invalidated while it was cut', async () => {
    const { tier, a, b } = await pair()
    await a.set('k', 'old', { tags: ['t'] })
    await a.set('j', 'old')
    expect(await b.getMany(['k', 'j'])).toEqual(['old', 'old'])
    tier.bus.disconnect()
    await a.invalidateTags(['t'])
    await a.set('j', 'new')
    tier.bus.reconnect()
    expect(await b.get('k')).toBeUndefined()
    expect(await b.get('j')).toBe('new')
    expect(b.stats().busResyncs).toBe(1)
  })

  it('while the bus is down, tag markers are read from the L2 instead of trusted from memory', async () => {
    const { tier, a, b } = await pair()
    await a.set('k', 'old', { tags: ['t'] })
    tier.bus.disconnect()
    await a.invalidateTags(['t'])
    const fresh = createCache({ namespace: 'inv', l2: { tier } })
    expect(await fresh.get('k')).toBeUndefined()
    tier.bus.reconnect()
    expect(await b.get('k')).toBeUndefined()
  })

  it('drops malformed bus messages and counts them', async () => {
    const { tier, a } = await pair()
    await tier.bus.publish('!bus:inv', new TextEncoder().encode('{"v":1,"op":"delete"}'))
    await tier.bus.publish('!bus:inv', new TextEncoder().encode('not json'))
    await delivered()
    expect(a.stats().busMessagesDropped).toBe(2)
  })
})

describe('namespaces and versions', () => {
  it('cache.namespace(name) shares the L2 and bus; its clear() removes only its own keys, everywhere', async () => {
    const { tier, a, b } = await pair()
    const usersA = a.namespace('users')
    const usersB = b.namespace('users')
    expect(usersA.name).toBe('inv.users')
    await Promise.all([usersA.ready(), usersB.ready()])
    await a.set('k', 'parent')
    await usersA.set('k', 'child')
    expect(await usersB.get('k')).toBe('child')
    expect(
      tier
        .keys()
        .filter((k) => !k.startsWith('!'))
        .sort(),
    ).toEqual(['inv.users:v1:k', 'inv:v1:k'])
    await usersA.clear()
    await delivered()
    expect(usersB.peek('k')).toBeUndefined()
    expect(await usersB.get('k')).toBeUndefined()
    expect(await b.get('k')).toBe('parent')
  })

  it('closing the parent closes its children; closing a child leaves the shared connection open', async () => {
    const { a } = await pair()
    const child = a.namespace('c')
    await child.close()
    await a.set('k', 1)
    expect(await a.get('k')).toBe(1)
    const other = a.namespace('d')
    await a.close()
    await expect(other.get('k')).rejects.toMatchObject({ code: 'E_CLOSED' })
  })

  it('a version bump makes everything written under the old version unreachable', async () => {
    const tier = new MemoryRemoteTier()
    const v1 = createCache({ namespace: 'inv', version: 'v1', l2: { tier } })
    await v1.set('k', 'old')
    const v2 = createCache({ namespace: 'inv', version: 'v2', l2: { tier } })
    expect(await v2.get('k')).toBeUndefined()
  })
})
