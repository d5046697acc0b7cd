import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  createPolicy,
  type EvictionPolicy,
  hashKey,
  POLICY_NAMES,
  type PolicyName,
} from '../../dist/eviction/index.js'

/** Drives a policy the way the L1 store does: a key→slot map, a free list, evict while over capacity. */
class Driver {
  readonly policy: EvictionPolicy
  readonly slots = new Map<string, number>()
  readonly keyOf: (string | undefined)[]
  readonly free: number[] = []
  hits = 0
  evicted: string[] = []

  constructor(
    name: PolicyName,
    readonly capacity: number,
  ) {
    this.policy = createPolicy(name, capacity)
    this.keyOf = new Array(capacity + 1)
    for (let s = capacity; s >= 0; s--) this.free.push(s)
  }

  access(key: string): void {
    const slot = this.slots.get(key)
    if (slot !== undefined) {
      this.hits++
      this.policy.touch(slot)
      return
    }
    const hash = hashKey(key)
    this.policy.miss(hash)
    const fresh = this.free.pop() as number
    this.slots.set(key, fresh)
    this.keyOf[fresh] = key
    this.policy.insert(fresh, hash)
    while (this.slots.size > this.capacity) {
      const victim = this.policy.victim(fresh)
      const victimKey = this.keyOf[victim]
      expect(victimKey, `victim slot ${victim} must be resident`).toBeDefined()
      expect(this.slots.get(victimKey as string)).toBe(victim)
      this.policy.remove(victim)
      this.slots.delete(victimKey as string)
      this.keyOf[victim] = undefined
      this.free.push(victim)
      this.evicted.push(victimKey as string)
    }
  }

  delete(key: string): void {
    const slot = this.slots.get(key)
    if (slot === undefined) return
    this.policy.remove(slot)
    this.slots.delete(key)
    this.keyOf[slot] = undefined
    this.free.push(slot)
  }
}

const op = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({ kind: fc.constant('access' as const), key: fc.integer({ min: 0, max: 60 }) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 60 }) }),
  },
)

describe.each(POLICY_NAMES)('eviction policy %s', (name) => {
  it('never holds more than its capacity and only ever evicts resident entries', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.array(op, { maxLength: 400 }), (capacity, ops) => {
        const driver = new Driver(name, capacity)
        for (const o of ops) {
          if (o.kind === 'access') driver.access(`k${o.key}`)
          else driver.delete(`k${o.key}`)
          expect(driver.slots.size).toBeLessThanOrEqual(capacity)
        }
      }),
      { numRuns: 200 },
    )
  })

  it('keeps working after deletes free slots in the middle of its queues', () => {
    const driver = new Driver(name, 10)
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 15; i++) driver.access(`k${(round * 7 + i) % 23}`)
      for (let i = 0; i < 5; i++) driver.delete(`k${(round * 3 + i) % 23}`)
    }
    expect(driver.slots.size).toBeLessThanOrEqual(10)
    expect(driver.free.length).toBe(11 - driver.slots.size)
  })

  it('is deterministic: the same sequence gives the same hits and evictions', () => {
    const sequence = Array.from({ length: 5000 }, (_, i) => `k${((i * 2654435761) % 997) % (1 + (i % 300))}`)
    const run = () => {
      const driver = new Driver(name, 50)
      for (const key of sequence) driver.access(key)
      return { hits: driver.hits, evicted: driver.evicted.join(',') }
    }
    expect(run()).toEqual(run())
  })

  it('serves a working set that fits without evicting', () => {
    const driver = new Driver(name, 100)
    for (let round = 0; round < 10; round++) for (let i = 0; i < 100; i++) driver.access(`k${i}`)
    expect(driver.evicted).toEqual([])
    expect(driver.hits).toBe(900)
  })
})

describe('scan resistance', () => {
  it('w-tinylfu and s3fifo keep a hot set through a one-pass scan that flushes LRU', () => {
    const hot = Array.from({ length: 50 }, (_, i) => `hot${i}`)
    const run = (name: PolicyName) => {
      const driver = new Driver(name, 100)
      for (let r = 0; r < 20; r++) for (const k of hot) driver.access(k)
      for (let i = 0; i < 1000; i++) driver.access(`scan${i}`)
      const before = driver.hits
      for (const k of hot) driver.access(k)
      return driver.hits - before
    }
    expect(run('lru')).toBe(0)
    expect(run('w-tinylfu')).toBeGreaterThanOrEqual(45)
    expect(run('s3fifo')).toBeGreaterThanOrEqual(45)
  })
})
