import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { POLICY_NAMES } from '../../dist/eviction/index.js'
import { CLONE_ON_READ, MemoryStore, MISS } from '../../dist/tiers/memory/memory-store.js'

const NEVER = Number.POSITIVE_INFINITY

function put(store: MemoryStore, key: string, size = 1, expiresAt = NEVER, now = 0): void {
  store.set(key, `value of ${key}`, expiresAt, size, 0, [], now)
}

describe.each(POLICY_NAMES)('MemoryStore (L1) with %s eviction', (policy) => {
  it('never exceeds maxEntries', () => {
    const store = new MemoryStore({ maxEntries: 3, maxBytes: NEVER, policy })
    for (let i = 0; i < 10; i++) put(store, `k${i}`)
    expect(store.size).toBe(3)
    expect(store.evictions).toBe(7)
  })

  it('never exceeds maxBytes, and refuses an entry larger than the whole budget', () => {
    const store = new MemoryStore({ maxEntries: 100, maxBytes: 100, policy })
    for (let i = 0; i < 10; i++) put(store, `k${i}`, 30)
    expect(store.bytes).toBeLessThanOrEqual(100)
    put(store, 'huge', 101)
    expect(store.has('huge')).toBe(false)
  })

  it('reclaims expired entries before evicting live ones', () => {
    const store = new MemoryStore({ maxEntries: 3, maxBytes: NEVER, policy })
    put(store, 'live1')
    put(store, 'soon', 1, 50)
    put(store, 'live2')
    put(store, 'new', 1, NEVER, 100)
    expect(store.has('soon')).toBe(false)
    expect([...store.keys()].sort()).toEqual(['live1', 'live2', 'new'])
    expect(store.expirations).toBe(1)
    expect(store.evictions).toBe(0)
  })

  it('drops an expired entry when it is read', () => {
    const store = new MemoryStore({ maxEntries: 10, maxBytes: NEVER, policy })
    put(store, 'k', 1, 100)
    expect(store.get('k', 99)).toBe('value of k')
    expect(store.get('k', 100)).toBe(MISS)
    expect(store.size).toBe(0)
  })

  it('serves no entry past its expiry or soft time, whichever entry expires first', () => {
    // A hit skips the per-entry soft time while the soonest expiry (the heap's root) is ahead:
    // that bound must follow overwrites, deletes, sliding, grace and tag invalidation.
    const store = new MemoryStore({ maxEntries: 100, maxBytes: NEVER, policy })
    for (let i = 0; i < 40; i++) put(store, `k${i}`, 1, 1000 + ((i * 37) % 40) * 10)
    put(store, 'forever')
    store.set('k0', 'v', 5000, 1, 0, [], 0) // overwritten later
    store.delete('k1')
    for (let now = 990; now <= 1400; now += 5) {
      for (let i = 2; i < 40; i++) {
        const expiresAt = 1000 + ((i * 37) % 40) * 10
        expect(store.get(`k${i}`, now) === MISS).toBe(now >= expiresAt)
      }
      expect(store.get('k0', now)).toBe('v')
      expect(store.get('forever', now)).toBe('value of forever')
    }
    expect(store.get('k0', 5000)).toBe(MISS)
    // An entry whose soft time differs from its expiry (grace): stale from its fresh time on.
    store.set('graced', 'g', 6000, 1, 0, ['t'], 5000, 0, 6000, 5500)
    expect(store.get('graced', 5499)).toBe('g')
    expect(store.get('graced', 5500)).toBe(MISS)
    store.set('tagged', 'x', 9000, 1, 0, ['t'], 5600)
    expect(store.get('tagged', 5600)).toBe('x')
    store.expireTagged(['t'], 5600)
    expect(store.get('tagged', 5600)).toBe(MISS)
  })

  it('expireTagged counts each entry once, however many of the given tags it carries', () => {
    const store = new MemoryStore({ maxEntries: 10, maxBytes: NEVER, policy })
    // With grace (kept, stale) and without (removed), each under both tags.
    store.set('graced', 'g', 2000, 1, 0, ['a', 'b'], 0, 0, 2000, 1000)
    store.set('plain', 'p', 2000, 1, 0, ['a', 'b'], 0)
    store.set('other', 'o', 2000, 1, 0, ['c'], 0)
    expect(store.expireTagged(['a', 'b'], 10)).toBe(2)
    expect(store.expireTagged(['a', 'a'], 20)).toBe(1)
    expect(store.has('graced')).toBe(true)
    expect(store.has('plain')).toBe(false)
    expect(store.get('other', 20)).toBe('o')
  })

  it('slides a sliding entry on each hit, up to its cap', () => {
    const store = new MemoryStore({ maxEntries: 10, maxBytes: NEVER, policy })
    store.set('s', 'v', 10, 1, 0, [], 0, 10, 25)
    expect(store.get('s', 9)).toBe('v')
    expect(store.expiryOf('s')).toBe(19)
    expect(store.get('s', 18)).toBe('v')
    expect(store.expiryOf('s')).toBe(25)
    expect(store.get('s', 25)).toBe(MISS)
  })

  it('clones on read the entries flagged so', () => {
    const store = new MemoryStore({ maxEntries: 10, maxBytes: NEVER, policy })
    const value = new Map([['a', 1]])
    store.set('m', value, NEVER, 1, CLONE_ON_READ, [], 0)
    const read = store.get('m', 0) as Map<string, number>
    expect(read).toEqual(value)
    expect(read).not.toBe(value)
  })

  it('still clones and slides after plain entries and the other special ones come and go', () => {
    // A hit skips the flags while no entry clones or slides: the count of those must stay exact
    // through overwrites (special ↔ plain), deletes, evictions and clears.
    const store = new MemoryStore({ maxEntries: 8, maxBytes: NEVER, policy })
    const value = new Map([['a', 1]])
    store.set('clone', value, NEVER, 1, CLONE_ON_READ, [], 0)
    store.set('slide', 'v', 10, 1, 0, [], 0, 10, 1000)
    store.set('gone', value, NEVER, 1, CLONE_ON_READ, [], 0)
    store.delete('gone')
    store.set('turned', value, NEVER, 1, CLONE_ON_READ, [], 0)
    store.set('turned', value, NEVER, 1, 0, [], 0) // now plain
    expect(store.get('turned', 0)).toBe(value)
    store.set('slide', 'v', 10, 1, 0, [], 0, 10, 1000) // overwritten, still sliding
    for (let i = 0; i < 20; i++) {
      put(store, `plain${i}`)
      store.get('clone', 0)
      store.get('slide', 1)
    }
    // (Read on every round, both stay resident under every policy.)
    expect(store.get('clone', 0)).not.toBe(value)
    store.get('slide', 5)
    expect(store.expiryOf('slide')).toBe(15)
    store.set('clone2', value, NEVER, 1, CLONE_ON_READ, [], 0)
    expect(store.get('clone2', 0)).not.toBe(value)
    store.clear()
    store.set('plain', value, NEVER, 1, 0, [], 0)
    expect(store.get('plain', 0)).toBe(value)
    store.set('clone3', value, NEVER, 1, CLONE_ON_READ, [], 0)
    expect(store.get('clone3', 0)).not.toBe(value)
  })

  it('keeps exact byte accounting through overwrites, deletes and evictions', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 20 }),
        size: fc.integer({ min: 1, max: 40 }),
      }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 20 }) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const store = new MemoryStore({ maxEntries: 8, maxBytes: 120, policy })
        for (const o of ops) {
          const key = `k${o.key}`
          if (o.kind === 'set') put(store, key, o.size)
          else if (o.kind === 'get') store.get(key, 0)
          else store.delete(key)
          let total = 0
          for (const k of store.keys()) total += store.sizeOf(k) ?? 0
          expect(store.bytes).toBe(total)
          expect(store.size).toBeLessThanOrEqual(8)
          expect(store.bytes).toBeLessThanOrEqual(120)
          if (o.kind === 'set' && o.size <= 120 && store.has(key)) expect(store.sizeOf(key)).toBe(o.size)
          if (o.kind === 'delete') expect(store.has(key)).toBe(false)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('agrees with a reference map with expiry (model-based): never serves a value it should not', () => {
    const command = fc.oneof(
      fc.record({
        kind: fc.constant('set' as const),
        key: fc.integer({ min: 0, max: 30 }),
        value: fc.integer(),
        ttl: fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }),
      }),
      fc.record({ kind: fc.constant('get' as const), key: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant('clear' as const) }),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(command, { maxLength: 300 }),
        (capacity, commands) => {
          const store = new MemoryStore({ maxEntries: capacity, maxBytes: NEVER, policy })
          const model = new Map<string, { value: number; expiresAt: number }>()
          let now = 0
          for (const c of commands) {
            if (c.kind === 'tick') now += c.ms
            else if (c.kind === 'clear') {
              store.clear()
              model.clear()
            } else if (c.kind === 'set') {
              const expiresAt = c.ttl === undefined ? NEVER : now + c.ttl
              store.set(`k${c.key}`, c.value, expiresAt, 1, 0, [], now)
              model.set(`k${c.key}`, { value: c.value, expiresAt })
            } else if (c.kind === 'delete') {
              store.delete(`k${c.key}`)
              model.delete(`k${c.key}`)
            } else {
              const got = store.get(`k${c.key}`, now)
              const expected = model.get(`k${c.key}`)
              const live = expected !== undefined && expected.expiresAt > now
              // Evictions may turn a live entry into a miss; nothing may turn a miss into a value.
              if (got !== MISS) {
                expect(live).toBe(true)
                expect(got).toBe(expected?.value)
              }
            }
            expect(store.size).toBeLessThanOrEqual(capacity)
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('MemoryStore with SIEVE', () => {
  it('keeps a re-read entry over one never read again', () => {
    const store = new MemoryStore({ maxEntries: 2, maxBytes: NEVER, policy: 'sieve' })
    put(store, 'hot')
    put(store, 'cold')
    store.get('hot', 0)
    put(store, 'new')
    expect(store.has('hot')).toBe(true)
    expect(store.has('cold')).toBe(false)
  })
})
