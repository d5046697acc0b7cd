/**
 * Synthetic CacheSnapshots for the adapters' unit tests: the adapters read nothing but this
 * contract, so they can be tested without a cache.
 */
import type { CacheStats } from '../../dist/observability/stats.js'
import type {
  Alert,
  CacheHealth,
  CacheSnapshot,
  HistogramData,
  LatencySeries,
  OperationName,
  TierLabel,
} from '../../dist/observability/types.js'

export const BOUNDS: readonly number[] = [0.000001, 0.00001, 0.0001, 0.001, 0.005, 0.01, 0.1, 1]

export function stats(overrides: Partial<CacheStats> = {}): CacheStats {
  const base: Record<string, unknown> = {
    l1HitRatio: 1,
    l2HitRatio: 1,
    hitRatio: 1,
    breakerOpen: 0,
    factorySeconds: 0,
  }
  for (const name of [
    'l1Hits',
    'l1Misses',
    'l2Hits',
    'l2Misses',
    'missesAfterExpiry',
    'missesAfterEviction',
    'misses',
    'factoryCalls',
    'factoryErrors',
    'sets',
    'deletes',
    'l2Errors',
    'l2Timeouts',
    'l2ConnectionErrors',
    'decodeErrors',
    'schemaFailures',
    'staleServed',
    'failSafeServed',
    'earlyRefreshes',
    'refreshesFromL2',
    'factoryTimeouts',
    'lockWaits',
    'breakerOpened',
    'l2Skipped',
    'l2RepairsQueued',
    'l2Repairs',
    'l2RepairsDropped',
    'writesRefused',
    'tagInvalidations',
    'tagInvalidatedReads',
    'busPublished',
    'busMessages',
    'busMessagesDropped',
    'busResyncs',
    'busSilences',
    'l1Evictions',
    'l1Expirations',
    'l1Entries',
    'l1Bytes',
    'inFlight',
  ]) {
    base[name] = 0
  }
  return { ...(base as unknown as CacheStats), ...overrides }
}

/** A histogram over {@link BOUNDS} from per-bucket (non-cumulative) counts; the sum puts each observation at its bucket's bound. */
export function histogram(counts: readonly number[]): HistogramData {
  const full = BOUNDS.map((_, i) => counts[i] ?? 0).concat(counts[BOUNDS.length] ?? 0)
  const count = full.reduce((a, b) => a + b, 0)
  const sum = full.reduce((a, c, i) => a + c * (BOUNDS[i] ?? 2), 0)
  return { bounds: BOUNDS, counts: full, count, sum }
}

export function series(operation: OperationName, tier: TierLabel, counts: readonly number[]): LatencySeries {
  return { operation, tier, histogram: histogram(counts), p50: 0, p95: 0, p99: 0 }
}

export function health(cache: string, overrides: Partial<CacheHealth> = {}): CacheHealth {
  return {
    cache,
    status: 'healthy',
    checkedAt: 0,
    window: { seconds: 60, operations: 0, opsPerSecond: 0, hitRatio: 1, evictionsPerSecond: 0, p99: 0 },
    l1: { entries: 0, bytes: 0, maxEntries: 1000, maxBytes: 0, usage: 0 },
    alerts: [],
    warnings: [],
    ...overrides,
  }
}

export function alert(name: Alert['name'], value = 0.1, threshold = 0.7): Alert {
  return { name, severity: 'warning', message: `${name} fires`, value, threshold, since: 0 }
}

export interface SnapshotInit {
  cache?: string
  instance?: string
  at?: number
  stats?: Partial<CacheStats>
  latency?: LatencySeries[]
  health?: Partial<CacheHealth>
  hotKeyGroups?: CacheSnapshot['hotKeyGroups']
}

export function snapshot(init: SnapshotInit = {}): CacheSnapshot {
  const cache = init.cache ?? 'products'
  return {
    cache,
    instance: init.instance ?? 'i1',
    at: init.at ?? 0,
    stats: stats(init.stats),
    latency: init.latency ?? [],
    health: health(cache, init.health),
    hotKeyGroups: init.hotKeyGroups ?? [],
  }
}

