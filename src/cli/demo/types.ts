import type { Catalog } from './catalog.js'
import type { Workload } from './workload.js'

export type Mode = 'no-cache' | 'l1' | 'l1+l2' | 'http' | 'http+cache'

export const MODE_LABELS: Readonly<Record<Mode, string>> = {
  'no-cache': 'No cache',
  l1: 'L1 only',
  'l1+l2': 'L1 + L2',
  http: 'HTTP',
  'http+cache': 'HTTP+cache',
}

/** TTLs of the demo's entries. Writes delete both kinds of entry, so these only bound memory. */
export const PRODUCT_TTL = '10m'
export const PAGE_TTL = '1m'

export interface Percentiles {
  p50: number
  p95: number
  p99: number
  mean: number
  max: number
}

/** HTTP-level numbers of the cached HTTP run (`stats()` of the HTTP layer, plus what the clients saw). */
export interface HttpNumbers {
  /** Reads answered 304 Not Modified (the client's copy was current). */
  notModified: number
  /** notModified / reads. */
  notModifiedShare: number
  /** Reads the response cache answered (fresh, stale or joined in flight) / reads. */
  responseCacheHitRatio: number
  /** Responses stored by the HTTP layer. */
  stored: number
  /** Tag invalidations sent by price updates (each purges the product page and the category page listing it). */
  purges: number
}

/** Cold reads of one key fired at once by every process: how many reached the origin. */
export interface StampedeResult {
  processes: number
  reads: number
  originQueries: number
}

/** Everything measured in the measured window of one replay of the workload. */
export interface RunResult {
  mode: Mode
  label: string
  /** Processes that replayed it (their requests interleaved, sharing Redis). */
  processes: number
  requests: number
  reads: number
  writes: number
  /** Reads whose own factory did not run (served by a tier, or by joining another request's load). */
  hits: number
  /** hits / reads. */
  hitRatio: number
  /** SELECTs that reached SQLite through the origin (each paid the origin latency). */
  originReads: number
  /** UPDATEs (identical in every mode). */
  originWrites: number
  /** Product reads that returned a price the database no longer had at the start nor at the end of the request. */
  staleReads: number
  /** Requests that failed (the first message is in `firstError`). */
  errors: number
  firstError: string | null
  /** Anything worth knowing about the run that is not a number (e.g. a failed clean-up). */
  notes: string[]
  wallMs: number
  /** CPU time of the replaying processes (user + system) during the window: the client-side cost of each setup. */
  cpuMs: number
  throughput: number
  latencyMs: Percentiles & { hit: Percentiles | null; miss: Percentiles | null }
  /** The window's `cache.stats()` (summed over the processes; null without a cache). */
  cacheStats: Record<string, number> | null
  /** The cached HTTP run's HTTP-level numbers (only that run). */
  http?: HttpNumbers
  /** The cross-process stampede (only the L1 + L2 run). */
  stampede?: StampedeResult
}

export interface RunOptions {
  readonly catalog: Catalog
  readonly workload: Workload
  readonly concurrency: number
  readonly originLatencyMs: number
  /** Replay the warm-up (untimed) before the measured window: for the runs with a cache. */
  readonly warm: boolean
  /** This process's share of the requests (every `of`-th from `index`), when several processes replay them. */
  readonly share?: { readonly index: number; readonly of: number }
  /** Awaited between the warm-up and the measured window (the processes start their windows together). */
  readonly beforeWindow?: () => Promise<void>
  /** Called once per completed request, warm-up included. */
  readonly onProgress?: () => void
}
