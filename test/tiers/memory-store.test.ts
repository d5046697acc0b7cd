import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { POLICY_NAMES } from '../../dist/eviction/index.js'
import { type L1Entry, MemoryStore } from '../../dist/tiers/memory/memory-store.js'

function entry(key: string, size = 1, expiresAt = Number.POSITIVE_INFINITY): L1Entry {
  return {
    key,
    value: key,
    createdAt: 0,
    expiresAt,
    slideMs: 0,
    maxExpiresAt: expiresAt,
    size,
    tags: [],
    cloneOnRead: false,
    slot: -1,
    heapIndex: -1,
  }
}

describe.each(POLICY_NAMES)('MemoryStore (L1) with %s eviction', (policy) => {
  it('never exceeds maxEntries', () => {
    const store = new MemoryStore({ maxEntries: 3, maxBytes: Number.POSITIVE_INFINITY, policy })
    for (let i = 0; i < 10; i++) store.set(entry(`k${i}`), 0)
    expect(store.size).toBe(3)
    expect(store.evictions).toBe(7)
  })

  it('never exceeds maxBytes, and refuses an entry larger than the whole budget', () => {
    const store = new MemoryStore({ maxEntries: 100, maxBytes: 100, policy })
    for (let i = 0; i < 10; i++) store.set(entry(`k${i}`, 30), 0)
    expect(store.bytes).toBeLessThanOrEqual(100)
    store.set(entry('huge', 101), 0)
    expect(store.peek('huge')).toBeUndefined()
  })

  it('reclaims expired entries before evicting live ones', () => {
    const store = new MemoryStore({ maxEntries: 3, maxBytes: Number.POSITIVE_INFINITY, policy })
    store.set(entry('live1', 1), 0)
    store.set(entry('soon', 1, 50), 0)
    store.set(entry('live2', 1), 0)
    store.set(entry('new', 1), 100)
    expect(store.peek('soon')).toBeUndefined()
    expect([...store.keys()].sort()).toEqual(['live1', 'live2', 'new'])
    expect(store.expirations).toBe(1)
    expect(store.evictions).toBe(0)
  })

  it('drops an expired entry when it is read', () => {
    const store = new MemoryStore({ maxEntries: 10, maxBytes: Number.POSITIVE_INFINITY, policy })
    store.set(entry('k', 1, 100), 0)
    expect(store.get('k', 99)).toBeDefined()
    expect(store.get('k', 100)).toBeUndefined()
    expect(store.size).toBe(0)
  })

  it('keeps exact accounting through overwrites and deletes (model-based)', () => {
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
        const sizes = new Map<string, number>()
        for (const o of ops) {
          const key = `k${o.key}`
          if (o.kind === 'set') {
            store.set(entry(key, o.size), 0)
          } else if (o.kind === 'get') {
            store.get(key, 0)
          } else {
            store.delete(key)
          }
          sizes.clear()
          for (const k of store.keys()) sizes.set(k, store.peek(k)?.size ?? 0)
          const total = [...sizes.values()].reduce((a, b) => a + b, 0)
          expect(store.bytes).toBe(total)
          expect(store.size).toBeLessThanOrEqual(8)
          expect(store.bytes).toBeLessThanOrEqual(120)
          if (o.kind === 'set' && o.size <= 120) expect(store.peek(key)?.size).toBe(o.size)
          if (o.kind === 'delete') expect(store.peek(key)).toBeUndefined()
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('MemoryStore with SIEVE', () => {
  it('keeps a re-read entry over one never read again (SIEVE)', () => {
    const store = new MemoryStore({ maxEntries: 2, maxBytes: Number.POSITIVE_INFINITY, policy: 'sieve' })
    store.set(entry('hot'), 0)
    store.set(entry('cold'), 0)
    store.get('hot', 0)
    store.set(entry('new'), 0)
    expect(store.peek('hot')).toBeDefined()
    expect(store.peek('cold')).toBeUndefined()
  })
})
