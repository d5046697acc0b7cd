/**
 * The observability contracts: what `cache.snapshot()` and `cache.health()` return, and what the
 * Prometheus, OpenTelemetry and dashboard adapters read. The core fills them; the adapters never
 * reach into the cache's internals. Durations are in seconds (Prometheus' base unit), times in ms
 * since the epoch.
 */
import type { CacheStats } from './stats.js'

/** The operations the cache times. */
export type OperationName =
  /** A whole `getOrSet`/`get` call, labelled by the tier that answered it. */
  | 'getOrSet'
  | 'get'
  | 'set'
  | 'delete'
  | 'invalidate'
  /** One run of a user's factory (the origin). */
  | 'factory'
  /** One call to the L2 (Redis), reads and writes: `tier` is 'l2'. */
  | 'l2'

/**
 * Which tier answered, for reads: 'l1', 'l2', 'origin' (the factory ran), 'stale' (a stale value
 * was served), 'miss' (`get` found nothing). For other operations: 'all'.
 */
export type TierLabel = 'l1' | 'l2' | 'origin' | 'stale' | 'miss' | 'all'

/** Every tier label, for adapters that declare label values up front. */
export const TIER_LABELS: readonly TierLabel[] = ['l1', 'l2', 'origin', 'stale', 'miss', 'all']

/**
 * A latency histogram. `bounds` are the upper bounds (seconds, ascending) of the Prometheus
 * buckets; `counts[i]` is how many observations fell in bucket i, NOT cumulative; the last entry of
 * `counts` is the +Inf bucket (so `counts.length === bounds.length + 1`).
 */
export interface HistogramData {
  readonly bounds: readonly number[]
  readonly counts: readonly number[]
  readonly count: number
  /** Sum of the observed durations, in seconds. */
  readonly sum: number
}

export interface LatencySeries {
  readonly operation: OperationName
  readonly tier: TierLabel
  readonly histogram: HistogramData
  /** Percentiles in seconds, interpolated in fine internal buckets (relative error ≤ 12%). 0 when empty. */
  readonly p50: number
  readonly p95: number
  readonly p99: number
}

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy'

export type AlertName =
  /** The hit ratio over the window is below `alerts.hitRatioBelow` (default 0.7). */
  | 'low-hit-ratio'
  /** Redis used_memory / maxmemory, or the L1's bytes or entries over its bound, is above `alerts.memoryAbove` (default 0.9). */
  | 'memory-high'
  /** L1 evictions plus Redis evicted_keys per second above `alerts.evictionsPerSecondAbove` (default 10). */
  | 'evictions-high'
  /** The p99 of getOrSet/get over the window is above `alerts.p99Above` (default 5 ms). */
  | 'latency-high'
  /** The L2 breaker is open or Redis does not answer. */
  | 'l2-unavailable'
  /** Redis has no maxmemory, or a `noeviction` policy, while the cache relies on Redis evicting. */
  | 'redis-eviction-misconfigured'
  /** Nothing heard on the invalidation bus for `bus.maxSilence`: the L1 is unverified (reads go to the L2). */
  | 'bus-silent'

export interface Alert {
  readonly name: AlertName
  readonly severity: 'warning' | 'critical'
  /** What is wrong and what to do, in one sentence. */
  readonly message: string
  /** The measured value and the threshold it crossed (ratios in [0, 1], rates per second, seconds). */
  readonly value: number
  readonly threshold: number
  /** When it started firing (ms since the epoch). */
  readonly since: number
}

export interface RedisMemory {
  /**
   * When Redis answered the INFO these figures come from (ms since the epoch). Figures Redis no
   * longer confirms (its last INFO failed, or it is older than 3 times the cadence of the reads)
   * are not reported: `memory` is then absent.
   */
  readonly readAt: number
  readonly usedBytes: number
  /** 0 when Redis has no limit. */
  readonly maxBytes: number
  readonly policy: string
  /** usedBytes / maxBytes, or 0 without a limit. */
  readonly usage: number
  /** Redis' evicted_keys per second over the window. */
  readonly evictedKeysPerSecond: number
}

