/**
 * The check of a snapshot received from another process (the stats channel): foreign input, from
 * another version, a buggy publisher or anyone who may PUBLISH on the Redis. Everything the
 * dashboard, the Prometheus adapter and `stratacache diagnose` read is checked here, so that none
 * of them meets a missing field, a string where a number goes, Infinity (`1e999` in JSON) or a
 * label value a peer made up; a snapshot that fails is dropped whole. The result is a new object
 * holding only the known fields: nothing else a peer sent is passed on.
 */
import { PROMETHEUS_BOUNDS } from './histogram.js'
import type { CacheStats } from './stats.js'
import {
  type Alert,
  type AlertName,
  type CacheHealth,
  type CacheSnapshot,
  type Diagnosis,
  type Finding,
  type HistogramData,
  type KeyGroupCount,
  type LatencySeries,
  type OperationName,
  TIER_LABELS,
  type TierLabel,
} from './types.js'

/** Refusal of one field: caught by {@link checkSnapshot}, which drops the snapshot. */
class Malformed extends Error {}

type Json = Record<string, unknown>

/** Every stats field (all numbers), as a record so that a new one fails to compile until listed. */
const STAT_FIELDS: Readonly<Record<keyof CacheStats, true>> = {
  l1Hits: true,
  l1Misses: true,
  l2Hits: true,
  l2Misses: true,
  missesAfterExpiry: true,
  missesAfterEviction: true,
  misses: true,
  hits: true,
  factoryCalls: true,
  factoryErrors: true,
  sets: true,
  deletes: true,
  l2Errors: true,
  l2Timeouts: true,
  l2ConnectionErrors: true,
  decodeErrors: true,
  schemaFailures: true,
  staleServed: true,
  failSafeServed: true,
  earlyRefreshes: true,
  refreshesFromL2: true,
  factoryTimeouts: true,
  lockWaits: true,
  breakerOpened: true,
  l2Skipped: true,
  l2RepairsQueued: true,
  l2Repairs: true,
  writesRefused: true,
  tagInvalidatedReads: true,
  tagInvalidations: true,
  busPublished: true,
  busMessages: true,
  busMessagesDropped: true,
  busResyncs: true,
  busSilences: true,
  l2RepairsDropped: true,
  l1Evictions: true,
  l1Expirations: true,
  l1Entries: true,
  l1Bytes: true,
  inFlight: true,
  l1HitRatio: true,
  l2HitRatio: true,
  hitRatio: true,
  breakerOpen: true,
  factorySeconds: true,
  writeBehindPending: true,
  writeBehindLagMs: true,
  writeBehindFlushed: true,
  writeBehindRetries: true,
  writeBehindDeadLettered: true,
  writeBehindRejected: true,
  writeBehindDeadLettersDropped: true,
}

const OPERATIONS: ReadonlySet<string> = new Set<OperationName>([
  'getOrSet',
  'get',
  'set',
  'delete',
  'invalidate',
  'factory',
  'l2',
])
const TIERS: ReadonlySet<string> = new Set<TierLabel>(TIER_LABELS)
const STATUSES: ReadonlySet<string> = new Set(['healthy', 'degraded', 'unhealthy'])
const BREAKERS: ReadonlySet<string> = new Set(['closed', 'open', 'half-open'])
const SEVERITIES: ReadonlySet<string> = new Set(['warning', 'critical', 'info'])

/** Bounds on lists a peer sends (an instance sends far fewer: 7 operations × 6 tiers, 20 groups). */
const MAX_SERIES = 64
const MAX_BOUNDS = 64
const MAX_LIST = 64
const MAX_HOT_GROUPS = 20
const MAX_FINDINGS = 256
const MAX_TEXT = 4096

function object(value: unknown): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Malformed()
  return value as Json
}

function list(value: unknown, max = MAX_LIST): unknown[] {
  if (!Array.isArray(value) || value.length > max) throw new Malformed()
  return value
}

function finite(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Malformed()
  return value
}

function count(value: unknown): number {
  const n = finite(value)
  if (n < 0) throw new Malformed()
  return n
}

function text(value: unknown, max = MAX_TEXT): string {
  if (typeof value !== 'string' || value.length > max) throw new Malformed()
  return value
}

function oneOf<T extends string>(value: unknown, values: ReadonlySet<string>): T {
  if (typeof value !== 'string' || !values.has(value)) throw new Malformed()
  return value as T
}

/** A bound of the L1: JSON carries an unbounded one (Infinity) as null. */
function bound(value: unknown): number {
  return value === null ? Number.POSITIVE_INFINITY : count(value)
}

function checkStats(value: unknown): CacheStats {
  const stats = object(value)
  const out = {} as Record<keyof CacheStats, number>
  for (const field of Object.keys(STAT_FIELDS) as (keyof CacheStats)[]) {
    // A field an older version does not send reads as 0; one that is sent must be a count.
    out[field] = stats[field] === undefined ? 0 : count(stats[field])
  }
  return out
}

function sameBounds(bounds: readonly number[]): boolean {
  return bounds.length === PROMETHEUS_BOUNDS.length && bounds.every((b, i) => b === PROMETHEUS_BOUNDS[i])
}

function checkHistogram(value: unknown): HistogramData {
  const h = object(value)
  const bounds = list(h.bounds, MAX_BOUNDS).map(finite)
  const counts = list(h.counts, MAX_BOUNDS + 1).map(count)
  if (counts.length !== bounds.length + 1) throw new Malformed()
  for (let i = 1; i < bounds.length; i++) if (bounds[i]! <= bounds[i - 1]!) throw new Malformed()
  // Ours, shared (the `le` labels then take only the values this version writes).
  return {
    bounds: sameBounds(bounds) ? PROMETHEUS_BOUNDS : bounds,
    counts,
    count: count(h.count),
    sum: count(h.sum),
  }
}

