import { redactUrl } from '../redis-url.js'
import type { Mode, Percentiles, RunResult } from './types.js'

export interface DemoConfig {
  requests: number
  warmup: number
  products: number
  categories: number
  zipf: number
  writes: number
  pageShare: number
  pages: number
  seed: number
  l1Size: number
  concurrency: number
  originLatencyMs: number
  redis: string
  processes: number
}

export interface SkippedRun {
  mode: Mode
  label: string
  reason: string
  hint: string
}

export interface DemoReport {
  config: DemoConfig
  catalog: { path: string; products: number; categories: number; created: boolean; buildMs: number }
  workload: {
    /** The measured window; `warmup` requests came before it. */
    requests: number
    warmup: number
    productReads: number
    pageReads: number
    writes: number
    distinctKeys: number
    newKeys: number
  }
  runs: RunResult[]
  skipped: SkippedRun[]
  /** os.loadavg()[0] and the core count when the runs ended: the figures depend on what else ran. */
  loadAverage: number
  cpus: number
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
const fmt = (n: number): string => integer.format(n)
const ms = (n: number): string => n.toFixed(3)
const percent = (n: number): string => `${(n * 100).toFixed(1)}%`
const round = (n: number, digits: number): number => {
  const f = 10 ** digits
  return Math.round(n * f) / f
}

const originQueries = (run: RunResult): number => run.originReads + run.originWrites

/** Fraction of the no-cache run's origin queries that `run` avoided (null without a baseline). */
function reduction(run: RunResult, baseline: RunResult | undefined): number | null {
  if (baseline === undefined || originQueries(baseline) === 0) return null
  return 1 - originQueries(run) / originQueries(baseline)
}

/** Widest line of the text report: it must read in a 100-column terminal. */
export const REPORT_WIDTH = 100

/** The human-readable report (stdout without --json). */
export function renderText(report: DemoReport): string {
  const { config, catalog, workload, runs, skipped } = report
  const baseline = runs.find((run) => run.mode === 'no-cache')
  const lines: string[] = []
  lines.push(
    `stratacache demo: ${fmt(workload.requests)} requests measured, ${runs.length} ways (seed ${config.seed})`,
  )
  lines.push(
    `  catalog   ${fmt(catalog.products)} products in ${fmt(catalog.categories)} categories, ` +
      (catalog.created ? `built in ${(catalog.buildMs / 1000).toFixed(2)} s` : 'reused'),
  )
  lines.push(`            ${catalog.path}`)
  lines.push(
    `  workload  ${fmt(workload.productReads)} product reads, ${fmt(workload.pageReads)} page reads, ` +
      `${fmt(workload.writes)} price updates; Zipf α=${config.zipf}`,
  )
  const reads = workload.productReads + workload.pageReads
  const canHit = `at most ${percent(reads === 0 ? 0 : 1 - workload.newKeys / reads)} can hit`
  // `--warmup 0` is how docs/demo.md says to measure a cold start: the text must not call it steady.
  lines.push(
    ...(workload.warmup > 0
      ? [
          `  warm-up   ${fmt(workload.warmup)} requests first (untimed) for the cached runs: steady state, not a cold`,
          `            start. ${fmt(workload.newKeys)} of the window's ${fmt(workload.distinctKeys)} keys are new to it: ${canHit}`,
        ]
      : [
          '  warm-up   none (--warmup 0): the cached runs start cold, every first read of a key is a miss.',
          `            ${fmt(workload.newKeys)} of the window's ${fmt(workload.distinctKeys)} keys are read for the first time: ${canHit}`,
        ]),
  )
  lines.push(
    `  setup     origin +${config.originLatencyMs} ms per query, ${config.concurrency} requests in flight ` +
      `per process, L1 max ${fmt(config.l1Size)} entries`,
    `  machine   load average ${report.loadAverage.toFixed(2)} on ${report.cpus} cores at the end: latency and ` +
      'throughput move with it',
  )
  lines.push('')

  const stat = (run: RunResult, name: string): number => run.cacheStats?.[name] ?? 0
  const cached = (run: RunResult, cell: (run: RunResult) => string) =>
    run.cacheStats === null ? '-' : cell(run)
  const rows: [string, (run: RunResult) => string][] = [
    ['hit ratio', (r) => percent(r.hitRatio)],
    [
      'DB queries',
      (r) => {
        const saved = reduction(r, baseline)
        return r === baseline || saved === null
          ? fmt(originQueries(r))
          : `${fmt(originQueries(r))} -${(saved * 100).toFixed(0)}%`
      },
    ],
    ['  reads / writes', (r) => `${fmt(r.originReads)} / ${fmt(r.originWrites)}`],
    ['L1 hits', (r) => cached(r, () => fmt(stat(r, 'l1Hits')))],
    ['L2 hits', (r) => (r.mode === 'l1+l2' ? fmt(stat(r, 'l2Hits')) : '-')],
    [
      'stampede reads→DB',
      (r) => (r.stampede === undefined ? '-' : `${r.stampede.reads} → ${r.stampede.originQueries}`),
    ],
    ['stale reads', (r) => fmt(r.staleReads)],
    ['resp. cache hits', (r) => (r.http === undefined ? '-' : percent(r.http.responseCacheHitRatio))],
    ['304 share', (r) => (r.http === undefined ? '-' : percent(r.http.notModifiedShare))],
    ['p50 latency (ms)', (r) => ms(r.latencyMs.p50)],
    ['p95 latency (ms)', (r) => ms(r.latencyMs.p95)],
    ['p99 latency (ms)', (r) => ms(r.latencyMs.p99)],
    ['  hit p50 (ms)', (r) => (r.latencyMs.hit === null ? '-' : ms(r.latencyMs.hit.p50))],
    ['  miss p50 (ms)', (r) => (r.latencyMs.miss === null ? '-' : ms(r.latencyMs.miss.p50))],
    ['throughput (req/s)', (r) => fmt(r.throughput)],
    ['wall / CPU (s)', (r) => `${(r.wallMs / 1000).toFixed(2)} / ${(r.cpuMs / 1000).toFixed(2)}`],
  ]
  if (runs.some((run) => run.errors > 0)) rows.push(['errors', (r) => fmt(r.errors)])

  const header = ['', ...runs.map((run) => run.label)]
  const body = rows.map(([name, cell]) => [name, ...runs.map(cell)])
  const widths = header.map((_, col) => Math.max(...[header, ...body].map((row) => (row[col] ?? '').length)))
  const renderRow = (row: string[]): string =>
    row
      .map((cell, col) => (col === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[col] ?? 0)))
      .join('  ')
      .trimEnd()
  lines.push(renderRow(header))
  for (const row of body) lines.push(renderRow(row))
  lines.push('')

