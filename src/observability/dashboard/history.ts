/**
 * The dashboard's server-side memory: every interval it reads the snapshots, turns the change
 * since the previous ones into rates (ops/s by result, hit ratio, latency percentiles over the
 * interval, evictions/s) and keeps the points in a ring, so a page opened now still shows the
 * last minutes. Rates are computed per instance (cache + instance id) and then added up, so an
 * instance that joins or restarts never shows up as a negative rate.
 */
import { histogramQuantile, subtractHistogram, sumHistograms } from '../aggregate.js'
import type { CacheSnapshot, HistogramData } from '../types.js'

/** The results a read can have, as the dashboard charts them. */
export const RESULTS = ['l1', 'l2', 'origin', 'stale', 'miss'] as const
export type ReadResult = (typeof RESULTS)[number]

/** One cache (or all caches: group `*`) at one moment. Rates are per second over the last interval; null when there was nothing to measure. */
export interface GroupPoint {
  /** Reads answered by a tier / reads, over the interval. */
  readonly hitRatio: number | null
  /** getOrSet/get calls per second by the tier that answered. */
  readonly ops: Readonly<Record<ReadResult, number | null>>
  /** Latency percentiles of getOrSet/get over the interval, in milliseconds. */
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
  readonly l1Entries: number
  readonly l1Bytes: number
  /** Redis used_memory and maxmemory (the largest any instance reported; they share one Redis). */
  readonly redisUsedBytes: number | null
  readonly redisMaxBytes: number | null
  /** L1 evictions plus Redis evicted keys, per second. */
  readonly evictionsPerSecond: number | null
  /** 0 closed, 1 half-open, 2 open (the worst instance); null without an L2. */
  readonly breaker: number | null
  readonly instances: number
}

export interface HistoryPoint {
  /** ms since the epoch. */
  readonly t: number
  /** By cache name, plus `*` for all caches together. */
  readonly groups: Readonly<Record<string, GroupPoint>>
}

export const ALL = '*'

const BREAKER = { closed: 0, 'half-open': 1, open: 2 } as const
const READ_OPERATIONS = new Set(['getOrSet', 'get'])

interface Accumulator {
  hits: number
  reads: number
  ops: Record<ReadResult, number>
  measured: boolean
  latency: HistogramData[]
  l1Entries: number
  l1Bytes: number
  redisUsed: number | null
  redisMax: number | null
  evictionRate: number
  redisEvictionRate: number | null
  breaker: number | null
  instances: number
}

function emptyAccumulator(): Accumulator {
  return {
    hits: 0,
    reads: 0,
    ops: { l1: 0, l2: 0, origin: 0, stale: 0, miss: 0 },
    measured: false,
    latency: [],
    l1Entries: 0,
    l1Bytes: 0,
    redisUsed: null,
    redisMax: null,
    evictionRate: 0,
    redisEvictionRate: null,
    breaker: null,
    instances: 0,
  }
}

const maxOrNull = (a: number | null, b: number | undefined): number | null =>
  b === undefined ? a : a === null ? b : Math.max(a, b)

/** The read latency histogram of a snapshot: getOrSet and get, all tiers. */
function readLatency(snapshot: CacheSnapshot): HistogramData | undefined {
  return sumHistograms(
    snapshot.latency.filter((s) => READ_OPERATIONS.has(s.operation)).map((s) => s.histogram),
  )
}

/** getOrSet/get calls by the tier that answered, from the latency histograms (L1 hits there are sampled estimates). */
function timedReads(snapshot: CacheSnapshot): Record<ReadResult, number> {
  const counts: Record<ReadResult, number> = { l1: 0, l2: 0, origin: 0, stale: 0, miss: 0 }
  for (const s of snapshot.latency) {
    if (READ_OPERATIONS.has(s.operation) && s.tier in counts)
      counts[s.tier as ReadResult] += s.histogram.count
  }
  return counts
}

/**
 * Reads by result between two snapshots: L1, L2 and stale from the exact counters; origin and
 * miss from the latency histograms (not sampled off the L1), or from the counters when latency is
 * off.
 */
function readsBetween(current: CacheSnapshot, previous: CacheSnapshot): Record<ReadResult, number> {
  const delta = (now: number, before: number) => Math.max(0, now - before)
  const c = current.stats
  const p = previous.stats
  const reads: Record<ReadResult, number> = {
    l1: delta(c.l1Hits, p.l1Hits),
    l2: delta(c.l2Hits, p.l2Hits),
    stale: delta(c.staleServed, p.staleServed),
    origin: 0,
    miss: 0,
  }
  if (current.latency.length > 0) {
    const now = timedReads(current)
    const before = timedReads(previous)
    reads.origin = delta(now.origin, before.origin)
    reads.miss = delta(now.miss, before.miss)
  } else {
    reads.origin = delta(c.factoryCalls, p.factoryCalls)
    reads.miss = Math.max(0, delta(c.misses, p.misses) - reads.origin)
  }
  return reads
}

