import { createPolicy, type EvictionPolicy, POLICY_NAMES, type PolicyName } from '../eviction/index.js'
import { hashTraceKey, type TraceKey } from './hash.js'
import { computeNextUses, optHitCounts } from './opt.js'
import { ArcPolicy } from './policies/arc.js'
import { readTraceBatches, type TraceFormat, type TraceReadOptions } from './readers/index.js'
import { SimulatedCache } from './sim-cache.js'
import {
  describeSyntheticSpec,
  parseSyntheticSpec,
  type SyntheticSpec,
  syntheticBatches,
} from './synthetic.js'

/** Builds the policy named `name` for `capacity` resident entries; throws for a name it does not know. */
export type PolicyFactory = (name: string, capacity: number) => EvictionPolicy

/** The name of Bélády's clairvoyant optimum, computed offline rather than by a policy. */
export const OPT = 'opt'

/** A reference policy the simulator offers for comparison but the L1 does not (see policies/arc.ts). */
export const ARC = 'arc'

/** Every policy the default factory builds, and `opt`. */
export const SIMULATED_POLICIES: readonly string[] = [...POLICY_NAMES, ARC, OPT]

/** The eviction policies of src/eviction, by name, and the simulator's reference policies. */
export const defaultPolicyFactory: PolicyFactory = (name, capacity) => {
  if (name === ARC) return new ArcPolicy(capacity)
  if (!(POLICY_NAMES as readonly string[]).includes(name)) {
    throw new RangeError(`Unknown policy '${name}': use one of ${SIMULATED_POLICIES.join(', ')}.`)
  }
  return createPolicy(name as PolicyName, capacity)
}

/** A cache size: an absolute number of entries, or a percentage of the trace's distinct keys. */
export interface CacheSize {
  /** As written: `1000`, `0.1%`. */
  readonly label: string
  readonly value: number
  readonly percent: boolean
}

/** `1000`, `1e4`, `10_000`, `10k` → entries; `0.1%` → a share of the distinct keys. */
export function parseCacheSize(text: string | number): CacheSize {
  if (typeof text === 'number') {
    if (!Number.isInteger(text) || text < 1)
      throw new RangeError(`A cache size must be an integer ≥ 1; got ${text}.`)
    return { label: String(text), value: text, percent: false }
  }
  const trimmed = text.trim()
  if (trimmed.endsWith('%')) {
    const value = Number(trimmed.slice(0, -1).trim())
    if (!(value > 0 && value <= 100)) {
      throw new RangeError(`A percentage cache size must be above 0% and at most 100%; got '${text}'.`)
    }
    return { label: trimmed, value, percent: true }
  }
  const match = /^([0-9._eE+]+)([kKmM]?)$/.exec(trimmed)
  const scale = match?.[2] === '' ? 1 : match?.[2]?.toLowerCase() === 'k' ? 1e3 : 1e6
  const value = match ? Number((match[1] as string).replace(/_/g, '')) * scale : Number.NaN
  if (!Number.isInteger(value) || value < 1 || value > 2 ** 30) {
    throw new RangeError(
      `A cache size must be a whole number of entries (1 to 2^30) or a percentage like 0.1%; got '${text}'.`,
    )
  }
  return { label: trimmed, value, percent: false }
}

/** The number of entries `size` means for a trace with `distinct` keys (a percentage rounds, to at least 1). */
export function resolveCapacity(size: CacheSize, distinct: number): number {
  return size.percent ? Math.max(1, Math.round((distinct * size.value) / 100)) : size.value
}

/** Where the keys come from: a file, a synthetic workload, an array. */
export interface TraceSource {
  /** For reports: the file, or the workload. */
  readonly name: string
  /** Lines of the file that could not be read and were skipped, counted as it is read. */
  readonly skipped?: SkippedLines
  /** The keys in batches; `onProgress(done, total)` counts in the source's own unit (bytes, requests). */
  batches(
    onProgress?: (done: number, total: number) => void,
  ): AsyncIterable<readonly TraceKey[]> | Iterable<readonly TraceKey[]>
}

/**
 * Lines a trace's reader skipped: how many, and the first (line number and why). A simulation
 * that silently replays fewer requests than the file holds would report another workload's hit
 * ratio: the CLI says how many were left out.
 */
export class SkippedLines {
  count = 0
  first: { readonly line: number; readonly reason: string } | undefined

  add(line: number, reason: string): void {
    if (this.count++ === 0) this.first = { line, reason }
  }
}

