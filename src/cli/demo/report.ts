import type { Mode, Percentiles, RunResult } from './run.js'

export interface DemoConfig {
  requests: number
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
    requests: number
    productReads: number
    pageReads: number
    writes: number
    distinctKeys: number
  }
  runs: RunResult[]
  skipped: SkippedRun[]
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

/** Redacts a password in a Redis URL before printing it. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}

/** The human-readable report (stdout without --json). */
export function renderText(report: DemoReport): string {
  const { config, catalog, workload, runs, skipped } = report
  const baseline = runs.find((run) => run.mode === 'no-cache')
  const lines: string[] = []
  lines.push(
    `stratacache demo: ${fmt(workload.requests)} requests replayed ${runs.length} ways (seed ${config.seed})`,
  )
  lines.push(
    `  catalog   ${fmt(catalog.products)} products in ${fmt(catalog.categories)} categories, SQLite ${catalog.path} ` +
      (catalog.created ? `(built in ${(catalog.buildMs / 1000).toFixed(2)} s)` : '(reused)'),
  )
  lines.push(
    `  workload  ${fmt(workload.productReads)} product reads, ${fmt(workload.pageReads)} category-page reads, ` +
      `${fmt(workload.writes)} price updates; Zipf α=${config.zipf}`,
  )
  const reads = workload.productReads + workload.pageReads
  lines.push(
    `            ${fmt(workload.distinctKeys)} distinct keys read: each misses at least once, so at most ` +
      `${percent(reads === 0 ? 0 : 1 - workload.distinctKeys / reads)} of reads can hit`,
  )
  lines.push(
    `  setup     origin +${config.originLatencyMs} ms per query, ${config.concurrency} requests in flight, ` +
      `L1 max ${fmt(config.l1Size)} entries`,
  )
  lines.push('')

  const stat = (run: RunResult, name: string): number => run.cacheStats?.[name] ?? 0
  const rows: [string, (run: RunResult) => string][] = [
    ['requests', (r) => fmt(r.requests)],
    ['hit ratio', (r) => percent(r.hitRatio)],
    [
      'origin queries',
      (r) => {
        const saved = reduction(r, baseline)
        return r === baseline || saved === null
          ? fmt(originQueries(r))
          : `${fmt(originQueries(r))} (-${percent(saved)})`
      },
    ],
    ['  reads / writes', (r) => `${fmt(r.originReads)} / ${fmt(r.originWrites)}`],
    [
      'L1 / L2 hits',
      (r) => (r.cacheStats === null ? '-' : `${fmt(stat(r, 'l1Hits'))} / ${fmt(stat(r, 'l2Hits'))}`),
    ],
    ['stale reads', (r) => fmt(r.staleReads)],
    ['response-cache hits', (r) => (r.http === undefined ? '-' : percent(r.http.responseCacheHitRatio))],
    ['304 share', (r) => (r.http === undefined ? '-' : percent(r.http.notModifiedShare))],
    ['p50 latency (ms)', (r) => ms(r.latencyMs.p50)],
    ['p95 latency (ms)', (r) => ms(r.latencyMs.p95)],
    ['p99 latency (ms)', (r) => ms(r.latencyMs.p99)],
    ['throughput (req/s)', (r) => fmt(r.throughput)],
    ['wall time (s)', (r) => (r.wallMs / 1000).toFixed(3)],
    ['CPU time (s)', (r) => (r.cpuMs / 1000).toFixed(3)],
  ]
  if (runs.some((run) => run.errors > 0)) rows.push(['errors', (r) => fmt(r.errors)])

  const header = ['', ...runs.map((run) => run.label)]
  const body = rows.map(([name, cell]) => [name, ...runs.map(cell)])
  const widths = header.map((_, col) => Math.max(...[header, ...body].map((row) => (row[col] ?? '').length)))
  const renderRow = (row: string[]): string =>
    row
      .map((cell, col) => (col === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[col] ?? 0)))
      .join('   ')
      .trimEnd()
  lines.push(renderRow(header))
  for (const row of body) lines.push(renderRow(row))
  lines.push('')

  for (const skip of skipped) lines.push(`${skip.label}: skipped, ${skip.reason}. ${skip.hint}`)
  const layered = runs.find((run) => run.mode === 'l1+l2')
  if (layered !== undefined && stat(layered, 'l2Hits') === 0 && workload.distinctKeys <= config.l1Size) {
    lines.push(
      `${layered.label}: no L2 hits, since the L1 holds every key this workload reads. An L2 pays off when the`,
      '  working set outgrows the L1, or is shared by several processes: try --l1-size 1000.',
    )
  }
  for (const run of runs) {
    if (run.errors > 0)
      lines.push(`${run.label}: ${fmt(run.errors)} requests failed; first error: ${run.firstError}`)
  }
  const http = runs.find((run) => run.http !== undefined)
  if (http?.http !== undefined) {
    lines.push(
      `${http.label}: the same requests over HTTP to a Fastify API with stratacache/http (real sockets, fetch):`,
      '  response-cache hits = responses served from stored pages / reads; 304 share = reads answered',
      `  304 Not Modified to a client revalidating its copy; ${fmt(http.http.purges)} price updates purged their pages by tag.`,
    )
  }
  lines.push(
    'hit ratio: reads that did not query the database / reads. Latency: per request, performance.now().',
    'A price update writes SQLite, then deletes the product and its category-page entry (stale reads: product',
    'reads that returned a price the database had neither at the start nor at the end of the request).',
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
  }
}
