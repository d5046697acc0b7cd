/**
 * Arithmetic on snapshots shared by the Prometheus adapter and the dashboard: reading caches'
 * snapshots afresh, grouping the snapshots of several instances by cache name, and adding,
 * subtracting and reading histograms.
 */
import type { CacheSnapshot, HistogramData } from './types.js'

/**
 * The snapshots of `sources`, each taken after its `health()`: a snapshot carries what the last
 * health() learnt of Redis (whether it answers, its memory), so read alone it repeated that
 * forever — a frozen Redis read as connected and healthy for as long as nothing else called
 * health(). A health() that fails leaves its snapshot as it is.
 */
export async function freshSnapshots(
  sources: readonly { snapshot(): CacheSnapshot; health?(): Promise<unknown> }[],
): Promise<CacheSnapshot[]> {
  await Promise.all(
    sources.map(async (source) => {
      try {
        if (typeof source.health === 'function') await source.health()
      } catch {
        // The snapshot says what is known; a source whose health() throws still has one.
      }
    }),
  )
  return sources.map((source) => source.snapshot())
}

/** Snapshots grouped by cache name, in first-seen order. */
export function groupByCache(snapshots: readonly CacheSnapshot[]): Map<string, CacheSnapshot[]> {
  const groups = new Map<string, CacheSnapshot[]>()
  for (const snapshot of snapshots) {
    const group = groups.get(snapshot.cache)
    if (group === undefined) groups.set(snapshot.cache, [snapshot])
    else group.push(snapshot)
  }
  return groups
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The sum of histograms with the same bounds (instances of one version share them). A histogram
 * with other bounds is left out rather than mis-added; undefined when the list is empty.
 */
export function sumHistograms(histograms: readonly HistogramData[]): HistogramData | undefined {
  const first = histograms[0]
  if (first === undefined) return undefined
  if (histograms.length === 1) return first
  const counts = first.counts.slice()
  let count = first.count
  let sum = first.sum
  for (let h = 1; h < histograms.length; h++) {
    const other = histograms[h]!
    if (!sameBounds(first.bounds, other.bounds) || other.counts.length !== counts.length) continue
    for (let i = 0; i < counts.length; i++) counts[i] = (counts[i] ?? 0) + (other.counts[i] ?? 0)
    count += other.count
    sum += other.sum
  }
  return { bounds: first.bounds, counts, count, sum }
}

/**
 * `current - previous` bucket by bucket (the observations made between two snapshots of one
 * instance). A histogram that went backwards (the instance restarted) counts from zero.
 */
export function subtractHistogram(
  current: HistogramData,
  previous: HistogramData | undefined,
): HistogramData {
  if (
    previous === undefined ||
    !sameBounds(current.bounds, previous.bounds) ||
    previous.count > current.count
  ) {
    return current
  }
  const counts = current.counts.map((c, i) => Math.max(0, c - (previous.counts[i] ?? 0)))
  return {
    bounds: current.bounds,
    counts,
    count: current.count - previous.count,
    sum: Math.max(0, current.sum - previous.sum),
  }
}

/**
 * The q-quantile (0..1) of a histogram, interpolated linearly inside its bucket like Prometheus'
 * `histogram_quantile`; a quantile in the +Inf bucket reads as the highest finite bound. 0 when
 * the histogram is empty.
 */
export function histogramQuantile(histogram: HistogramData, q: number): number {
  const { bounds, counts, count } = histogram
  if (count <= 0) return 0
  const rank = q * count
  let seen = 0
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i] ?? 0
    if (inBucket > 0 && seen + inBucket >= rank) {
      const upper = bounds[i]
      if (upper === undefined) return bounds[bounds.length - 1] ?? 0
      const lower = i === 0 ? 0 : (bounds[i - 1] ?? 0)
      return lower + (upper - lower) * Math.min(1, Math.max(0, (rank - seen) / inBucket))
    }
    seen += inBucket
  }
  return bounds[bounds.length - 1] ?? 0
}
