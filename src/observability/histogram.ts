/**
 * Latency histograms with fixed buckets: recording is a binary search and two additions (no
 * allocation), percentiles are interpolated inside fine buckets, and the Prometheus view sums fine
 * buckets into the coarser `le` bounds, so both come from one set of counters.
 */
import type { HistogramData, LatencySeries, OperationName, TierLabel } from './types.js'

/** Fine upper bounds in seconds: 1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k, from 100 ns to 80 s. */
const STEPS = [1, 1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8]
const FINE_BOUNDS: readonly number[] = (() => {
  const bounds: number[] = []
  for (let exponent = -7; exponent <= 1; exponent++) {
    for (const step of STEPS) bounds.push(Number((step * 10 ** exponent).toPrecision(3)))
  }
  return bounds
})()

/** The Prometheus `le` bounds (seconds): 1, 2.5, 5 × 10^k from 1 µs to 50 s; each is a fine bound. */
export const PROMETHEUS_BOUNDS: readonly number[] = FINE_BOUNDS.filter((bound) => {
  const mantissa = Number((bound / 10 ** Math.floor(Math.log10(bound) + 1e-9)).toPrecision(3))
  return bound >= 1e-6 && (mantissa === 1 || mantissa === 2.5 || mantissa === 5)
})

function bucketOf(seconds: number): number {
  let low = 0
  let high = FINE_BOUNDS.length
  while (low < high) {
    const mid = (low + high) >>> 1
    if (seconds <= (FINE_BOUNDS[mid] as number)) high = mid
    else low = mid + 1
  }
  return low // FINE_BOUNDS.length = the overflow bucket
}

export class LatencyHistogram {
  /** Observations per fine bucket; the last one is everything above 80 s. */
  readonly counts = new Float64Array(FINE_BOUNDS.length + 1)
  count = 0
  sum = 0

  /** Records one duration in seconds, `weight` times (sampled recordings stand for `weight` calls). */
  record(seconds: number, weight = 1): void {
    const index = bucketOf(seconds)
    this.counts[index] = (this.counts[index] as number) + weight
    this.count += weight
    this.sum += seconds * weight
  }

  /**
   * The `q` quantile (0..1) in seconds, of everything recorded, or of what was recorded since
   * `base` (a copy of {@link counts} taken earlier): a sliding window costs one copy per sample.
   */
  quantile(q: number, base?: Float64Array): number {
    let total = this.count
    if (base !== undefined) for (let i = 0; i < base.length; i++) total -= base[i] as number
    if (total <= 0) return 0
    const rank = q * total
    let seen = 0
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = (this.counts[i] as number) - ((base?.[i] as number | undefined) ?? 0)
      if (inBucket <= 0) continue
      if (seen + inBucket >= rank) {
        const lower = i === 0 ? 0 : (FINE_BOUNDS[i - 1] as number)
        const upper = FINE_BOUNDS[i] ?? lower * 2
        return lower + ((upper - lower) * (rank - seen)) / inBucket
      }
      seen += inBucket
    }
    return FINE_BOUNDS[FINE_BOUNDS.length - 1] as number
  }

  /** The Prometheus view: counts per `le` bucket (not cumulative), the last one +Inf. */
  data(): HistogramData {
    const counts = new Array<number>(PROMETHEUS_BOUNDS.length + 1).fill(0)
    let target = 0
    for (let i = 0; i < this.counts.length; i++) {
      const upper = FINE_BOUNDS[i]
      while (
        upper !== undefined &&
        target < PROMETHEUS_BOUNDS.length &&
        upper > (PROMETHEUS_BOUNDS[target] as number)
      )
        target++
      const index = upper === undefined ? PROMETHEUS_BOUNDS.length : target
      counts[index] = (counts[index] as number) + (this.counts[i] as number)
    }
    return { bounds: PROMETHEUS_BOUNDS, counts, count: this.count, sum: this.sum }
  }
}

/** The histograms of one cache, one per (operation, tier) that happened. */
export class LatencyRecorder {
  readonly #histograms = new Map<
    string,
    { operation: OperationName; tier: TierLabel; histogram: LatencyHistogram }
  >()

  /** The histogram for `operation` answered by `tier` (created on first use; callers keep it). */
  histogram(operation: OperationName, tier: TierLabel): LatencyHistogram {
    const id = `${operation}:${tier}`
    let entry = this.#histograms.get(id)
    if (entry === undefined) {
      entry = { operation, tier, histogram: new LatencyHistogram() }
      this.#histograms.set(id, entry)
    }
    return entry.histogram
  }

  record(operation: OperationName, tier: TierLabel, seconds: number): void {
    this.histogram(operation, tier).record(seconds)
  }

  series(): LatencySeries[] {
    const out: LatencySeries[] = []
    for (const { operation, tier, histogram } of this.#histograms.values()) {
      if (histogram.count === 0) continue
      out.push({
        operation,
        tier,
        histogram: histogram.data(),
        p50: histogram.quantile(0.5),
        p95: histogram.quantile(0.95),
        p99: histogram.quantile(0.99),
      })
    }
    return out
  }

  /** The histograms of the operations callers wait for (getOrSet and get), for window percentiles. */
  reads(): LatencyHistogram[] {
    const out: LatencyHistogram[] = []
    for (const { operation, histogram } of this.#histograms.values()) {
      if (operation === 'getOrSet' || operation === 'get') out.push(histogram)
    }
    return out
  }
}

/** Sums histograms into one (for a percentile across tiers). */
export function mergeHistograms(histograms: readonly LatencyHistogram[]): LatencyHistogram {
  const merged = new LatencyHistogram()
  for (const histogram of histograms) {
    for (let i = 0; i < merged.counts.length; i++) {
      merged.counts[i] = (merged.counts[i] as number) + (histogram.counts[i] as number)
    }
    merged.count += histogram.count
    merged.sum += histogram.sum
  }
  return merged
}