// ---- the Prometheus text exposition format ---------------------------------------------------

export interface ParsedSample {
  readonly name: string
  readonly labels: Record<string, string>
  readonly value: number
}

export interface ParsedFamily {
  readonly name: string
  readonly type: string
  readonly help: string
  readonly samples: ParsedSample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)/y

function parseValue(text: string): number {
  if (text === '+Inf') return Number.POSITIVE_INFINITY
  if (text === '-Inf') return Number.NEGATIVE_INFINITY
  if (text === 'NaN') return Number.NaN
  const n = Number(text)
  if (!Number.isFinite(n) && !Number.isNaN(n)) throw new Error(`bad sample value ${text}`)
  return n
}

/**
 * Parses Prometheus text format 0.0.4 strictly (the rules prom-client writes by): HELP and TYPE
 * before the samples of a family, each family once, sample names of the family (`_bucket`, `_sum`,
 * `_count` for histograms), valid metric and label names, no duplicate series. Throws on a
 * violation.
 */
export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  const families = new Map<string, ParsedFamily>()
  const seen = new Set<string>()
  let current: ParsedFamily | undefined
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('# HELP ')) {
      const [, name = '', help = ''] = /^# HELP (\S+) ?(.*)$/.exec(line) ?? []
      if (!METRIC_NAME.test(name)) throw new Error(`invalid metric name ${name}`)
      if (families.has(name)) throw new Error(`family ${name} appears twice`)
      current = { name, type: 'untyped', help, samples: [] }
      families.set(name, current)
      continue
    }
    if (line.startsWith('# TYPE ')) {
      const [, name = '', type = ''] = /^# TYPE (\S+) (\S+)$/.exec(line) ?? []
      if (current?.name !== name) throw new Error(`TYPE ${name} without its HELP line first`)
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type))
        throw new Error(`unknown type ${type}`)
      ;(current as { type: string }).type = type
      continue
    }
    if (line.startsWith('#')) continue
    const match = SAMPLE.exec(line)
    if (match === null) throw new Error(`malformed sample line: ${line}`)
    const [, name = '', labelText = '', valueText = ''] = match
    if (current === undefined) throw new Error(`sample ${name} outside any family`)
    const allowed =
      current.type === 'histogram'
        ? [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`]
        : [current.name]
    if (!allowed.includes(name)) throw new Error(`sample ${name} does not belong to family ${current.name}`)
    const labels: Record<string, string> = {}
    LABEL.lastIndex = 0
    while (LABEL.lastIndex < labelText.length) {
      const start = LABEL.lastIndex
      const label = LABEL.exec(labelText)
      if (label === null) throw new Error(`malformed labels at ${labelText.slice(start)}`)
      const [, labelName = '', labelValue = ''] = label
      if (!LABEL_NAME.test(labelName) || labelName.startsWith('__'))
        throw new Error(`invalid label ${labelName}`)
      if (labelName in labels) throw new Error(`label ${labelName} twice in ${line}`)
      labels[labelName] = labelValue.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
    }
    const id = `${name}{${Object.entries(labels)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(',')}}`
    if (seen.has(id)) throw new Error(`duplicate series ${id}`)
    seen.add(id)
    current.samples.push({ name, labels, value: parseValue(valueText) })
  }
  return families
}

/** The number of distinct series in a scrape. */
export function seriesCount(families: Map<string, ParsedFamily>): number {
  let n = 0
  for (const family of families.values()) n += family.samples.length
  return n
}

/** Every series of a scrape as `name{label="value",…}` (label values included, sample values not). */
export function seriesIds(families: Map<string, ParsedFamily>): string[] {
  const ids: string[] = []
  for (const family of families.values()) {
    for (const s of family.samples) {
      const labels = Object.entries(s.labels)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}="${v}"`)
      ids.push(`${s.name}{${labels.join(',')}}`)
    }
  }
  return ids.sort()
}
