import { describeValue, expectObject } from '../base/describe.js'
import { type Duration, parseDuration } from '../base/duration.js'
import { fnv1a } from '../base/fnv.js'
import { InvalidOptionError } from '../errors.js'

/** Options of {@link adaptiveTtl}. */
export interface AdaptiveTtlOptions {
  /** TTL of a key read rarely. */
  min: Duration
  /** TTL of a key read at least `hotReads` times in the current window. */
  max: Duration
  /** Reads (in the sliding window) at which a key earns `max`. Default 100. */
  hotReads?: number
  /** Counter width of the sketch; memory is `4 × width` bytes whatever the number of keys. Default 4096. */
  width?: number
}

const DEPTH = 4
const SATURATION = 255
/**
 * The widest sketch: 4 × 2^24 one-byte counters, 64 MiB. Beyond it a width allocated gigabytes,
 * and from 2^32 on it passed the power-of-two check (`&` reads 32 bits) and failed with a bare
 * RangeError.
 */
const MAX_WIDTH = 2 ** 24

/**
 * A TTL that grows with how often a key is read: rarely read keys get `min`, hot keys `max`, in
 * between it grows with log(reads). Reads are counted in a count-min sketch of 8-bit counters
 * (fixed memory, overestimates only) that halves all counters every `10 × width` reads, so
 * popularity decays and a key that cools down falls back toward `min`.
 */
export class AdaptiveTtl {
  readonly kind = 'adaptive' as const
  readonly minMs: number
  readonly maxMs: number
  readonly #hotReads: number
  readonly #counters: Uint8Array
  readonly #mask: number
  readonly #resetAfter: number
  #reads = 0

  constructor(options: AdaptiveTtlOptions) {
    this.minMs = parseDuration(options.min, 'ttl.adaptive min')
    this.maxMs = parseDuration(options.max, 'ttl.adaptive max')
    if (this.minMs > this.maxMs) {
      throw new InvalidOptionError(`ttl.adaptive: min (${options.min}) must not exceed max (${options.max}).`)
    }
    this.#hotReads = options.hotReads ?? 100
    if (!Number.isInteger(this.#hotReads) || this.#hotReads < 2 || this.#hotReads > SATURATION) {
      throw new InvalidOptionError(`ttl.adaptive hotReads must be an integer in 2..${SATURATION}.`)
    }
    const width = options.width ?? 4096
    if (!Number.isInteger(width) || width < 64 || width > MAX_WIDTH || (width & (width - 1)) !== 0) {
      throw new InvalidOptionError(
        `ttl.adaptive width must be a power of two from 64 to ${MAX_WIDTH} (2^24, 64 MiB of counters); got ${describeValue(width)}.`,
      )
    }
    this.#counters = new Uint8Array(width * DEPTH)
    this.#mask = width - 1
    this.#resetAfter = width * 10
  }

  /** Counts one read of `key`. */
  record(key: string): void {
    const h = hash(key)
    const width = this.#mask + 1
    for (let row = 0; row < DEPTH; row++) {
      const index = row * width + (rehash(h, row) & this.#mask)
      const count = this.#counters[index] as number
      if (count < SATURATION) this.#counters[index] = count + 1
    }
    if (++this.#reads >= this.#resetAfter) this.#age()
  }

  /** Estimated reads of `key` in the current window. */
  frequency(key: string): number {
    const h = hash(key)
    const width = this.#mask + 1
    let min = SATURATION
    for (let row = 0; row < DEPTH; row++) {
      const count = this.#counters[row * width + (rehash(h, row) & this.#mask)] as number
      if (count < min) min = count
    }
    return min
  }

  /** The TTL for `key` now: `min` for cold keys, `max` from `hotReads` on, log-scaled between. */
  ttlFor(key: string): number {
    const reads = this.frequency(key)
    if (reads <= 1) return this.minMs
    // min = max: nothing to scale (and Infinity − Infinity below is NaN, a TTL that cached nothing).
    if (reads >= this.#hotReads || this.minMs === this.maxMs) return this.maxMs
    const share = Math.log(reads) / Math.log(this.#hotReads)
    return Math.round(this.minMs + (this.maxMs - this.minMs) * share)
  }

  #age(): void {
    for (let i = 0; i < this.#counters.length; i++) this.#counters[i] = (this.#counters[i] as number) >>> 1
    this.#reads = 0
  }
}

/** FNV-1a: fast, good enough spread for a sketch. */
const hash = fnv1a

function rehash(h: number, row: number): number {
  let x = (h + Math.imul(row + 1, 0x9e3779b9)) >>> 0
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b)
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** A TTL that grows with read frequency; see {@link AdaptiveTtl}. */
export function adaptiveTtl(options: AdaptiveTtlOptions): AdaptiveTtl {
  return new AdaptiveTtl(expectObject(options, 'adaptiveTtl(options)'))
}
