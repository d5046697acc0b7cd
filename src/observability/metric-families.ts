/**
 * The metric families both adapters expose, computed from snapshots: Prometheus names them
 * `stratacache_<name>`, OpenTelemetry `stratacache.<name without _total>`. A family's samples for
 * one cache add up the snapshots of all its instances. Labels have fixed value sets (the cache
 * label takes the names of the caches): never a key or a tag.
 */
import { sumHistograms } from './aggregate.js'
import type { AlertName, CacheSnapshot, LatencySeries } from './types.js'

export type MetricType = 'counter' | 'gauge' | 'histogram'
export type Labels = Record<string, string>

export interface Sample {
  readonly value: number
  readonly labels: Labels
  readonly metricName?: string
}

export interface Family {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  /** The samples of one cache (all its instances' snapshots). */
  readonly samples: (cache: string, snapshots: readonly CacheSnapshot[], prefixed: string) => Sample[]
}

/**
 * Every alert the core can raise, as the keys of a record over {@link AlertName}: an alert added to
 * the type and not here fails to compile, instead of never showing in `alert_firing`.
 */
const ALERTS: Readonly<Record<AlertName, true>> = {
  'low-hit-ratio': true,
  'memory-high': true,
  'evictions-high': true,
  'latency-high': true,
  'l2-unavailable': true,
  'redis-eviction-misconfigured': true,
  'bus-silent': true,
}

/** Every alert the core can raise: `alert_firing` has one series per name, 0 or 1, so series never appear or vanish. */
export const ALERT_NAMES: readonly AlertName[] = Object.keys(ALERTS) as AlertName[]

const BREAKER_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const
const HEALTH_VALUE = { healthy: 0, degraded: 1, unhealthy: 2 } as const

/** The numeric fields of the stats (counters and gauges). */
type StatName = {
  [K in keyof CacheSnapshot['stats']]: CacheSnapshot['stats'][K] extends number ? K : never
}[keyof CacheSnapshot['stats']]

const sum = (snapshots: readonly CacheSnapshot[], pick: (s: CacheSnapshot) => number | undefined): number => {
  let total = 0
  for (const snapshot of snapshots) total += pick(snapshot) ?? 0
  return total
}
/** An unbounded L1 reports Infinity (null once published as JSON): exposed as 0, "no bound". */
const finiteOrZero = (n: number | null | undefined): number =>
  typeof n === 'number' && Number.isFinite(n) ? n : 0
const max = (snapshots: readonly CacheSnapshot[], pick: (s: CacheSnapshot) => number | undefined): number => {
  let best = 0
  for (const snapshot of snapshots) best = Math.max(best, pick(snapshot) ?? 0)
  return best
}

/** A counter (or gauge) summing one stats field; `split` gives one series per label value. */
function statFamily(
  name: string,
  type: MetricType,
  help: string,
  split: Readonly<Record<string, Readonly<Record<string, StatName>>>> | StatName,
): Family {
  return {
    name,
    type,
    help,
    samples: (cache, snapshots) => {
      if (typeof split === 'string')
        return [{ labels: { cache }, value: sum(snapshots, (s) => s.stats[split]) }]
      const samples: Sample[] = []
      for (const [label, values] of Object.entries(split)) {
        for (const [value, field] of Object.entries(values)) {
          samples.push({ labels: { cache, [label]: value }, value: sum(snapshots, (s) => s.stats[field]) })
        }
      }
      return samples
    },
  }
}

function gaugeFamily(
  name: string,
  help: string,
  read: (snapshots: readonly CacheSnapshot[]) => number | undefined,
): Family {
  return {
    name,
    type: 'gauge',
    help,
    samples: (cache, snapshots) => {
      const value = read(snapshots)
      return value === undefined ? [] : [{ labels: { cache }, value }]
    },
  }
}

function latencySamples(cache: string, snapshots: readonly CacheSnapshot[], prefixed: string): Sample[] {
  // One histogram per (operation, tier), added up over the cache's instances.
  const series = new Map<string, { operation: string; tier: string; list: LatencySeries[] }>()
  for (const snapshot of snapshots) {
    for (const s of snapshot.latency) {
      const id = `${s.operation}\u0000${s.tier}`
      const entry = series.get(id)
      if (entry === undefined) series.set(id, { operation: s.operation, tier: s.tier, list: [s] })
      else entry.list.push(s)
    }
  }
  const samples: Sample[] = []
  for (const { operation, tier, list } of series.values()) {
    const histogram = sumHistograms(list.map((s) => s.histogram))
    if (histogram === undefined) continue
    let cumulative = 0
    for (let i = 0; i < histogram.counts.length; i++) {
      cumulative += histogram.counts[i] ?? 0
      const bound = histogram.bounds[i]
      samples.push({
        metricName: `${prefixed}_bucket`,
        labels: { cache, operation, tier, le: bound === undefined ? '+Inf' : String(bound) },
        value: cumulative,
      })
    }
    samples.push({ metricName: `${prefixed}_sum`, labels: { cache, operation, tier }, value: histogram.sum })
    samples.push({
      metricName: `${prefixed}_count`,
      labels: { cache, operation, tier },
      value: histogram.count,
    })
  }
  return samples
}