/** A trace file read in `format` (streamed, gunzipped when it ends in `.gz`). */
export function fileTraceSource(
  path: string,
  format: TraceFormat,
  options: TraceReadOptions = {},
): TraceSource {
  const skipped = new SkippedLines()
  const onMalformed = (line: number, reason: string) => skipped.add(line, reason)
  return {
    name: path,
    skipped,
    batches: (onProgress) =>
      readTraceBatches(path, format, {
        ...options,
        onMalformed,
        ...(onProgress === undefined ? {} : { onProgress }),
      }),
  }
}

/** A synthetic workload (see src/simulation/synthetic.ts for the spec grammar), the same for the same seed. */
export function syntheticTraceSource(spec: SyntheticSpec | string, seed = 1): TraceSource {
  const parsed = typeof spec === 'string' ? parseSyntheticSpec(spec) : spec
  return {
    name: `${describeSyntheticSpec(parsed)} seed=${seed}`,
    *batches(onProgress) {
      let done = 0
      for (const batch of syntheticBatches(parsed, seed)) {
        yield batch
        done += batch.length
        onProgress?.(done, parsed.requests)
      }
    },
  }
}

/** Keys already in memory. */
export function keysTraceSource(keys: readonly TraceKey[], name = 'keys'): TraceSource {
  return {
    name,
    *batches(onProgress) {
      const batch = 65536
      for (let i = 0; i < keys.length; i += batch) {
        yield keys.slice(i, i + batch)
        onProgress?.(Math.min(keys.length, i + batch), keys.length)
      }
    },
  }
}

export interface SimulationProgress {
  /** `read`: the trace (done/total in the source's unit); `replay`: requests × caches; `opt`: OPT passes. */
  readonly phase: 'read' | 'replay' | 'opt'
  readonly done: number
  readonly total: number
}

export interface SimulateOptions {
  /** Policy names for {@link policyFactory}, and/or `opt`. */
  readonly policies: readonly string[]
  /** Entries (`1000`) or percentages of the distinct keys (`'0.1%'`). */
  readonly sizes: readonly (string | number | CacheSize)[]
  /** Default: {@link defaultPolicyFactory}, the policies of src/eviction. */
  readonly policyFactory?: PolicyFactory
  /** Replay at most this many requests. */
  readonly limit?: number
  readonly onProgress?: (progress: SimulationProgress) => void
}

export interface PolicyResult {
  readonly policy: string
  /** The size as given (`1000`, `0.1%`). */
  readonly size: string
  readonly capacity: number
  readonly hits: number
  readonly misses: number
  /** hits / requests, from 0 to 1 (0 for an empty trace). */
  readonly hitRatio: number
  /** Time spent replaying for this (policy, size), excluding reading the trace. */
  readonly elapsedMs: number
}

export interface SimulationResult {
  readonly source: string
  readonly requests: number
  readonly distinctKeys: number
  readonly policies: readonly string[]
  readonly sizes: readonly { readonly size: string; readonly capacity: number }[]
  /** One per (policy, size): policies in the order given, sizes in the order given within each. */
  readonly results: readonly PolicyResult[]
  /** Wall time of the whole simulation, reading included. */
  readonly elapsedMs: number
  /** `stream`: one pass, caches fed as the trace is read; `replay`: the trace was kept as ids first (OPT or percentage sizes). */
  readonly mode: 'stream' | 'replay'
}

/** A growable Int32Array. */
class IntVector {
  data: Int32Array
  length = 0
  constructor(initial = 1024) {
    this.data = new Int32Array(initial)
  }
  reserve(extra: number): void {
    if (this.length + extra <= this.data.length) return
    let capacity = this.data.length * 2
    while (capacity < this.length + extra) capacity *= 2
    const bigger = new Int32Array(capacity)
    bigger.set(this.data.subarray(0, this.length))
    this.data = bigger
  }
}

const REPLAY_CHUNK = 1 << 20
/** Requests read before the caches are fed, when streaming. */
const STREAM_FLUSH = 1 << 20

/**
 * Replays one trace through every (policy, size) pair at once: the trace is read once, its keys are
 * numbered densely as they come (one Map lookup per request, whatever the number of caches), and
 * each id goes to every {@link SimulatedCache}. Counts a hit when the key is resident, cold start,
 * every request counted.
 *
 * Without `opt` and with absolute sizes only, the caches are fed while the trace is read (memory:
 * O(distinct keys + capacities)). With `opt` (which needs the future) or a percentage size (which
 * needs the distinct count), the trace is first kept as an Int32Array of ids (4 bytes a request,
 * 8 with OPT) and replayed from memory.
 */
