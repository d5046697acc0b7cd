import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { optHits } from '../../dist/simulation/opt.js'
import { PerfectLfuPolicy } from '../../dist/simulation/policies/lfu.js'
import { defaultPolicyFactory, keysTraceSource, simulate } from '../../dist/simulation/simulate.js'

const factory = (name: string, capacity: number) =>
  name === 'lfu' ? new PerfectLfuPolicy(capacity) : defaultPolicyFactory(name, capacity)

async function lfuHits(keys: readonly number[], capacity: number): Promise<number> {
  const result = await simulate(keysTraceSource(keys), {
    policies: ['lfu'],
    sizes: [capacity],
    policyFactory: factory,
  })
  return result.results[0]?.hits as number
}

describe('perfect LFU (the simulator-only reference bound)', () => {
  it('keeps the most-counted keys and admits a newcomer only when it is counted more (hand-computed)', async () => {
    // capacity 2: a a b c c c b a
    // a miss (a=1) · a hit (a=2) · b miss (b=1) · c miss (c=1 ≤ b=1: refused) · c miss (c=2 > b=1: evicts b)
    // c hit (c=3) · b miss (b=2 ≤ a=2: refused) · a hit → 3 hits
    expect(await lfuHits([1, 1, 2, 3, 3, 3, 2, 1], 2)).toBe(3)
  })

  it('never beats OPT', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 12 }),
        async (keys, capacity) => {
          expect(await lfuHits(keys, capacity)).toBeLessThanOrEqual(optHits(keys, capacity))
        },
      ),
      { numRuns: 60 },
    )
  })
})
