import type { Random } from './random.js'
import { ScrambledZipfianGenerator } from './zipf.js'

/**
 * Synthetic workloads whose reuse is driven by *recency*, alone or mixed with frequency-heavy
 * parts: the kinds of src/simulation/synthetic.ts that make a cache's window matter at large sizes.
 * Each kind is a key stream built from a seeded {@link Random}; the spec grammar, the parameters
 * and their defaults live in synthetic.ts with the other kinds.
 *
 * The building block is {@link RecentReuse}: a request either introduces a fresh key or re-reads
 * the key this stream produced `d` requests ago, `d` log-uniform in [1, reach] (density ∝ 1/d, as
 * the stack distances of file-system and disk traces fall off). A key is re-read in proportion to
 * how often it was read *recently*, so yesterday's popular keys fade out: the workload on which a
 * frequency count that ages slowly keeps the wrong keys.
 */
export type RecencyKind = 'recent' | 'drift' | 'phases' | 'lirs-mix' | 'arc-mix'

export const RECENCY_KINDS: readonly RecencyKind[] = ['recent', 'drift', 'phases', 'lirs-mix', 'arc-mix']

/** Keys the recency parts invent start here, above every Zipf, loop and background key. */
const FRESH_BASE = 1 << 30

/** Re-reads of the keys a stream produced recently, at log-uniform time distances, or fresh keys. */
class RecentReuse {
  readonly #history: Int32Array
  readonly #mask: number
  readonly #reach: number
  /** 1 − theta: the distance density is ∝ d^−theta (theta = 1: log-uniform). */
  readonly #power: number
  readonly #freshShare: number
  readonly #fresh: () => number
  #produced = 0

  constructor(reach: number, theta: number, freshShare: number, fresh: () => number) {
    let size = 1
    while (size < reach) size *= 2
    this.#history = new Int32Array(size)
    this.#mask = size - 1
    this.#reach = reach
    this.#power = 1 - theta
    this.#freshShare = freshShare
    this.#fresh = fresh
  }

  /** A distance in [1, reach] with density ∝ d^−theta (inverse transform of the continuous law). */
  #distance(random: Random): number {
    const u = random.next()
    const power = this.#power
    const d =
      power === 0
        ? Math.exp(u * Math.log(this.#reach + 1))
        : (1 + u * ((this.#reach + 1) ** power - 1)) ** (1 / power)
    return Math.min(this.#reach, Math.max(1, Math.floor(d)))
  }

  next(random: Random): number {
    const produced = this.#produced
    let key: number
    if (produced === 0 || random.next() < this.#freshShare) key = this.#fresh()
    else {
      // Never further back than this stream's start.
      const d = Math.min(produced, this.#distance(random))
      key = this.#history[(produced - d) & this.#mask] as number
    }
    this.#history[produced & this.#mask] = key
    this.#produced = produced + 1
    return key
  }
}

/** A key stream for a recency kind with its parameters (defaults filled in). */
export function recencyStream(
  kind: RecencyKind,
  p: Readonly<Record<string, number>>,
  random: Random,
): () => number {
  let freshKey = FRESH_BASE
  const fresh = (): number => freshKey++
  const recent = (): RecentReuse =>
    new RecentReuse(p.reach as number, p.theta as number, p.fresh as number, fresh)
  const zipf = (): ScrambledZipfianGenerator =>
    new ScrambledZipfianGenerator(p.n as number, p.alpha as number)
  let t = 0
  switch (kind) {
    case 'recent': {
      const stream = recent()
      return () => stream.next(random)
    }
    case 'drift': {
      // A working set of `ws` consecutive keys whose head advances `rate` keys per request: a key
      // is hot for ws / rate requests, then never read again; `1 − share` goes to background keys.
      const ws = p.ws as number
      const rate = p.rate as number
      const share = p.share as number
      const n = p.n as number
      return () => {
        const head = Math.floor(t++ * rate)
        return random.next() < share ? n + head + random.nextInt(ws) : random.nextInt(n)
      }
    }
    case 'phases': {
      // Recency phases (a `recent` stream) and frequency phases (Zipf over the same n keys every
      // time) alternate every `phase` requests.
      const stream = recent()
      const frequent = zipf()
      const phase = p.phase as number
      return () => (Math.floor(t++ / phase) % 2 === 0 ? stream.next(random) : frequent.next(random))
    }
    case 'lirs-mix': {
      // LIRS's access patterns (Jiang & Zhang, 2002) interleaved, as in its multi-program traces:
      // a loop over `loop` keys, temporally clustered re-reads, and a probabilistic (Zipf) part.
      const stream = recent()
      const frequent = zipf()
      const loop = p.loop as number
      const loopShare = p['loop-share'] as number
      const recentShare = p['recent-share'] as number
      const loopBase = p.n as number
      let inLoop = 0
      return () => {
        const u = random.next()
        if (u < loopShare) {
          const key = loopBase + inLoop
          inLoop = inLoop + 1 === loop ? 0 : inLoop + 1
          return key
        }
        return u < loopShare + recentShare ? stream.next(random) : frequent.next(random)
      }
    }
    case 'arc-mix': {
      // What ARC adapts to (Megiddo & Modha, 2003): the balance of recency and frequency moves —
      // each `phase` requests, the share of recency re-reads swaps between `recent-share` and
      // 1 − `recent-share` (the rest is Zipf) — and sequential scans of `scan` never-seen keys
      // come through every phase / 4 requests.
      const stream = recent()
      const frequent = zipf()
      const phase = p.phase as number
      const scan = p.scan as number
      const gap = Math.max(1, Math.floor(phase / 4))
      let scanning = 0
      return () => {
        const now = t++
        if (scanning > 0) {
          scanning--
          return fresh()
        }
        if (now % gap === gap - 1) scanning = scan
        const share =
          Math.floor(now / phase) % 2 === 0 ? p['recent-share'] : 1 - (p['recent-share'] as number)
        return random.next() < (share as number) ? stream.next(random) : frequent.next(random)
      }
    }
  }
}
