import { createPolicy, POLICY_NAMES, type PolicyName } from '../eviction/index.js'
import { SimulatedCache } from '../simulation/sim-cache.js'

/** A read sequence ready for replays: dense ids 0…distinct-1 and each id's 32-bit hash. */
export interface ReplayTrace {
  readonly ids: Int32Array
  readonly hashes: Int32Array
  readonly distinct: number
  /** The sampling rate the sequence represents: cache sizes are scaled by it. */
  readonly rate: number
}

/** Renumbers sparse sample ids densely (first appearance order), keeping the reads `keep` accepts. */
export function denseTrace(
  ids: Int32Array,
  hashes: Uint32Array,
  rate: number,
  keep: (i: number) => boolean = () => true,
): ReplayTrace {
  const map = new Map<number, number>()
  const out = new Int32Array(ids.length)
  const outHashes: number[] = []
  let n = 0
  for (let i = 0; i < ids.length; i++) {
    if (!keep(i)) continue
    const id = ids[i] as number
    let dense = map.get(id)
    if (dense === undefined) {
      dense = map.size
      map.set(id, dense)
      outHashes.push((hashes[i] as number) | 0)
    }
    out[n++] = dense
  }
  return { ids: out.subarray(0, n), hashes: Int32Array.from(outHashes), distinct: map.size, rate }
}

/** The simulated capacity for a cache of `size` entries on a trace sampled at `rate` (at least 1). */
export function scaledCapacity(size: number, rate: number): number {
  return Math.max(1, Math.round(size * rate))
}

/**
 * Hit ratio of `policy` with `size` entries over the trace, through the simulator's cache (the L1's
 * policies, unit-size entries). On a sampled trace the cache is scaled down by the same rate
 * ("miniature simulation", Waldspurger et al., USENIX ATC 2017).
 */
export function simulateHitRatio(trace: ReplayTrace, policy: PolicyName, size: number): number {
  if (trace.ids.length === 0) return 0
  const capacity = scaledCapacity(size, trace.rate)
  const cache = new SimulatedCache(createPolicy(policy, capacity), capacity)
  cache.replay(trace.ids, 0, trace.ids.length, trace.hashes)
  return cache.hits / trace.ids.length
}

export interface PolicyCurve {
  readonly policy: PolicyName
  readonly points: readonly { readonly size: number; readonly hitRatio: number }[]
}

/** Cache sizes from 16 entries (or fewer for tiny key sets) doubling up to the distinct keys. */
export function sizeLadder(distinct: number): number[] {
  const sizes: number[] = []
  for (let size = Math.min(16, Math.max(1, Math.floor(distinct / 4))); size < distinct; size *= 2)
    sizes.push(size)
  if (distinct >= 1) sizes.push(distinct)
  return sizes
}

/** Every L1 policy at every size (one replay each). */
export function policyCurves(trace: ReplayTrace, sizes: readonly number[]): PolicyCurve[] {
  return POLICY_NAMES.map((policy) => ({
    policy,
    points: sizes.map((size) => ({ size, hitRatio: simulateHitRatio(trace, policy, size) })),
  }))
}

export { POLICY_NAMES, type PolicyName }
