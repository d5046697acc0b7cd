const TWO_32 = 4294967296
const TWO_53 = 9007199254740992

/**
 * xoshiro128** (Blackman & Vigna), a small fast PRNG with a 2^128 − 1 period, seeded through
 * splitmix32 so that nearby seeds give unrelated streams. Deterministic: the same seed always gives
 * the same sequence, on every platform (only 32-bit integer arithmetic).
 */
export class Random {
  #a: number
  #b: number
  #c: number
  #d: number

  /** `seed`: any safe integer (both 32-bit halves are used). */
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed)) throw new RangeError(`A seed must be a safe integer; got ${seed}.`)
    let state = (seed >>> 0) ^ Math.imul(Math.floor(seed / TWO_32) | 0, 0x9e3779b9)
    const next = (): number => {
      state = (state + 0x9e3779b9) | 0
      let z = state
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) | 0
    }
    this.#a = next()
    this.#b = next()
    this.#c = next()
    this.#d = next()
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1
  }

  /** A uniform integer in [0, 2^32). */
  nextUint32(): number {
    const b = this.#b
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0
    const t = b << 9
    this.#c ^= this.#a
    this.#d ^= b
    this.#b ^= this.#c
    this.#a ^= this.#d
    this.#c ^= t
    this.#d = rotl(this.#d, 11)
    return result
  }

  /** A uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5 // 27 bits
    const lo = this.nextUint32() >>> 6 // 26 bits
    return (hi * 67108864 + lo) / TWO_53
  }

  /** A uniform integer in [0, n), for 1 ≤ n ≤ 2^53. */
  nextInt(n: number): number {
    return Math.floor(this.next() * n)
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}
