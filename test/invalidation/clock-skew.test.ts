/**
 * F14 (clock skew): entry creation times and tag markers are the writers' wall clocks
 * (docs/invalidation.md), so hosts whose clocks disagree by `skew` order a `set` and an
 * `invalidateTags` correctly when the two are further apart in real time than that. These tests
 * enforce that bound with three instances whose injected clocks run behind, on and ahead of
 * time, and pin what happens inside it, both ways: a write shortly after an invalidation made on a
 * host ahead of it reads as invalidated (a miss); a write shortly before an invalidation, made on a
 * host ahead of the invalidator, survives it (a stale value until its TTL: what NTP must bound).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Cache, createCache, MemoryRemoteTier } from '../../dist/index.js'

/** Half the largest disagreement: the clocks run at −SKEW, 0 and +SKEW ms from real time. */
const SKEW = 40

/** Three instances on one shared L2 and bus; real time is `time.now`, moved by the test. */
async function skewedInstances(offsets: readonly number[]) {
  const time = { now: 1_700_000_000_000 }
  const tier = new MemoryRemoteTier({ clock: () => time.now })
  const caches = offsets.map((offset) =>
    createCache({ namespace: 'skew', jitter: 0, ttl: '1h', clock: () => time.now + offset, l2: { tier } }),
  )
  await Promise.all(caches.map((c) => c.ready()))
  return { time, caches }
}

/** Lets queued bus deliveries run. */
const delivered = () => new Promise<void>((resolve) => setImmediate(resolve))

/** What every instance reads for `key` afterwards: from its L1 if it holds one, and from the L2. */
async function everywhere(caches: readonly Cache[], key: string): Promise<unknown[]> {
  await delivered()
  const reads: unknown[] = []
  for (const cache of caches) {
    reads.push(await cache.get(key))
    reads.push(await cache.get(key, { skipL1: true }))
  }
  return reads
}

describe('clock skew between instances (F14)', () => {
  it('a set and an invalidateTags further apart than the clocks disagree are ordered as they happened, on every instance', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.shuffledSubarray([-SKEW, 0, SKEW], { minLength: 3, maxLength: 3 }),
        fc.integer({ min: 0, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
        fc.boolean(),
        // Apart by more than the largest disagreement between two hosts (2 × SKEW).
        fc.integer({ min: 2 * SKEW + 1, max: 10 * SKEW }),
        async (offsets, setter, invalidator, setFirst, gap) => {
          const { time, caches } = await skewedInstances(offsets)
          try {
            const set = () => (caches[setter] as Cache).set('k', 'v', { tags: ['t'] })
            const invalidate = () => (caches[invalidator] as Cache).invalidateTags(['t'])
            await (setFirst ? set() : invalidate())
            await delivered()
            time.now += gap
            await (setFirst ? invalidate() : set())
            const reads = await everywhere(caches, 'k')
            expect(reads).toEqual(reads.map(() => (setFirst ? undefined : 'v')))
          } finally {
            await Promise.all(caches.map((c) => c.close()))
          }
        },
      ),
      { numRuns: 100 },
    )
  })

  it('within the disagreement, a set shortly before an invalidation by a host behind it survives the invalidation (the hazard NTP bounds)', async () => {
    // The setter's clock is ahead: its entry is dated SKEW ms after real time, later than the
    // marker an invalidation made SKEW / 2 ms afterwards on a host on time. This pins what the
    // docs say: hosts must agree within less than the time between a write and the invalidation
    // meant to outdate it.
    const { time, caches } = await skewedInstances([SKEW, 0, 0])
    const [ahead, onTime, observer] = caches as [Cache, Cache, Cache]
    try {
      await ahead.set('k', 'v', { tags: ['t'] })
      time.now += SKEW / 2
      await onTime.invalidateTags(['t'])
      expect(await observer.get('k', { skipL1: true })).toBe('v')
    } finally {
      await Promise.all(caches.map((c) => c.close()))
    }
  })

  it('within the disagreement, a set shortly after an invalidation by a host ahead of it reads as invalidated (a miss)', async () => {
    // The invalidator's clock is ahead: its marker is dated SKEW ms in the future of real time,
    // and the setter's clock SKEW ms behind dates its entry before that marker.
    const { time, caches } = await skewedInstances([SKEW, -SKEW, 0])
    const [ahead, behind, observer] = caches as [Cache, Cache, Cache]
    try {
      await ahead.invalidateTags(['t'])
      await delivered()
      time.now += SKEW
      await behind.set('k', 'v', { tags: ['t'] })
      expect(await observer.get('k')).toBeUndefined()
      // Once real time has passed the marker by more than the skew, the same write holds.
      time.now += 2 * SKEW + 1
      await behind.set('k', 'v', { tags: ['t'] })
      expect(await everywhere(caches, 'k')).toEqual(Array(6).fill('v'))
    } finally {
      await Promise.all(caches.map((c) => c.close()))
    }
  })
})
