/**
 * writeThrough when writes of one key overlap (reliability F18's "0 divergences"): two database
 * writes in flight at once commit in an order their answers do not tell (a connection pool answers
 * out of order), so the cache must never keep the value the database replaced. A write-through
 * that overlapped another deletes the key instead of caching its value (the next read loads what
 * the database kept); one that overlapped nothing caches its value as before.
 */
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache, MemoryRemoteTier } from '../../dist/index.js'
import { type Deferred, deferred } from '../helpers/deferred.js'

const caches: Cache[] = []
function open(options: CacheOptions): Cache {
  const cache = createCache(options)
  caches.push(cache)
  return cache
}
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
})

/** A database write held at two points: its commit, and its answer to the caller. */
interface HeldWrite {
  commit: Deferred<void>
  answer: Deferred<void>
}
function held(): HeldWrite {
  return { commit: deferred(), answer: deferred() }
}

/** The database: a map, written when a held write commits. */
function database() {
  const rows = new Map<string, string>()
  const write = (key: string, hold: HeldWrite) => async (value: string) => {
    await hold.commit.promise
    rows.set(key, value)
    await hold.answer.promise
  }
  return { rows, write }
}

/** Lets promise continuations and the in-process bus's deliveries run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * What each instance reads for `key`: from its L1 (if it holds one) and from the L2; and, with a
 * shared `tier`, what an instance started now reads (it heard none of the bus messages before).
 */
async function reads(instances: readonly Cache[], key: string, tier?: MemoryRemoteTier): Promise<unknown[]> {
  await settle()
  const out: unknown[] = []
  for (const cache of instances) {
    out.push(await cache.get(key))
    if (tier !== undefined) out.push(await cache.get(key, { skipL1: true }))
  }
  if (tier !== undefined) {
    const later = createCache({ namespace: 'wt', l2: { tier } })
    out.push(await later.get(key))
    await later.close()
  }
  return out
}

describe('overlapping write-throughs of one key', () => {
  for (const l2 of [false, true]) {
    it(`in one process (${l2 ? 'L1 + L2' : 'L1 only'}): the database keeps the first answered, the cache does not keep the other`, async () => {
      const tier = l2 ? new MemoryRemoteTier() : undefined
      const cache = open({ namespace: 'wt', ...(tier === undefined ? {} : { l2: { tier } }) })
      const db = database()
      const [a, b] = [held(), held()]
      const first = cache.writeThrough({ key: 'k', value: 'a', write: db.write('k', a) })
      const second = cache.writeThrough({ key: 'k', value: 'b', write: db.write('k', b) })
      // b commits, then a (the database keeps 'a'); a answers first, then b.
      b.commit.resolve()
      await settle()
      a.commit.resolve()
      await settle()
      a.answer.resolve()
      await first
      b.answer.resolve()
      await second
      expect(db.rows.get('k')).toBe('a')
      for (const read of await reads([cache], 'k', tier)) expect([undefined, 'a']).toContain(read)
    })
  }

  for (const kept of ['a', 'b']) {
    it(`across instances sharing the L2, the database keeping '${kept}': the write-through that answers later, having overlapped the other, leaves no value the database replaced`, async () => {
      const tier = new MemoryRemoteTier()
      const [one, two] = [open({ namespace: 'wt', l2: { tier } }), open({ namespace: 'wt', l2: { tier } })]
      await Promise.all([one.ready(), two.ready()])
      const db = database()
      const [a, b] = [held(), held()]
      const first = one.writeThrough({ key: 'k', value: 'a', write: db.write('k', a) })
      await settle()
      const second = two.writeThrough({ key: 'k', value: 'b', write: db.write('k', b) })
      // The one the database keeps commits last; a answers (and is cached) first, b last.
      for (const hold of kept === 'a' ? [b, a] : [a, b]) {
        hold.commit.resolve()
        await settle()
      }
      a.answer.resolve()
      await first
      b.answer.resolve()
      await second
      expect(db.rows.get('k')).toBe(kept)
      for (const read of await reads([one, two], 'k', tier)) expect([undefined, kept]).toContain(read)
    })
  }

  it('a write-through that overlapped nothing caches its value everywhere, also right after a race on its key', async () => {
    const tier = new MemoryRemoteTier()
    const [one, two] = [open({ namespace: 'wt', l2: { tier } }), open({ namespace: 'wt', l2: { tier } })]
    await Promise.all([one.ready(), two.ready()])
    const db = database()
    const [a, b] = [held(), held()]
    const racing = [
      one.writeThrough({ key: 'k', value: 'a', write: db.write('k', a) }),
      one.writeThrough({ key: 'k', value: 'b', write: db.write('k', b) }),
    ]
    for (const hold of [a, b]) {
      hold.commit.resolve()
      hold.answer.resolve()
    }
    await Promise.all(racing)
    await settle()
    await two.writeThrough({ key: 'k', value: 'c', write: async (v) => db.rows.set('k', v) })
    expect(await reads([one, two], 'k', tier)).toEqual(['c', 'c', 'c', 'c', 'c'])
  })

  it('random interleavings of write-throughs from two instances: every read is a miss or what the database holds (F18)', async () => {
    const keys = ['k1', 'k2']
    const write = fc.record({ instance: fc.integer({ min: 0, max: 1 }), key: fc.constantFrom(...keys) })
    await fc.assert(
      fc.asyncProperty(
        fc.array(write, { minLength: 2, maxLength: 5 }).chain((writes) =>
          fc.tuple(
            fc.constant(writes),
            // The order of every start, commit and answer: each write's three steps in their own order.
            fc.shuffledSubarray(
              writes.flatMap((_, i) => ['start', 'commit', 'answer'].map((step) => ({ i, step }))),
              { minLength: writes.length * 3, maxLength: writes.length * 3 },
            ),
          ),
        ),
        async ([writes, steps]) => {
          const tier = new MemoryRemoteTier()
          const instances = [open({ namespace: 'wt', l2: { tier } }), open({ namespace: 'wt', l2: { tier } })]
          await Promise.all(instances.map((cache) => cache.ready()))
          const db = database()
          const holds = writes.map(() => held())
          const done: Promise<unknown>[] = []
          const stepsDone = writes.map(() => new Set<string>())
          const due = (i: number, step: string) =>
            step === 'start' ||
            (step === 'commit' && stepsDone[i]?.has('start')) ||
            (step === 'answer' && stepsDone[i]?.has('commit'))
          // Each step runs in the drawn order once the steps it needs ran (a write commits after it started).
          const pending = [...steps]
          while (pending.length > 0) {
            const at = pending.findIndex(({ i, step }) => due(i, step))
            const [{ i, step }] = pending.splice(at, 1) as [{ i: number; step: string }]
            const w = writes[i] as { instance: number; key: string }
            const hold = holds[i] as HeldWrite
            if (step === 'start') {
              const cache = instances[w.instance] as Cache
              done.push(cache.writeThrough({ key: w.key, value: `v${i}`, write: db.write(w.key, hold) }))
            } else (step === 'commit' ? hold.commit : hold.answer).resolve()
            stepsDone[i]?.add(step)
            await settle()
          }
          await Promise.all(done)
          for (const key of keys) {
            const kept = db.rows.get(key)
            for (const read of await reads(instances, key, tier)) expect([undefined, kept]).toContain(read)
          }
          await Promise.all(caches.splice(0).map((cache) => cache.close()))
        },
      ),
      { numRuns: 150 },
    )
  })
})