function checkSeries(value: unknown): LatencySeries {
  const s = object(value)
  return {
    operation: oneOf<OperationName>(s.operation, OPERATIONS),
    tier: oneOf<TierLabel>(s.tier, TIERS),
    histogram: checkHistogram(s.histogram),
    p50: count(s.p50 ?? 0),
    p95: count(s.p95 ?? 0),
    p99: count(s.p99 ?? 0),
  }
}

function checkAlert(value: unknown): Alert {
  const a = object(value)
  return {
    name: text(a.name, 64) as AlertName,
    severity: oneOf<Alert['severity']>(a.severity, SEVERITIES),
    message: text(a.message),
    value: finite(a.value),
    threshold: finite(a.threshold),
    since: finite(a.since),
  }
}

function checkHealth(value: unknown): CacheHealth {
  const h = object(value)
  const w = object(h.window)
  const health: {
    -readonly [K in keyof CacheHealth]: CacheHealth[K]
  } = {
    cache: text(h.cache, 256),
    status: oneOf<CacheHealth['status']>(h.status, STATUSES),
    checkedAt: finite(h.checkedAt),
    window: {
      seconds: count(w.seconds),
      operations: count(w.operations),
      opsPerSecond: count(w.opsPerSecond),
      hitRatio: count(w.hitRatio),
      evictionsPerSecond: count(w.evictionsPerSecond),
      p99: count(w.p99),
    },
    alerts: list(h.alerts).map(checkAlert),
    warnings: list(h.warnings).map((warning) => text(warning)),
  }
  if (h.l1 !== undefined) {
    const l1 = object(h.l1)
    health.l1 = {
      entries: count(l1.entries),
      bytes: count(l1.bytes),
      maxEntries: bound(l1.maxEntries),
      maxBytes: bound(l1.maxBytes),
      usage: count(l1.usage),
    }
  }
  if (h.l2 !== undefined) {
    const l2 = object(h.l2)
    if (typeof l2.connected !== 'boolean') throw new Malformed()
    const memory = l2.memory === undefined ? undefined : object(l2.memory)
    health.l2 = {
      connected: l2.connected,
      breaker: oneOf(l2.breaker, BREAKERS),
      ...(l2.masters === undefined
        ? {}
        : {
            masters: list(l2.masters).map((m) => {
              const master = object(m)
              return { address: text(master.address, 256), breaker: oneOf(master.breaker, BREAKERS) }
            }),
          }),
      ...(l2.error === undefined ? {} : { error: text(l2.error) }),
      ...(memory === undefined
        ? {}
        : {
            memory: {
              // An older version's snapshot has no readAt: its figures were current when it was checked.
              readAt: memory.readAt === undefined ? health.checkedAt : finite(memory.readAt),
              usedBytes: count(memory.usedBytes),
              maxBytes: count(memory.maxBytes),
              policy: text(memory.policy, 64),
              usage: count(memory.usage),
              evictedKeysPerSecond: count(memory.evictedKeysPerSecond),
            },
          }),
    }
  }
  return health
}

function checkGroup(value: unknown): KeyGroupCount {
  const g = object(value)
  return { group: text(g.group, 256), count: count(g.count), share: count(g.share) }
}

function checkFinding(value: unknown): Finding {
  const f = object(value)
  const evidence: Record<string, number | string> = {}
  for (const [name, item] of Object.entries(object(f.evidence))) {
    evidence[name] = typeof item === 'string' ? text(item) : finite(item)
  }
  return {
    kind: text(f.kind, 64) as Finding['kind'],
    severity: oneOf<Finding['severity']>(f.severity, SEVERITIES),
    message: text(f.message),
    suggestion: text(f.suggestion),
    evidence,
  }
}

function checkDiagnosis(value: unknown): Diagnosis {
  const d = object(value)
  const ratio = object(d.hitRatio)
  return {
    cache: text(d.cache, 256),
    at: finite(d.at),
    hitRatio: { window: count(ratio.window), overall: count(ratio.overall) },
    sampledReads: count(d.sampledReads),
    // A diagnosis of an older version may list more: the first ones are kept.
    findings: list(d.findings, Number.MAX_SAFE_INTEGER).slice(0, MAX_FINDINGS).map(checkFinding),
  }
}

/** The snapshot `value` (parsed JSON) holds, with only its known fields, or undefined when one is malformed. */
export function checkSnapshot(value: unknown): CacheSnapshot | undefined {
  try {
    const s = object(value)
    return {
      cache: text(s.cache, 256),
      instance: text(s.instance, 256),
      at: finite(s.at),
      stats: checkStats(s.stats),
      // A series with other bucket bounds (another version's) is left out, not mis-added, and
      // never turns a peer's numbers into `le` label values.
      latency: list(s.latency, MAX_SERIES)
        .map(checkSeries)
        .filter((series) => series.histogram.bounds === PROMETHEUS_BOUNDS),
      health: checkHealth(s.health),
      hotKeyGroups: list(s.hotKeyGroups, MAX_HOT_GROUPS).map(checkGroup),
      ...(s.diagnosis === undefined ? {} : { diagnosis: checkDiagnosis(s.diagnosis) }),
    }
  } catch (error) {
    if (error instanceof Malformed) return undefined
    throw error
  }
}