  for (const skip of skipped) lines.push(`${skip.label}: skipped, ${skip.reason}. ${skip.hint}`)
  for (const run of runs) {
    if (run.errors > 0)
      lines.push(`${run.label}: ${fmt(run.errors)} requests failed; first: ${run.firstError}`)
    for (const note of run.notes) lines.push(`${run.label}: ${note}`)
  }
  const layered = runs.find((run) => run.mode === 'l1+l2')
  if (layered?.stampede !== undefined) {
    const { processes, reads: cold, originQueries: queries } = layered.stampede
    lines.push(
      `${layered.label}: ${processes} processes, each with its own L1, share one Redis: a key one loaded is an`,
      '  L2 hit for the others. Stampede: before the warm-up, every process read one cold key',
      `  ${cold / processes} times at once (${cold} reads): ${queries} database ${queries === 1 ? 'query' : 'queries'} in all (lock in Redis).`,
    )
  }
  const http = runs.find((run) => run.http !== undefined)
  if (http?.http !== undefined) {
    lines.push(
      `HTTP / ${http.label}: one Fastify API over real sockets, without then with stratacache/http;`,
      '  resp. cache hits = responses served from stored pages / reads; 304 share = reads answered',
      `  304 Not Modified to a client revalidating its copy; ${fmt(http.http.purges)} price updates purged pages by tag.`,
    )
  }
  lines.push(
    'Latency: per request (performance.now()). A hit costs microseconds; the tail (p95, p99) of the',
    '  cached columns is their misses: the origin query plus the L2 round trips of a miss (read,',
    '  lock, write, unlock) and the event-loop queue at this concurrency: compare miss p50 with the',
    '  no-cache p50. hit ratio: reads that did not query the database / reads. A price update writes',
    '  SQLite, then deletes the product and its page (stale reads: a price the database had neither',
    '  at the start nor at the end of the read; across processes, the bus delivers the deletes).',
  )
  return `${lines.join('\n')}\n`
}

function roundPercentiles(p: Percentiles): Percentiles {
  return {
    p50: round(p.p50, 3),
    p95: round(p.p95, 3),
    p99: round(p.p99, 3),
    mean: round(p.mean, 3),
    max: round(p.max, 3),
  }
}

/** The --json document: one object, every number measured in this run. */
export function toJson(report: DemoReport): object {
  const baseline = report.runs.find((run) => run.mode === 'no-cache')
  return {
    command: 'demo',
    config: { ...report.config, redis: redactUrl(report.config.redis) },
    catalog: { ...report.catalog, buildMs: round(report.catalog.buildMs, 1) },
    workload: report.workload,
    runs: report.runs.map((run) => {
      const saved = reduction(run, baseline)
      return {
        mode: run.mode,
        label: run.label,
        processes: run.processes,
        requests: run.requests,
        reads: run.reads,
        writes: run.writes,
        hits: run.hits,
        hitRatio: round(run.hitRatio, 4),
        originQueries: originQueries(run),
        originReads: run.originReads,
        originWrites: run.originWrites,
        originReduction: saved === null ? null : round(saved, 4),
        staleReads: run.staleReads,
        errors: run.errors,
        firstError: run.firstError,
        notes: run.notes,
        latencyMs: {
          ...roundPercentiles(run.latencyMs),
          hit: run.latencyMs.hit === null ? null : roundPercentiles(run.latencyMs.hit),
          miss: run.latencyMs.miss === null ? null : roundPercentiles(run.latencyMs.miss),
        },
        throughput: round(run.throughput, 1),
        wallMs: round(run.wallMs, 1),
        cpuMs: round(run.cpuMs, 1),
        cacheStats: run.cacheStats,
        stampede: run.stampede ?? null,
        http:
          run.http === undefined
            ? null
            : {
                ...run.http,
                notModifiedShare: round(run.http.notModifiedShare, 4),
                responseCacheHitRatio: round(run.http.responseCacheHitRatio, 4),
              },
      }
    }),
    skipped: report.skipped,
    loadAverage: round(report.loadAverage, 2),
    cpus: report.cpus,
  }
}