function add(acc: Accumulator, current: CacheSnapshot, previous: CacheSnapshot | undefined): void {
  const { stats, health } = current
  acc.instances++
  acc.l1Entries += stats.l1Entries
  acc.l1Bytes += stats.l1Bytes
  const memory = health.l2?.memory
  acc.redisUsed = maxOrNull(acc.redisUsed, memory?.usedBytes)
  acc.redisMax = maxOrNull(acc.redisMax, memory?.maxBytes)
  acc.redisEvictionRate = maxOrNull(acc.redisEvictionRate, memory?.evictedKeysPerSecond)
  if (health.l2 !== undefined) acc.breaker = maxOrNull(acc.breaker, BREAKER[health.l2.breaker])

  const seconds = previous === undefined ? 0 : (current.at - previous.at) / 1000
  if (previous === undefined || seconds <= 0) return
  acc.measured = true
  const delta = (now: number, before: number) => Math.max(0, now - before)
  const hits = delta(stats.l1Hits, previous.stats.l1Hits) + delta(stats.l2Hits, previous.stats.l2Hits)
  acc.hits += hits
  acc.reads += hits + delta(stats.misses, previous.stats.misses)
  const reads = readsBetween(current, previous)
  for (const result of RESULTS) acc.ops[result] += reads[result] / seconds
  acc.evictionRate += delta(stats.l1Evictions, previous.stats.l1Evictions) / seconds
  const latency = readLatency(current)
  if (latency !== undefined) acc.latency.push(subtractHistogram(latency, readLatency(previous)))
}

function finish(acc: Accumulator): GroupPoint {
  const latency = sumHistograms(acc.latency)
  const hasLatency = latency !== undefined && latency.count > 0
  const ms = (q: number) => (hasLatency ? histogramQuantile(latency, q) * 1000 : null)
  const ops = {} as Record<ReadResult, number | null>
  for (const result of RESULTS) ops[result] = acc.measured ? acc.ops[result] : null
  return {
    hitRatio: acc.reads > 0 ? acc.hits / acc.reads : null,
    ops,
    p50: ms(0.5),
    p95: ms(0.95),
    p99: ms(0.99),
    l1Entries: acc.l1Entries,
    l1Bytes: acc.l1Bytes,
    redisUsedBytes: acc.redisUsed,
    redisMaxBytes: acc.redisMax,
    evictionsPerSecond: acc.measured ? acc.evictionRate + (acc.redisEvictionRate ?? 0) : null,
    breaker: acc.breaker,
    instances: acc.instances,
  }
}

/** A ring of points, fed with successive rounds of snapshots. */
export class History {
  readonly #capacity: number
  readonly #points: HistoryPoint[] = []
  /** Per instance: its latest snapshot and the one before it. */
  #seen = new Map<string, { current: CacheSnapshot; previous: CacheSnapshot | undefined }>()

  constructor(capacity: number) {
    this.#capacity = Math.max(1, Math.floor(capacity))
  }

  /** Adds the point for this round of snapshots (one per live instance) and returns it. */
  record(snapshots: readonly CacheSnapshot[], t: number): HistoryPoint {
    const groups = new Map<string, Accumulator>([[ALL, emptyAccumulator()]])
    const seen = new Map<string, { current: CacheSnapshot; previous: CacheSnapshot | undefined }>()
    for (const snapshot of snapshots) {
      const id = `${snapshot.cache}\u0000${snapshot.instance}`
      const known = this.#seen.get(id)
      // A published snapshot seen again (none newer arrived since the last round) repeats the
      // rates of its own interval rather than reading as a gap.
      const pair =
        known === undefined
          ? { current: snapshot, previous: undefined }
          : snapshot.at > known.current.at
            ? { current: snapshot, previous: known.current }
            : known
      seen.set(id, pair)
      let group = groups.get(snapshot.cache)
      if (group === undefined) {
        group = emptyAccumulator()
        groups.set(snapshot.cache, group)
      }
      add(group, pair.current, pair.previous)
      add(groups.get(ALL)!, pair.current, pair.previous)
    }
    this.#seen = seen
    // Strictly increasing: two points recorded within one millisecond would share a time, and a
    // page asking for the points after the first (`since`) would never get the second.
    const last = this.#points[this.#points.length - 1]
    const point: HistoryPoint = {
      t: last === undefined || t > last.t ? t : last.t + 1,
      groups: Object.fromEntries([...groups].map(([name, acc]) => [name, finish(acc)])),
    }
    this.#points.push(point)
    if (this.#points.length > this.#capacity) this.#points.splice(0, this.#points.length - this.#capacity)
    return point
  }

  /** The points recorded after `since` (ms since the epoch), oldest first. */
  since(since = 0): HistoryPoint[] {
    if (since <= 0) return this.#points.slice()
    let start = this.#points.length
    while (start > 0 && this.#points[start - 1]!.t > since) start--
    return this.#points.slice(start)
  }
}