export interface CacheHealth {
  readonly cache: string
  readonly status: HealthStatus
  readonly checkedAt: number
  /** Rates and ratios over the sliding window (default the last 60 s). */
  readonly window: {
    readonly seconds: number
    readonly operations: number
    readonly opsPerSecond: number
    /** Hits / (hits + misses) over the window; 1 when there were no reads. */
    readonly hitRatio: number
    readonly evictionsPerSecond: number
    /** p99 of getOrSet and get calls over the window, in seconds. */
    readonly p99: number
  }
  readonly l1?: {
    readonly entries: number
    readonly bytes: number
    readonly maxEntries: number
    readonly maxBytes: number
    /** The larger of entries/maxEntries and bytes/maxBytes. */
    readonly usage: number
  }
  readonly l2?: {
    /**
     * True once Redis confirmed it answers (the last `health()` INFO answered) while the breaker
     * is closed. False while it does not answer (with the `l2-unavailable` alert), and before
     * the first `health()` call: nothing confirmed it yet, nothing failed (no alert). A tier
     * without INFO is judged by its breaker alone.
     */
    readonly connected: boolean
    /** The breaker's state; on a Redis Cluster, the worst over its masters' breakers. */
    readonly breaker: 'closed' | 'open' | 'half-open'
    /** On a Redis Cluster: each master (`host:port`) of the client's slot table and its own breaker's state. */
    readonly masters?: readonly {
      readonly address: string
      readonly breaker: 'closed' | 'open' | 'half-open'
    }[]
    /** While not connected: the connection's last error, e.g. `connect ECONNREFUSED 127.0.0.1:6379` or `WRONGPASS …`. */
    readonly error?: string
    /** From Redis `INFO memory` (absent when the tier is not Redis, or Redis no longer confirms its figures: see `RedisMemory.readAt`). */
    readonly memory?: RedisMemory
  }
  readonly alerts: readonly Alert[]
  /** Configuration advice that is not an alert (e.g. Redis has no maxmemory). */
  readonly warnings: readonly string[]
}

/** A key group (the key with its ids replaced by placeholders) and its share of sampled reads. */
export interface KeyGroupCount {
  readonly group: string
  /** Reads of this group among the most recent ones (up to 8,192) the cache keeps. */
  readonly count: number
  readonly share: number
}

/** Everything an instance reports at one moment: what the dashboard charts and instances publish. */
export interface CacheSnapshot {
  readonly cache: string
  /** This instance's id (random per process and cache). */
  readonly instance: string
  readonly at: number
  readonly stats: CacheStats
  readonly latency: readonly LatencySeries[]
  readonly health: CacheHealth
  /** The hottest key groups among the most recent reads (bounded: at most 20). */
  readonly hotKeyGroups: readonly KeyGroupCount[]
  /** In published snapshots: the instance's latest `diagnose()` (recomputed at most every 30 s). */
  readonly diagnosis?: Diagnosis
}

export type FindingKind =
  | 'ttl-too-short'
  | 'evictions-high'
  | 'redis-evicting'
  | 'cardinality-explosion'
  | 'near-duplicate-keys'
  | 'one-hit-wonders'
  | 'l2-unavailable'

export interface Finding {
  readonly kind: FindingKind
  readonly severity: 'info' | 'warning'
  /** What is wrong, with the numbers. */
  readonly message: string
  /** What to change. */
  readonly suggestion: string
  /** The numbers behind it (groups are keys with their ids replaced: never a user's key). */
  readonly evidence: Readonly<Record<string, number | string>>
}

export interface Diagnosis {
  readonly cache: string
  readonly at: number
  /** Hit ratio over the health window, and since the cache was created. */
  readonly hitRatio: { readonly window: number; readonly overall: number }
  /** How many recent reads the evidence comes from. */
  readonly sampledReads: number
  readonly findings: readonly Finding[]
}
