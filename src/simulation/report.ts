import { OPT, type PolicyResult, type SimulationResult } from './simulate.js'

/** What the report says about where the keys came from. */
export interface ReportSource {
  /** `trace` or `synthetic`. */
  readonly kind: 'trace' | 'synthetic'
  /** The file, or the workload's description. */
  readonly name: string
  /** The file's format, for traces. */
  readonly format?: string
  /** The seed, for synthetic workloads. */
  readonly seed?: number
}

const percent = (ratio: number): string => (ratio * 100).toFixed(2)

function cell(result: SimulationResult, policy: string, size: number): PolicyResult {
  return result.results[result.policies.indexOf(policy) * result.sizes.length + size] as PolicyResult
}

function sizeHeader(size: { size: string; capacity: number }): string {
  return size.size.endsWith('%') ? `${size.size} (${size.capacity.toLocaleString('en-US')})` : size.size
}

/**
 * A table: one row per policy, one column per size, hit ratios in % with 2 decimals; the best real
 * policy in each column is starred; OPT, when simulated, is the last row, set apart as the bound.
 */
export function formatTable(result: SimulationResult, source: ReportSource): string {
  const lines: string[] = []
  const origin =
    source.kind === 'trace'
      ? `${source.name} (${source.format ?? 'trace'})`
      : `${source.name}${source.seed === undefined ? '' : ` seed=${source.seed}`}`
  lines.push(`${source.kind === 'trace' ? 'Trace' : 'Synthetic'}: ${origin}`)
  lines.push(
    `${result.requests.toLocaleString('en-US')} requests, ${result.distinctKeys.toLocaleString('en-US')} distinct keys, ` +
      `${(result.elapsedMs / 1000).toFixed(1)} s`,
  )
  lines.push('')

  const real = result.policies.filter((p) => p !== OPT)
  const hasOpt = result.policies.includes(OPT)
  const best = result.sizes.map((_, s) => Math.max(...real.map((p) => cell(result, p, s).hits)))
  const rows: string[][] = real.map((policy) => [
    policy,
    ...result.sizes.map((_, s) => {
      const { hits, hitRatio } = cell(result, policy, s)
      return `${percent(hitRatio)}${real.length > 1 && hits === best[s] ? '*' : ' '}`
    }),
  ])
  const optRow = hasOpt
    ? ['opt (upper bound)', ...result.sizes.map((_, s) => `${percent(cell(result, OPT, s).hitRatio)} `)]
    : undefined
  const header = ['hit ratio %', ...result.sizes.map((size) => `${sizeHeader(size)} `)]
  const all = [header, ...rows, ...(optRow ? [optRow] : [])]
  const widths = header.map((_, c) => Math.max(...all.map((row) => (row[c] as string).length)))
  const render = (row: string[]): string =>
    row
      .map((text, c) => (c === 0 ? text.padEnd(widths[c] as number) : text.padStart(widths[c] as number)))
      .join('  ')
      .trimEnd()
  lines.push(render(header))
  for (const row of rows) lines.push(render(row))
  if (optRow) {
    lines.push(widths.map((w) => '-'.repeat(w)).join('  '))
    lines.push(render(optRow))
  }
  lines.push('')
  if (real.length > 1) lines.push('* the best policy at that size.')
  if (hasOpt) {
    lines.push(
      "opt: Bélády's clairvoyant optimum, computed offline with knowledge of the future: no policy can hit more at the same size.",
    )
  }
  return `${lines.join('\n')}\n`
}

/** Everything, as one JSON document (hit ratios as fractions 0 … 1). */
export function formatJson(result: SimulationResult, source: ReportSource): string {
  return `${JSON.stringify(
    {
      source: {
        kind: source.kind,
        name: source.name,
        ...(source.format === undefined ? {} : { format: source.format }),
        ...(source.seed === undefined ? {} : { seed: source.seed }),
      },
      requests: result.requests,
      distinctKeys: result.distinctKeys,
      elapsedMs: Math.round(result.elapsedMs),
      sizes: result.sizes,
      results: result.results.map((r) => ({
        policy: r.policy,
        size: r.size,
        capacity: r.capacity,
        hits: r.hits,
        misses: r.misses,
        hitRatio: r.hitRatio,
        elapsedMs: Math.round(r.elapsedMs),
      })),
    },
    null,
    2,
  )}\n`
}

/** One CSV row per (policy, size): `policy,size,capacity,requests,hits,misses,hit_ratio`. */
export function formatCsv(result: SimulationResult): string {
  const quote = (text: string): string => (/[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text)
  const rows = result.results.map((r) =>
    [
      quote(r.policy),
      quote(r.size),
      r.capacity,
      result.requests,
      r.hits,
      r.misses,
      r.hitRatio.toFixed(6),
    ].join(','),
  )
  return `${['policy,size,capacity,requests,hits,misses,hit_ratio', ...rows].join('\n')}\n`
}
