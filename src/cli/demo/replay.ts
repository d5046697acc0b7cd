import { type Cache, key } from '../../index.js'
import type { Catalog, Product, ProductSummary } from './catalog.js'
import {
  MODE_LABELS,
  type Mode,
  PAGE_TTL,
  type Percentiles,
  PRODUCT_TTL,
  type RunOptions,
  type RunResult,
} from './types.js'
import type { DemoRequest } from './workload.js'

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/** The "remote database": SQLite behind an added latency, with every query counted. */
export class Origin {
  reads = 0
  writes = 0
  readonly #catalog: Catalog
  readonly #latencyMs: number
  readonly #updates = new Map<number, number>()

  constructor(catalog: Catalog, latencyMs: number) {
    this.#catalog = catalog
    this.#latencyMs = latencyMs
  }

  async product(id: number): Promise<Product> {
    this.reads++
    if (this.#latencyMs > 0) await sleep(this.#latencyMs)
    const product = this.#catalog.getProduct(id)
    if (product === undefined) throw new Error(`product ${id} is missing from the catalog`)
    return product
  }

  async page(categoryId: number, page: number): Promise<ProductSummary[]> {
    this.reads++
    if (this.#latencyMs > 0) await sleep(this.#latencyMs)
    return this.#catalog.getCategoryPage(categoryId, page)
  }

  async updatePrice(id: number, priceCents: number, updatedAt: number): Promise<void> {
    this.writes++
    if (this.#latencyMs > 0) await sleep(this.#latencyMs)
    this.#catalog.updatePrice(id, priceCents, updatedAt)
    this.#updates.set(id, this.updatesOf(id) + 1)
  }

  /** Price updates of `id` committed so far by this process (the staleness audit's way to see overlapping updates). */
  updatesOf(id: number): number {
    return this.#updates.get(id) ?? 0
  }

  /** Starts the counts afresh (after the warm-up). */
  reset(): void {
    this.reads = 0
    this.writes = 0
  }
}

/** How one mode serves a request. `loaded()` tells whether this request's own origin load ran. */
export interface Target {
  product(id: number, loaded: () => void): Promise<Product>
  page(categoryId: number, page: number, loaded: () => void): Promise<readonly ProductSummary[]>
  write(request: Extract<DemoRequest, { kind: 'write' }>, sequence: number): Promise<void>
}

export function directTarget(origin: Origin): Target {
  return {
    product: (id, loaded) => {
      loaded()
      return origin.product(id)
    },
    page: (categoryId, page, loaded) => {
      loaded()
      return origin.page(categoryId, page)
    },
    write: (request, sequence) => origin.updatePrice(request.id, request.priceCents, sequence),
  }
}

export const productKey = (id: number): string => key('product', id)
export const pageKey = (categoryId: number, page: number): string => key('category_page', categoryId, page)

/**
 * Cache-aside: reads go through getOrSet; a write updates the database, then deletes the
 * product's entry and the one category page that lists it (so no request is served a stale
 * price; the page TTL alone would allow up to a minute of staleness).
 */
export function cachedTarget(origin: Origin, cache: Cache): Target {
  return {
    product: (id, loaded) =>
      cache.getOrSet({
        key: productKey(id),
        ttl: PRODUCT_TTL,
        factory: () => {
          loaded()
          return origin.product(id)
        },
      }),
    page: (categoryId, page, loaded) =>
      cache.getOrSet({
        key: pageKey(categoryId, page),
        ttl: PAGE_TTL,
        factory: () => {
          loaded()
          return origin.page(categoryId, page)
        },
      }),
    write: async (request, sequence) => {
      await origin.updatePrice(request.id, request.priceCents, sequence)
      const keys = [productKey(request.id)]
      if (request.page !== null) keys.push(pageKey(request.categoryId, request.page))
      await Promise.all(keys.map((k) => cache.delete(k)))
    },
  }
}

/** What one process measured in its share of the window: per request, and in total. */
export interface Measurements {
  latencies: Float64Array
  /** 1 for a write. */
  writes: Uint8Array
  /** 1 for a read whose own origin load ran. */
  missed: Uint8Array
  staleReads: number
  errors: number
  firstError: string | null
  originReads: number
  originWrites: number
  wallMs: number
  cpuMs: number
  /** The window's cache.stats() (after minus before), or null without a cache. */
  stats: Record<string, number> | null
}

/** Requests between two checks of the abort condition (cache.stats() is not free). */
const ABORT_CHECK_EVERY = 50

/**
 * Replays this process's share of the workload with `concurrency` workers pulling the next
 * request from the shared list: the warm-up first when `options.warm` (untimed, uncounted), then
 * the measured window, each request timed with performance.now().
 */
export async function measure(
  target: Target,
  origin: Origin,
  options: RunOptions,
  cache?: Cache,
  abortIf?: () => string | null,
): Promise<Measurements> {
  const { requests, measuredFrom } = options.workload
  const { catalog } = options
  const { index: part, of: parts } = options.share ?? { index: 0, of: 1 }
  const mine = (from: number, to: number): number[] => {
    const out: number[] = []
    for (let i = from + ((part - (from % parts) + parts) % parts); i < to; i += parts) out.push(i)
    return out
  }
  let abortReason: string | null = null

  /** Replays `indexes`; `record(slot, ...)` keeps what a measured request gave. */
  const pump = async (
    indexes: readonly number[],
    record?: (slot: number, latency: number, missed: boolean, error: unknown) => void,
  ): Promise<void> => {
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < indexes.length && abortReason === null) {
        const slot = next++
        if (abortIf !== undefined && slot % ABORT_CHECK_EVERY === 0) {
          abortReason = abortIf()
          if (abortReason !== null) return
        }
        const index = indexes[slot] as number
        let missed = false
        const started = performance.now()
        try {
          await serve(index, () => {
            missed = true
          })
          record?.(slot, performance.now() - started, missed, undefined)
        } catch (error) {
          record?.(slot, performance.now() - started, missed, error)
        }
        options.onProgress?.()
        // Each simulated client waits its turn on the event loop, as a request arriving on a socket
        // would: otherwise a run of L1 hits (resolved in microtasks) starves the timers of the
        // requests waiting on the origin, and their latency measures the harness, not the cache.
        await yieldToLoop()
      }
    }
    await Promise.all(Array.from({ length: Math.min(options.concurrency, indexes.length) }, worker))
    if (abortReason !== null) throw new Error(abortReason)
  }

  let staleReads = 0
  const serve = async (index: number, loaded: () => void): Promise<void> => {
    const request = requests[index] as DemoRequest
    if (request.kind === 'product') {
      // The staleness audit, outside the timed section: not an origin query.
      const before = catalog.priceOf(request.id)
      const updatesBefore = origin.updatesOf(request.id)
      const product = await target.product(request.id, loaded)
      // A read overlapping two or more updates of its product may legitimately return an
      // intermediate price (likely with the HTTP columns' longer requests): not judged.
      if (
        product.priceCents !== before &&
        product.priceCents !== catalog.priceOf(request.id) &&
        origin.updatesOf(request.id) - updatesBefore < 2
      ) {
        staleReads++
      }
    } else if (request.kind === 'page') {
      await target.page(request.categoryId, request.page, loaded)
    } else {
      await target.write(request, index + 1)
    }
  }

  if (options.warm) await pump(mine(0, measuredFrom))
  await options.beforeWindow?.()
  origin.reset()
  staleReads = 0
  const window = mine(measuredFrom, requests.length)
  const latencies = new Float64Array(window.length)
  const writes = new Uint8Array(window.length)
  const missed = new Uint8Array(window.length)
  for (let slot = 0; slot < window.length; slot++) {
    if ((requests[window[slot] as number] as DemoRequest).kind === 'write') writes[slot] = 1
  }
  let errors = 0
  let firstError: string | null = null
  const statsBefore = cache === undefined ? undefined : numbers(cache.stats())
  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await pump(window, (slot, latency, wasMissed, error) => {
    latencies[slot] = latency
    if (wasMissed) missed[slot] = 1
    if (error !== undefined) {
      errors++
      firstError ??= message(error)
    }
  })
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  return {
    latencies,
    writes,
    missed,
    staleReads,
    errors,
    firstError,
    originReads: origin.reads,
    originWrites: origin.writes,
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    stats:
      cache === undefined || statsBefore === undefined
        ? null
        : difference(numbers(cache.stats()), statsBefore),
  }
}

/** One result from what each process measured in its share of the window. */
export function summarize(mode: Mode, parts: readonly Measurements[]): RunResult {
  const hitLatencies: number[] = []
  const missLatencies: number[] = []
  const all: number[] = []
  let requests = 0
  let reads = 0
  let hits = 0
  let stats: Record<string, number> | null = null
  for (const part of parts) {
    requests += part.latencies.length
    for (let i = 0; i < part.latencies.length; i++) {
      const latency = part.latencies[i] as number
      all.push(latency)
      if (part.writes[i] === 1) continue
      reads++
      if (part.missed[i] === 1) missLatencies.push(latency)
      else {
        hits++
        hitLatencies.push(latency)
      }
    }
    if (part.stats !== null) stats = stats === null ? { ...part.stats } : sum(stats, part.stats)
  }
  const wallMs = Math.max(...parts.map((p) => p.wallMs))
  const total = (field: 'staleReads' | 'errors' | 'originReads' | 'originWrites' | 'cpuMs') =>
    parts.reduce((s, p) => s + p[field], 0)
  return {
    mode,
    label: parts.length > 1 ? `${MODE_LABELS[mode]} ×${parts.length}` : MODE_LABELS[mode],
    processes: parts.length,
    requests,
    reads,
    writes: requests - reads,
    hits,
    hitRatio: reads === 0 ? 0 : hits / reads,
    originReads: total('originReads'),
    originWrites: total('originWrites'),
    staleReads: total('staleReads'),
    errors: total('errors'),
    firstError: parts.find((p) => p.firstError !== null)?.firstError ?? null,
    notes: [],
    wallMs,
    cpuMs: total('cpuMs'),
    throughput: wallMs === 0 ? 0 : (requests / wallMs) * 1000,
    latencyMs: {
      ...percentiles(Float64Array.from(all)),
      hit: hitLatencies.length === 0 ? null : percentiles(Float64Array.from(hitLatencies)),
      miss: missLatencies.length === 0 ? null : percentiles(Float64Array.from(missLatencies)),
    },
    cacheStats: stats,
  }
}

/** {@link measure} then {@link summarize}, for one process. */
export async function replay(
  mode: Mode,
  target: Target,
  origin: Origin,
  options: RunOptions,
  cache?: Cache,
  abortIf?: () => string | null,
): Promise<RunResult> {
  return summarize(mode, [await measure(target, origin, options, cache, abortIf)])
}

/** Nearest-rank percentiles. */
export function percentiles(values: Float64Array): Percentiles {
  const sorted = Float64Array.from(values).sort()
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0
  let total = 0
  for (const v of sorted) total += v
  return {
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: sorted.length === 0 ? 0 : total / sorted.length,
    max: sorted[sorted.length - 1] ?? 0,
  }
}

/** An error's message without its final period, to embed in a sentence. */
export function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\.+$/, '')
}

/** The counters of `cache.stats()` (ratios are not counters: they do not add up across a window or processes). */
function numbers(stats: object): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, value] of Object.entries(stats)) {
    if (typeof value === 'number' && !name.endsWith('Ratio')) out[name] = value
  }
  return out
}

function difference(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [name, value] of Object.entries(after)) out[name] = value - (before[name] ?? 0)
  return out
}

function sum(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a }
  for (const [name, value] of Object.entries(b)) out[name] = (out[name] ?? 0) + value
  return out
}
