import { Random } from '../../simulation/random.js'
import { type CatalogLayout, PAGE_SIZE } from './catalog.js'

/** One request of the replayed workload. */
export type DemoRequest =
  | { readonly kind: 'product'; readonly id: number }
  | { readonly kind: 'page'; readonly categoryId: number; readonly page: number }
  | {
      readonly kind: 'write'
      readonly id: number
      readonly priceCents: number
      readonly categoryId: number
      /** The category page (1..pages) that lists this product, or null if it is beyond the pages read. */
      readonly page: number | null
    }

export interface WorkloadOptions {
  /** Requests of the measured window. */
  readonly requests: number
  /** Requests replayed before the measured window, untimed, so that the caches reach their steady state. */
  readonly warmup: number
  readonly products: number
  readonly categories: number
  /** Zipf exponent: 0 is uniform, ~1 is typical web traffic. */
  readonly alpha: number
  /** Share of requests that are price updates. */
  readonly writeShare: number
  /** Share of the reads that are category pages (the rest are product reads). */
  readonly pageShare: number
  /** Category pages 1..pages are read, page p with weight 1/p. */
  readonly pages: number
  readonly seed: number
  readonly layout: CatalogLayout
}

export interface Workload {
  /** The warm-up, then the measured window: one sequence, as a running service sees it. */
  readonly requests: readonly DemoRequest[]
  /** Index of the first measured request (= the warm-up's length). */
  readonly measuredFrom: number
  /** Counts of the measured window: */
  readonly productReads: number
  readonly pageReads: number
  readonly writes: number
  /** Distinct cache keys the window's reads touch. */
  readonly distinctKeys: number
  /** Of those, the keys the warm-up never read: each misses at least once in the window, whatever the cache. */
  readonly newKeys: number
}

/** Samples ranks 0..n-1 with P(rank k) ∝ 1/(k+1)^alpha, by binary search in the cumulative weights. */
export function zipfSampler(n: number, alpha: number): (u: number) => number {
  const cumulative = new Float64Array(n)
  let total = 0
  for (let k = 0; k < n; k++) {
    total += 1 / (k + 1) ** alpha
    cumulative[k] = total
  }
  return (u) => {
    const target = u * total
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((cumulative[mid] as number) < target) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** Ids 1..n in a seeded random order: popularity rank r maps to id permutation[r]. */
function shuffledIds(n: number, random: () => number): Int32Array {
  const ids = new Int32Array(n)
  for (let i = 0; i < n; i++) ids[i] = i + 1
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const tmp = ids[i] as number
    ids[i] = ids[j] as number
    ids[j] = tmp
  }
  return ids
}

/**
 * Generates the whole request sequence (warm-up, then measured window) up front, so every run
 * replays exactly the same requests. Products and categories are Zipf-distributed (the hot items are scattered over the id
 * space, not ids 1, 2, 3…); writes pick their product from the same distribution, since popular
 * products are also the ones whose prices change.
 */
export function generateWorkload(options: WorkloadOptions): Workload {
  const { products, categories, alpha, writeShare, pageShare, pages, layout, warmup } = options
  const requests = warmup + options.requests
  const rng = new Random(options.seed)
  const random = (): number => rng.next()
  const productIds = shuffledIds(products, random)
  const categoryIds = shuffledIds(categories, random)
  const productRank = zipfSampler(products, alpha)
  const categoryRank = zipfSampler(categories, alpha)
  const pageRank = zipfSampler(pages, 1)
  const pickProduct = (): number => productIds[productRank(random())] as number
  const pickCategory = (): number => categoryIds[categoryRank(random())] as number

  const out: DemoRequest[] = new Array(requests)
  const warmed = new Set<string>()
  const seen = new Set<string>()
  let productReads = 0
  let pageReads = 0
  let writes = 0
  const read = (i: number, key: string): void => {
    if (i < warmup) warmed.add(key)
    else seen.add(key)
  }
  for (let i = 0; i < requests; i++) {
    const measured = i >= warmup ? 1 : 0
    const r = random()
    if (r < writeShare) {
      const id = pickProduct()
      const page = Math.floor((layout.rankInCategory[id] as number) / PAGE_SIZE) + 1
      out[i] = {
        kind: 'write',
        id,
        priceCents: 99 + Math.floor(random() * 99_900),
        categoryId: layout.categoryOf[id] as number,
        page: page <= pages ? page : null,
      }
      writes += measured
    } else if (r < writeShare + (1 - writeShare) * pageShare) {
      const categoryId = pickCategory()
      const page = pageRank(random()) + 1
      out[i] = { kind: 'page', categoryId, page }
      read(i, `c${categoryId}:${page}`)
      pageReads += measured
    } else {
      const id = pickProduct()
      out[i] = { kind: 'product', id }
      read(i, `p${id}`)
      productReads += measured
    }
  }
  let newKeys = 0
  for (const key of seen) if (!warmed.has(key)) newKeys++
  return {
    requests: out,
    measuredFrom: warmup,
    productReads,
    pageReads,
    writes,
    distinctKeys: seen.size,
    newKeys,
  }
}
