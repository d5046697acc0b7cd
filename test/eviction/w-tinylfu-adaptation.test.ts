import { describe, expect, it } from 'vitest'
import type { EvictionPolicy } from '../../dist/eviction/index.js'
import { createPolicy, WTinyLfuPolicy } from '../../dist/eviction/index.js'
import { hashNumber, SimulatedCache } from '../../dist/simulation/index.js'
import { ArcPolicy } from '../../dist/simulation/policies/arc.js'
import { syntheticKeys } from '../../dist/simulation/synthetic.js'

/**
 * A recency-heavy workload at a large size (20% of its ~300,000 distinct keys): 60% of the
 * requests are new keys, the rest re-read a key from up to 100,000 requests back, every distance
 * equally likely. Counts of who was popular long ago say nothing here; what was read recently does.
 * One of the tuning set's workloads (bench/adaptation.js; docs/eviction.md).
 */
const RECENCY_HEAVY = 'recent:0.6:1e5:5e5:theta=0'

interface DenseTrace {
  sequence: Int32Array
  hashes: Int32Array
  distinct: number
}

/** The workload as dense ids with their hashes, as the simulator replays it. */
function denseTrace(spec: string, seed = 1): DenseTrace {
  const ids = new Map<number, number>()
  const sequence = Int32Array.from(syntheticKeys(spec, seed), (key) => {
    let id = ids.get(key)
    if (id === undefined) {
      id = ids.size
      ids.set(key, id)
    }
    return id
  })
  const hashes = new Int32Array(ids.size)
  for (const [key, id] of ids) hashes[id] = hashNumber(key)
  return { sequence, hashes, distinct: ids.size }
}

/** The hit ratio (%) of `policy` in a cache of `capacity` entries replaying `trace`. */
function hitRatio(trace: DenseTrace, capacity: number, policy: EvictionPolicy): number {
  const cache = new SimulatedCache(policy, capacity)
  cache.replay(trace.sequence, 0, trace.sequence.length, trace.hashes)
  return (100 * cache.hits) / trace.sequence.length
}

describe('W-TinyLFU adaptation on a recency-heavy workload at a large size', () => {
  // About 4 s of CPU (500,000 requests through two policies); the timeout leaves room for a
  // machine shared by many test runs (65 s of wall time measured at a load average of 24 on 2 cores).
  it('grows the window to most of the cache and stays within 1.5 points of ARC', { timeout: 300_000 }, () => {
    const trace = denseTrace(RECENCY_HEAVY)
    const capacity = Math.round(trace.distinct * 0.2)
    expect(capacity).toBeGreaterThan(50_000)
    const wTinyLfu = new WTinyLfuPolicy(capacity)
    const adaptive = hitRatio(trace, capacity, wTinyLfu)
    expect(wTinyLfu.windowShare).toBeGreaterThan(0.5)
    expect(adaptive).toBeGreaterThanOrEqual(hitRatio(trace, capacity, new ArcPolicy(capacity)) - 1.5)
  })
})

describe('W-TinyLFU adaptation restarts when the workload changes', () => {
  /**
   * A hot set of 1,000 keys (90% of the requests) replaced by a new one every 10,000 requests, in a
   * cache of 970 entries (5% of the keys): each phase asks for a window of another size, at once.
   * Without the restart (ghost steps 4× larger after the hit ratio moves by 5 points), the window
   * reached the new balance a phase late and the default fell below LRU (66.83 against 67.09); with
   * it, 68.44. One of the tuning set's workloads.
   */
  it('stays above LRU on a hot set replaced every 10 × capacity requests', () => {
    const trace = denseTrace('shifting:1000')
    const capacity = Math.round(trace.distinct * 0.05)
    expect(capacity).toBeLessThan(1000)
    expect(hitRatio(trace, capacity, new WTinyLfuPolicy(capacity))).toBeGreaterThan(
      hitRatio(trace, capacity, createPolicy('lru', capacity)),
    )
  })
})