export async function simulate(source: TraceSource, options: SimulateOptions): Promise<SimulationResult> {
  const started = performance.now()
  const factory = options.policyFactory ?? defaultPolicyFactory
  const policies = [...new Set(options.policies)]
  if (policies.length === 0) throw new RangeError('Name at least one policy to simulate.')
  const sizes = options.sizes.map((size) => (typeof size === 'object' ? size : parseCacheSize(size)))
  if (sizes.length === 0) throw new RangeError('Give at least one cache size.')
  const limit = options.limit ?? Number.POSITIVE_INFINITY
  const withOpt = policies.includes(OPT)
  const keep = withOpt || sizes.some((size) => size.percent)
  const onProgress = options.onProgress

  // Fail fast on unknown names, before reading anything.
  for (const name of policies) if (name !== OPT) factory(name, 1)

  const makeCaches = (capacities: readonly number[]): SimulatedCache[][] =>
    policies.map((name) =>
      name === OPT ? [] : capacities.map((capacity) => new SimulatedCache(factory(name, capacity), capacity)),
    )

  const index = new Map<TraceKey, number>()
  const hashes = new IntVector()
  // The ids read so far: the whole trace when it is kept, else the requests not yet fed to the
  // caches. Feeding each cache a long run at a time keeps its arrays in the CPU's caches.
  const ids = new IntVector(keep ? 1 << 16 : STREAM_FLUSH + (1 << 16))
  let requests = 0
  let caches: SimulatedCache[][] | undefined
  let flat: SimulatedCache[] = []
  if (!keep) {
    caches = makeCaches(sizes.map((size) => size.value))
    flat = caches.flat()
  }
  const flush = (): void => {
    for (const cache of flat) cache.replay(ids.data, 0, ids.length, hashes.data)
    ids.length = 0
  }

  const readProgress =
    onProgress === undefined
      ? undefined
      : (done: number, total: number) => onProgress({ phase: 'read', done, total })
  for await (const batch of source.batches(readProgress)) {
    const count = Math.min(batch.length, limit - requests)
    ids.reserve(count)
    const data = ids.data
    const offset = ids.length
    for (let j = 0; j < count; j++) {
      const key = batch[j] as TraceKey
      let id = index.get(key)
      if (id === undefined) {
        id = index.size
        index.set(key, id)
        hashes.reserve(1)
        hashes.data[hashes.length++] = hashTraceKey(key)
      }
      data[offset + j] = id
    }
    ids.length += count
    requests += count
    if (!keep && ids.length >= STREAM_FLUSH) flush()
    if (requests >= limit) break
  }
  if (!keep) flush()
  const sequence = keep ? ids : undefined
  const distinct = index.size
  index.clear()

  const capacities = sizes.map((size) => resolveCapacity(size, distinct))
  let optHits: number[] = []
  const optElapsed: number[] = []
  if (sequence !== undefined) {
    caches = makeCaches(capacities)
    flat = caches.flat()
    const total = requests * flat.length
    let done = 0
    for (const cache of flat) {
      for (let from = 0; from < requests; from += REPLAY_CHUNK) {
        const to = Math.min(requests, from + REPLAY_CHUNK)
        cache.replay(sequence.data, from, to, hashes.data)
        done += to - from
        onProgress?.({ phase: 'replay', done, total })
      }
    }
    if (withOpt) {
      const passes = capacities.length + 1
      onProgress?.({ phase: 'opt', done: 0, total: passes })
      const nextUses = computeNextUses(sequence.data, requests, distinct)
      onProgress?.({ phase: 'opt', done: 1, total: passes })
      optHits = capacities.map((capacity, i) => {
        const t = performance.now()
        const hits = optHitCounts(sequence.data, requests, distinct, [capacity], nextUses)[0] as number
        optElapsed.push(performance.now() - t)
        onProgress?.({ phase: 'opt', done: i + 2, total: passes })
        return hits
      })
    }
  }

  const results: PolicyResult[] = []
  policies.forEach((policy, p) => {
    sizes.forEach((size, s) => {
      const capacity = capacities[s] as number
      const cache = caches?.[p]?.[s]
      const hits = policy === OPT ? (optHits[s] as number) : (cache as SimulatedCache).hits
      results.push({
        policy,
        size: size.label,
        capacity,
        hits,
        misses: requests - hits,
        hitRatio: requests === 0 ? 0 : hits / requests,
        elapsedMs: policy === OPT ? (optElapsed[s] as number) : (cache as SimulatedCache).elapsedMs,
      })
    })
  })

  return {
    source: source.name,
    requests,
    distinctKeys: distinct,
    policies,
    sizes: sizes.map((size, s) => ({ size: size.label, capacity: capacities[s] as number })),
    results,
    elapsedMs: performance.now() - started,
    mode: keep ? 'replay' : 'stream',
  }
}
