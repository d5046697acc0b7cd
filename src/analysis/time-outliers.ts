/**
 * Timestamps far outside the rest of a log's (a corrupted line, an epoch-0 line, a line from a
 * clock years off). One of them stretched the log's span, and every rate derived from it (change
 * intervals, TTLs, the prediction's expiries), by as much as it is off: found here, in bounded
 * memory, and left out of the span — the report lists them, so nothing is left out silently.
 */

/** Earliest and latest timestamps kept, each with its line. Outliers beyond this many per side are not found. */
export const TIME_EXTREMES = 1024

/**
 * A timestamp is an outlier when it lies further from the log's trimmed span (the span without its
 * earliest and latest 1%) than this many times that span: a line that far out is not the log's
 * quiet start or end, it is a time the log cannot have.
 */
const OUTLIER_FACTOR = 10

/** ... and further than this (ms), so that a burst of a few ms does not make its neighbours outliers. */
const MIN_OUTLIER_DISTANCE_MS = 60_000

/** Fewer timed events than this: no span to judge against. */
const MIN_TIMED = 5

export interface TimeOutlier {
  readonly line: number
  /** ms since the epoch, as the line says. */
  readonly time: number
}

export interface TimeRange {
  /** The earliest and latest timestamps that are not outliers (Infinity / -Infinity without any). */
  readonly first: number
  readonly last: number
  /** Earliest first, then latest first (at most {@link TIME_EXTREMES} per side). */
  readonly outliers: readonly TimeOutlier[]
  /** Whether `time` is within [first, last]: the range the span and the replays' clock use. */
  readonly within: (time: number) => boolean
}

/** The `keep` smallest (or largest) values seen, with their lines: a buffer of 2 × keep cut back to keep when full. */
class Extreme {
  readonly #times: Float64Array
  readonly #lines: Float64Array
  readonly #scratch: Float64Array
  #length = 0
  /** Only values strictly beyond it can still be among the kept ones. */
  #cut: number

  constructor(
    readonly keep: number,
    /** 1: keeps the smallest; -1: the largest. */
    readonly sign: 1 | -1,
  ) {
    this.#times = new Float64Array(2 * keep)
    this.#lines = new Float64Array(2 * keep)
    this.#scratch = new Float64Array(2 * keep)
    this.#cut = sign * Number.POSITIVE_INFINITY
  }

  add(time: number, line: number): void {
    if (this.sign * time >= this.sign * this.#cut) return
    if (this.#length === this.#times.length) this.#compact()
    this.#times[this.#length] = time
    this.#lines[this.#length] = line
    this.#length++
  }

  /** The kept values, most extreme first (ties by line). */
  sorted(): TimeOutlier[] {
    this.#compact()
    const out: TimeOutlier[] = []
    for (let i = 0; i < this.#length; i++)
      out.push({ time: this.#times[i] as number, line: this.#lines[i] as number })
    return out.sort((a, b) => this.sign * (a.time - b.time) || a.line - b.line)
  }

  /**
   * Keeps the `keep` most extreme values. Their cut is found by a native sort of the times alone
   * (a time-ordered log sends every event to the latest's buffer: a comparator sort of pairs made
   * the analysis of a 10-million-line log a second slower), then the pairs are filtered in place.
   */
  #compact(): void {
    const n = this.#length
    if (n <= this.keep) return
    const scratch = this.#scratch.subarray(0, n)
    scratch.set(this.#times.subarray(0, n))
    scratch.sort()
    const cut = (this.sign === 1 ? scratch[this.keep - 1] : scratch[n - this.keep]) as number
    let beyond = 0
    for (let i = 0; i < n; i++) if (this.sign * (this.#times[i] as number) < this.sign * cut) beyond++
    let ties = this.keep - beyond
    let j = 0
    for (let i = 0; i < n; i++) {
      const time = this.#times[i] as number
      const inside = this.sign * time < this.sign * cut
      if (!inside && !(time === cut && ties-- > 0)) continue
      this.#times[j] = time
      this.#lines[j] = this.#lines[i] as number
      j++
    }
    this.#length = j
    this.#cut = cut
  }
}

/** Collects every timed event's time; {@link range} finds the outliers once the log is read. */
export class TimeExtremes {
  readonly #low: Extreme
  readonly #high: Extreme
  count = 0

  constructor(keep = TIME_EXTREMES) {
    this.#low = new Extreme(keep, 1)
    this.#high = new Extreme(keep, -1)
  }

  add(time: number, line: number): void {
    this.count++
    this.#low.add(time, line)
    this.#high.add(time, line)
  }

  range(): TimeRange {
    const low = this.#low.sorted()
    const high = this.#high.sorted()
    const first = low[0]?.time ?? Number.POSITIVE_INFINITY
    const last = high[0]?.time ?? Number.NEGATIVE_INFINITY
    // At most 1% of the lines (and one more, for small logs) per side can be outliers.
    const m = Math.min(this.#low.keep - 1, 1 + Math.floor(this.count / 100))
    if (this.count < MIN_TIMED || this.count < 2 * m + 3) return rangeOf(first, last, [])
    const coreLow = (low[m] as TimeOutlier).time
    const coreHigh = (high[m] as TimeOutlier).time
    const reach = Math.max(OUTLIER_FACTOR * (coreHigh - coreLow), MIN_OUTLIER_DISTANCE_MS)
    let below = 0
    while (below < m && (low[below] as TimeOutlier).time < coreLow - reach) below++
    let above = 0
    while (above < m && (high[above] as TimeOutlier).time > coreHigh + reach) above++
    return rangeOf((low[below] as TimeOutlier).time, (high[above] as TimeOutlier).time, [
      ...low.slice(0, below),
      ...high.slice(0, above),
    ])
  }
}

function rangeOf(first: number, last: number, outliers: readonly TimeOutlier[]): TimeRange {
  return { first, last, outliers, within: (time) => time >= first && time <= last }
}
