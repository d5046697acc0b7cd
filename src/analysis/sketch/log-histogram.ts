/**
 * A histogram of positive values in geometric buckets (4 per doubling, ±9% resolution) from
 * 2^-20 to 2^60: fixed memory, quantiles within one bucket's width. Zero has its own bucket.
 */
const PER_DOUBLING = 4
const MIN_EXP = -20
const BUCKETS = (60 - MIN_EXP) * PER_DOUBLING

export class LogHistogram {
  readonly #counts = new Float64Array(BUCKETS + 1)
  count = 0
  sum = 0

  add(value: number, weight = 1): void {
    if (!(value >= 0) || !Number.isFinite(value)) return
    this.count += weight
    this.sum += value * weight
    const bucket = value === 0 ? 0 : bucketOf(value)
    this.#counts[bucket] = (this.#counts[bucket] as number) + weight
  }

  /** The value below which a share `q` of the values lie (the bucket's geometric middle); NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN
    const target = q * this.count
    let seen = 0
    for (let i = 0; i <= BUCKETS; i++) {
      seen += this.#counts[i] as number
      if (seen >= target && (this.#counts[i] as number) > 0) return i === 0 ? 0 : middleOf(i)
    }
    return middleOf(BUCKETS)
  }

  /** The share of values below `limit` (bucket resolution). */
  shareBelow(limit: number): number {
    if (this.count === 0) return Number.NaN
    const last = limit <= 0 ? -1 : bucketOf(limit)
    let seen = 0
    for (let i = 0; i < last && i <= BUCKETS; i++) seen += this.#counts[i] as number
    return seen / this.count
  }

  get mean(): number {
    return this.count === 0 ? Number.NaN : this.sum / this.count
  }
}

function bucketOf(value: number): number {
  const b = Math.floor((Math.log2(value) - MIN_EXP) * PER_DOUBLING) + 1
  return b < 1 ? 1 : Math.min(b, BUCKETS)
}

function middleOf(bucket: number): number {
  return 2 ** ((bucket - 1 + 0.5) / PER_DOUBLING + MIN_EXP)
}