/** The metric families, by name without the prefix. Documented in docs/observability.md. */
export const FAMILIES: readonly Family[] = [
  statFamily('hits_total', 'counter', 'Reads answered by a tier (l1: in-process, l2: Redis).', {
    tier: { l1: 'l1Hits', l2: 'l2Hits' },
  }),
  statFamily('misses_total', 'counter', 'Reads found in no tier.', 'misses'),
  statFamily(
    'tier_misses_total',
    'counter',
    'Reads a tier could not answer (an L1 miss goes on to the L2 or the origin).',
    { tier: { l1: 'l1Misses', l2: 'l2Misses' } },
  ),
  statFamily(
    'l1_miss_causes_total',
    'counter',
    'L1 misses of keys the L1 had held: reclaimed after expiry (TTL shorter than reuse) or evicted for room (L1 too small).',
    { cause: { expired: 'missesAfterExpiry', evicted: 'missesAfterEviction' } },
  ),
  statFamily(
    'stale_served_total',
    'counter',
    'Stale values (within grace) returned in place of a fresh one.',
    'staleServed',
  ),
  statFamily(
    'fail_safe_served_total',
    'counter',
    'Stale values returned because the factory failed or timed out (fail-safe).',
    'failSafeServed',
  ),
  statFamily(
    'factory_calls_total',
    'counter',
    'Runs of the factory (loads from the origin).',
    'factoryCalls',
  ),
  statFamily('factory_errors_total', 'counter', 'Factory runs that failed.', 'factoryErrors'),
  statFamily(
    'factory_timeouts_total',
    'counter',
    'Factory runs past their soft or hard timeout.',
    'factoryTimeouts',
  ),
  statFamily('sets_total', 'counter', 'Writes to the cache.', 'sets'),
  statFamily('deletes_total', 'counter', 'Deletes from the cache.', 'deletes'),
  statFamily('evictions_total', 'counter', 'Entries evicted to stay within the bounds of a tier.', {
    tier: { l1: 'l1Evictions' },
  }),
  statFamily('expirations_total', 'counter', 'Expired entries reclaimed by a tier.', {
    tier: { l1: 'l1Expirations' },
  }),
  statFamily('l2_errors_total', 'counter', 'Failed L2 (Redis) calls and unusable L2 entries, by cause.', {
    cause: {
      error: 'l2Errors',
      timeout: 'l2Timeouts',
      connection: 'l2ConnectionErrors',
      decode: 'decodeErrors',
      schema: 'schemaFailures',
    },
  }),
  statFamily(
    'l2_skipped_total',
    'counter',
    'L2 calls not made because the circuit breaker was open.',
    'l2Skipped',
  ),
  statFamily('breaker_opened_total', 'counter', 'Times the L2 circuit breaker opened.', 'breakerOpened'),
  statFamily(
    'early_refreshes_total',
    'counter',
    'Background refreshes started in an entry refresh window.',
    'earlyRefreshes',
  ),
  statFamily(
    'refreshes_from_l2_total',
    'counter',
    'Refreshes that took a newer value from the L2 instead of running the factory.',
    'refreshesFromL2',
  ),
  statFamily(
    'lock_waits_total',
    'counter',
    'Loads that waited for another process holding the lock.',
    'lockWaits',
  ),
  statFamily('tag_invalidations_total', 'counter', 'Tags invalidated by this cache.', 'tagInvalidations'),
  statFamily(
    'tag_invalidated_reads_total',
    'counter',
    'L2 entries read as misses because a tag or dependency invalidated them.',
    'tagInvalidatedReads',
  ),
  statFamily('bus_messages_total', 'counter', 'Invalidation bus messages, by result.', {
    result: { published: 'busPublished', received: 'busMessages', dropped: 'busMessagesDropped' },
  }),
  statFamily(
    'bus_resyncs_total',
    'counter',
    'Times the L1 was dropped after the bus had been disconnected.',
    'busResyncs',
  ),
  statFamily(
    'bus_silences_total',
    'counter',
    'Times the bus was silent past bus.maxSilence (the L1 unverified until heard again).',
    'busSilences',
  ),
  statFamily('l2_repairs_total', 'counter', 'Deletions queued for the L2 after a failed write, by result.', {
    result: { queued: 'l2RepairsQueued', done: 'l2Repairs', dropped: 'l2RepairsDropped' },
  }),
  statFamily(
    'writes_refused_total',
    'counter',
    'Loaded values not written because their key was deleted meanwhile.',
    'writesRefused',
  ),
  statFamily(
    'write_behind_writes_total',
    'counter',
    'Write-behind entries by outcome: flushed to the database, dead-lettered, refused (log full), dead letters dropped past maxDeadLetters.',
    {
      result: {
        flushed: 'writeBehindFlushed',
        dead_lettered: 'writeBehindDeadLettered',
        rejected: 'writeBehindRejected',
        dead_letter_dropped: 'writeBehindDeadLettersDropped',
      },
    },
  ),
  statFamily(
    'write_behind_retries_total',
    'counter',
    'Write-behind flush calls that failed and were retried.',
    'writeBehindRetries',
  ),
  // Every instance counts the whole log (all processes): the largest figure, never their sum.
  gaugeFamily('write_behind_pending', 'Writes waiting in the write-behind logs (all processes).', (s) =>
    max(s, (x) => x.stats.writeBehindPending),
  ),
  gaugeFamily(
    'write_behind_lag_seconds',
    'Age of the oldest waiting write-behind entry (the worst log).',
    (s) => max(s, (x) => x.stats.writeBehindLagMs) / 1000,
  ),
  {
    name: 'operation_duration_seconds',
    type: 'histogram',
    help: 'Duration of cache operations; tier says which tier answered a read (origin: the factory ran).',
    samples: latencySamples,
  },
  statFamily('l1_entries', 'gauge', 'Entries in the in-process tier.', 'l1Entries'),
  statFamily('l1_bytes', 'gauge', 'Bytes held by the in-process tier.', 'l1Bytes'),
  gaugeFamily('l1_max_entries', 'The entry bound of the in-process tier (0: none).', (snapshots) =>
    snapshots.some((s) => s.health.l1 !== undefined)
      ? sum(snapshots, (s) => finiteOrZero(s.health.l1?.maxEntries))
      : undefined,
  ),
  gaugeFamily('l1_max_bytes', 'The byte bound of the in-process tier (0: none).', (snapshots) =>
    snapshots.some((s) => s.health.l1 !== undefined)
      ? sum(snapshots, (s) => finiteOrZero(s.health.l1?.maxBytes))
      : undefined,
  ),
  statFamily('in_flight', 'gauge', 'Loads in flight.', 'inFlight'),
  gaugeFamily(
    'breaker_state',
    'State of the L2 circuit breaker: 0 closed, 1 half-open, 2 open (the worst over instances).',
    (snapshots) =>
      snapshots.some((s) => s.health.l2 !== undefined)
        ? max(snapshots, (s) => (s.health.l2 === undefined ? 0 : BREAKER_VALUE[s.health.l2.breaker]))
        : undefined,
  ),
  gaugeFamily('l2_connected', 'Whether every instance is connected to the L2 (1) or not (0).', (snapshots) =>
    snapshots.some((s) => s.health.l2 !== undefined)
      ? snapshots.every((s) => s.health.l2 === undefined || s.health.l2.connected)
        ? 1
        : 0
      : undefined,
  ),
  gaugeFamily(
    'health_status',
    'Health of the cache: 0 healthy, 1 degraded, 2 unhealthy (the worst over instances).',
    (snapshots) => max(snapshots, (s) => HEALTH_VALUE[s.health.status]),
  ),
  gaugeFamily(
    'hit_ratio',
    'Hits / (hits + misses) over the health window (1 without reads).',
    (snapshots) => {
      const reads = sum(snapshots, (s) => s.health.window.operations)
      if (reads === 0) return snapshots.length === 0 ? undefined : 1
      return sum(snapshots, (s) => s.health.window.hitRatio * s.health.window.operations) / reads
    },
  ),
  gaugeFamily(
    'redis_memory_used_bytes',
    'Redis used_memory (INFO memory), when the L2 is Redis.',
    (snapshots) =>
      snapshots.some((s) => s.health.l2?.memory !== undefined)
        ? max(snapshots, (s) => s.health.l2?.memory?.usedBytes)
        : undefined,
  ),
  gaugeFamily(
    'redis_memory_max_bytes',
    'Redis maxmemory (0: no limit), when the L2 is Redis.',
    (snapshots) =>
      snapshots.some((s) => s.health.l2?.memory !== undefined)
        ? max(snapshots, (s) => s.health.l2?.memory?.maxBytes)
        : undefined,
  ),
  {
    name: 'alert_firing',
    type: 'gauge',
    help: 'Whether an alert fires on any instance (1) or not (0); see cache.health().',
    samples: (cache, snapshots) =>
      ALERT_NAMES.map((alert) => ({
        labels: { cache, alert },
        value: snapshots.some((s) => s.health.alerts.some((a) => a.name === alert)) ? 1 : 0,
      })),
  },
  gaugeFamily(
    'instances',
    'Instances whose snapshots make up these series.',
    (snapshots) => snapshots.length,
  ),
]