describe('W-TinyLFU adaptation on a frequency-heavy workload at a large size', () => {
  /**
   * Zipf 0.8 over 100,000 keys plus 30% one-hit wonders, at 10% of its ~368,000 distinct keys
   * (36,766 entries; the cdn row of bench/hit-ratios.js). Keys admission refused come back here
   * because they are popular, not recent: they skip admission instead of growing the window (with
   * ARC's ghost depths alone the window settled at 30% and the default fell 4 points below ARC;
   * with the first round's fixed depths it wandered to a quarter of the cache, 2 below).
   */
  it('keeps the window small and stays within 1.5 points of ARC', { timeout: 300_000 }, () => {
    const trace = denseTrace('cdn:0.8:1e5', 42)
    const capacity = Math.round(trace.distinct * 0.1)
    expect(capacity).toBeGreaterThan(30_000)
    const wTinyLfu = new WTinyLfuPolicy(capacity)
    const adaptive = hitRatio(trace, capacity, wTinyLfu)
    expect(wTinyLfu.windowShare).toBeLessThan(0.1)
    expect(adaptive).toBeGreaterThanOrEqual(hitRatio(trace, capacity, new ArcPolicy(capacity)) - 1.5)
  })
})

/** Issue 22's bar at `capacity`: within 1.5 points of the better of LRU and ARC, never 2 below LRU. */
function bar(trace: DenseTrace, capacity: number): number {
  const lru = hitRatio(trace, capacity, createPolicy('lru', capacity))
  const arc = hitRatio(trace, capacity, new ArcPolicy(capacity))
  return Math.max(lru - 2, Math.max(lru, arc) - 1.5)
}

/**
 * Replays `spec` (seed `seed`) in a cache of `share` of its distinct keys (fewer than `below`
 * entries: a small cache) and expects the default within issue 22's bar there.
 */
function expectWithinBar(spec: string, seed: number, share: number, below: number): void {
  const trace = denseTrace(spec, seed)
  const capacity = Math.round(trace.distinct * share)
  expect(capacity).toBeLessThan(below)
  expect(hitRatio(trace, capacity, new WTinyLfuPolicy(capacity))).toBeGreaterThanOrEqual(bar(trace, capacity))
}

describe('W-TinyLFU adaptation on a drifting working set in a small cache', () => {
  /**
   * A working set of 10,000 keys read uniformly (90% of the requests) while it moves on by one new
   * key every 10 requests, in a cache of 1,710 entries (1% of the keys; a tuning-set row of
   * bench/adaptation.js). The window settles between 1% and 20% of the cache: before issue 22's
   * third round (the protected share by the window's regime) the default fell 0.80 below the bar
   * (12.15 against 12.95); with it, 13.29.
   */
  it('stays within 1.5 points of ARC and 2 of LRU at 1% of the keys', () => {
    expectWithinBar('drift:10000', 1, 0.01, 10_000)
  })
})

describe('W-TinyLFU adaptation on a drifting working set in its recency regime', () => {
  /**
   * A working set of 6,000 keys read uniformly (90% of the requests) while it moves on by one new
   * key every 12.5 requests, in a cache of 4,535 entries (5% of the keys; a held-out row of
   * bench/adaptation.js). The window settles past the recency share (22%), where the cache plays
   * ARC: an entry that leaves the window unread is evicted instead of contesting main's victim,
   * and a key back from the main ghosts is promoted. Before that (issue 22's fourth round) the
   * default fell 0.62 below the bar (57.02 against 57.64); with it, 57.81. No fixed window reaches
   * the bar (the best, 40%, scores 57.22).
   */
  it('stays within 1.5 points of ARC and 2 of LRU at 5% of the keys', () => {
    expectWithinBar('drift:6000:0.08', 11, 0.05, 10_000)
  })
})

describe('W-TinyLFU adaptation on a hot set replaced every phase, held in its recency regime', () => {
  /**
   * `shifting:1000` at 5% of its keys (970 entries; a tuning-set row of bench/adaptation.js): a hot
   * set of 1,000 keys read uniformly (90% of the requests) and replaced every 10,000 requests. At
   * each phase's start the window grows to the whole cache; within the phase ARC's recency target
   * falls to near zero and its frequency list keeps nearly the whole hot set. Before issue 22's
   * fifth round (window hits promoted at once in the recency regime, the regime held below its
   * share while its sampled hit ratio holds) the default fell 1.78 below the bar (68.76 against
   * 70.54); with it, 70.99, and 70.97 after the sixth round (promotion while held only after a
   * phase change).
   */
  it('stays within 1.5 points of ARC and 2 of LRU at 5% of the keys', () => {
    expectWithinBar('shifting:1000', 1, 0.05, 1000)
  })
})
