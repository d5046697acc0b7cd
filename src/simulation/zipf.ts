import type { Random } from './random.js'

const TWO_32 = 4294967296

/**
 * YCSB's ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic databases",
 * SIGMOD 1994), for any skew α ≥ 0 rather than YCSB's fixed 0.99: item ranks 0 … n−1 with
 * P(rank i) ∝ 1 / (i + 1)^α. Exact ζ(n, α) is computed once (O(n)); each draw is O(1). α = 1, where
 * the closed form divides by 1 − α, uses the formula's limit as α → 1.
 */
export class ZipfianGenerator {
  readonly n: number
  readonly alpha: number
  readonly zetan: number
  readonly #exponent: number // YCSB's `alpha` = 1 / (1 − θ)
  readonly #eta: number
  readonly #secondThreshold: number // 1 + 0.5^θ
  readonly #logHalfN: number // ln(n / 2), for α = 1
  readonly #denominator: number // 1 − ζ(2, θ) / ζ(n, θ)

  constructor(n: number, alpha: number) {
    if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`Zipf needs n ≥ 1 items; got ${n}.`)
    if (!Number.isFinite(alpha) || alpha < 0) throw new RangeError(`Zipf needs a skew α ≥ 0; got ${alpha}.`)
    this.n = n
    this.alpha = alpha
    this.zetan = zeta(n, alpha)
    const zeta2 = zeta(Math.min(2, n), alpha)
    this.#secondThreshold = 1 + 0.5 ** alpha
    this.#denominator = 1 - zeta2 / this.zetan
    this.#logHalfN = Math.log(n / 2)
    this.#exponent = alpha === 1 ? Number.POSITIVE_INFINITY : 1 / (1 - alpha)
    this.#eta = n <= 2 || alpha === 1 ? 0 : (1 - (2 / n) ** (1 - alpha)) / this.#denominator
  }

  /** A rank in [0, n): 0 is the most popular. */
  next(random: Random): number {
    const u = random.next()
    const uz = u * this.zetan
    if (uz < 1) return 0
    if (uz < this.#secondThreshold || this.n <= 2) return Math.min(1, this.n - 1)
    const scaled =
      this.alpha === 1
        ? Math.exp((-this.#logHalfN * (1 - u)) / this.#denominator)
        : (this.#eta * u - this.#eta + 1) ** this.#exponent
    const rank = Math.floor(this.n * scaled)
    return rank < this.n ? rank : this.n - 1
  }
}

/**
 * YCSB's ScrambledZipfianGenerator: Zipf-distributed ranks spread over the key space by
 * `fnvhash64(rank) % n`, so the popular keys are not the small ones. (As in YCSB, the hash is not a
 * bijection: a few ranks share a key and a few keys are never drawn.)
 */
export class ScrambledZipfianGenerator {
  readonly #zipf: ZipfianGenerator

  constructor(n: number, alpha: number) {
    if (n > 2 ** 31) throw new RangeError(`Scrambled Zipf supports n ≤ 2^31 items; got ${n}.`)
    this.#zipf = new ZipfianGenerator(n, alpha)
  }

  get n(): number {
    return this.#zipf.n
  }

  /** A key in [0, n). */
  next(random: Random): number {
    return fnv64Mod(this.#zipf.next(random), this.#zipf.n)
  }
}

/** ζ(n, θ) = Σ_{i=1..n} 1 / i^θ. */
export function zeta(n: number, theta: number): number {
  let sum = 0
  // Smallest terms first: less rounding error for large n.
  for (let i = n; i >= 1; i--) sum += 1 / i ** theta
  return sum
}

/**
 * YCSB's `Utils.fnvhash64(value) % n`: 64-bit FNV-1 over the 8 little-endian bytes of `value`, made
 * non-negative as Java's `Math.abs` does, modulo `n` — computed in 32-bit halves, no BigInt.
 * `value` is a non-negative safe integer, 1 ≤ n ≤ 2^31.
 */
export function fnv64Mod(value: number, n: number): number {
  let lo = 0x84222325
  let hi = 0xcbf29ce4
  const valueLo = value >>> 0
  const valueHi = Math.floor(value / TWO_32) >>> 0
  for (let i = 0; i < 8; i++) {
    const octet = i < 4 ? (valueLo >>> (8 * i)) & 0xff : (valueHi >>> (8 * (i - 4))) & 0xff
    lo = (lo ^ octet) >>> 0
    // × 0x100000001b3 (= 2^40 + 0x1b3) modulo 2^64
    const low = lo * 0x1b3
    const carry = Math.floor(low / TWO_32)
    hi = (Math.imul(hi, 0x1b3) + carry + (lo << 8)) >>> 0
    lo = low >>> 0
  }
  if (hi >= 0x80000000) {
    // two's complement negation: Math.abs of a negative Java long
    lo = (~lo + 1) >>> 0
    hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0
  }
  let r = hi % n
  r = (r * 65536) % n
  r = (r * 65536) % n
  return (r + (lo % n)) % n
}
