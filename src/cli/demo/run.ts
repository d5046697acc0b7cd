import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { type Cache, createCache, key } from '../../index.js'
import type { Catalog, Product, ProductSummary } from './catalog.js'
import type { HttpNumbers } from './http.js'
import type { DemoRequest, Workload } from './workload.js'

export type Mode = 'no-cache' | 'l1' | 'l1+l2' | 'http'

export const MODE_LABELS: Readonly<Record<Mode, string>> = {
  'no-cache': 'No cache',
  l1: 'L1 only',
  'l1+l2': 'L1 + L2',
  http: 'HTTP API',
}

/** TTLs of the demo's entries. Writes delete both kinds of entry, so these only bound memory. */
export const PRODUCT_TTL = '10m'
export const PAGE_TTL = '1m'

export interface Percentiles {
  p50: number
  p95: number
  p99: number
  mean: number
  max: number
}

/** Everything measured in one replay of the workload. */
export interface RunResult {
  mode: Mode
  label: string
  requests: number
  reads: number
  writes: number
  /** Reads whose own factory did not run (served by a tier, or by joining another request's load). */
  hits: number
  /** hits / reads. */
  hitRatio: number
  /** SELECTs that reached SQLite through the origin (each paid the origin latency). */
  originReads: number
  /** UPDATEs (identical in every mode). */
  originWrites: number
  /** Product reads that returned a price the database no longer had at the start nor at the end of the request. */
  staleReads: number
  /** Requests that failed (the first message is in `firstError`). */
  errors: number
  firstError: string | null
  /** Anything worth knowing about the run that is not a number (e.g. a failed clean-up). */
  notes: string[]
  wallMs: number
  /** CPU time of this process (user + system) during the run: the client-side cost of each setup. */
  cpuMs: number
  throughput: number
  latencyMs: Percentiles & { hit: Percentiles | null; miss: Percentiles | null }
  /** `cache.stats()` at the end of the run (null without a cache). */
  cacheStats: Record<string, number> | null
  /** The HTTP API run's HTTP-level numbers (only that run). */
  http?: HttpNumbers
}

export interface RunOptions {
  readonly catalog: Catalog
  readonly workload: Workload
  readonly concurrency: number
  readonly originLatencyMs: number
  readonly onProgress?: (completed: number) => void
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** The "remote database": SQLite behind an added latency, with every query counted. */
export class Origin {
  reads = 0
  writes = 0
  readonly #catalog: Catalog
  readonly #latencyMs: number

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

  /** Price updates of `id` committed so far (the staleness audit's way to see overlapping updates). */
  updatesOf(id: number): number {
    return this.#updates.get(id) ?? 0
  }

  readonly #updates = new Map<number, number>()
}

/** How one mode serves a request. `loaded()` tells whether this request's own origin load ran. */
export interface Target {
  product(id: number, loaded: () => void): Promise<Product>
  page(categoryId: number, page: number, loaded: () => void): Promise<ProductSummary[]>
  write(request: Extract<DemoRequest, { kind: 'write' }>, sequence: number): Promise<void>
}

function directTarget(origin: Origin): Target {
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
function cachedTarget(origin: Origin, cache: Cache): Target {
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

/**
 * Replays the workload with `concurrency` workers pulling the next request from the shared list,
 * timing each request with performance.now().
 */
export async function replay(
  mode: Mode,
  target: Target,
  origin: Origin,
  options: RunOptions,
  cache?: Cache,
  abortIf?: () => string | null,
) {
  const { requests } = options.workload
  const { catalog } = options
  const latencies = new Float64Array(requests.length)
  const missed = new Uint8Array(requests.length)
  let next = 0
  let completed = 0
  let staleReads = 0
  let errors = 0
  let firstError: string | null = null
  let abortReason: string | null = null

  const serve = async (index: number): Promise<void> => {
    const request = requests[index] as DemoRequest
    const loaded = (): void => {
      missed[index] = 1
    }
    if (request.kind === 'product') {
      // The staleness audit, outside the timed section: not an origin query.
      const before = catalog.priceOf(request.id)
      const updatesBefore = origin.updatesOf(request.id)
      const started = performance.now()
      const product = await target.product(request.id, loaded)
      latencies[index] = performance.now() - started
      // A read overlapping two or more updates of its product may legitimately return an
      // intermediate price (likely with the HTTP column's longer requests): not judged.
      if (
        product.priceCents !== before &&
        product.priceCents !== catalog.priceOf(request.id) &&
        origin.updatesOf(request.id) - updatesBefore < 2
      ) {
        staleReads++
      }
    } else if (request.kind === 'page') {
      const started = performance.now()
      await target.page(request.categoryId, request.page, loaded)
      latencies[index] = performance.now() - started
    } else {
      const started = performance.now()
      await target.write(request, index + 1)
      latencies[index] = performance.now() - started
    }
  }

  const worker = async (): Promise<void> => {
    while (next < requests.length && abortReason === null) {
      const index = next++
      if (abortIf !== undefined && index % ABORT_CHECK_EVERY === 0) {
        abortReason = abortIf()
        if (abortReason !== null) return
      }
      try {
        await serve(index)
      } catch (error) {
        errors++
        firstError ??= message(error)
      }
      completed++
      options.onProgress?.(completed)
    }
  }

  const cpuBefore = process.cpuUsage()
  const started = performance.now()
  await Promise.all(Array.from({ length: Math.min(options.concurrency, requests.length) }, worker))
  const wallMs = performance.now() - started
  const cpu = process.cpuUsage(cpuBefore)
  if (abortReason !== null) throw new Error(abortReason)

  let reads = 0
  let hits = 0
  const hitLatencies: number[] = []
  const missLatencies: number[] = []
  for (let i = 0; i < requests.length; i++) {
    if ((requests[i] as DemoRequest).kind === 'write') continue
    reads++
    if (missed[i] === 1) missLatencies.push(latencies[i] as number)
    else {
      hits++
      hitLatencies.push(latencies[i] as number)
    }
  }

  const result: RunResult = {
    mode,
    label: MODE_LABELS[mode],
    requests: requests.length,
    reads,
    writes: requests.length - reads,
    hits,
    hitRatio: reads === 0 ? 0 : hits / reads,
    originReads: origin.reads,
    originWrites: origin.writes,
    staleReads,
    errors,
    firstError,
    notes: [],
    wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
    throughput: (requests.length / wallMs) * 1000,
    latencyMs: {
      ...percentiles(latencies),
      hit: hitLatencies.length === 0 ? null : percentiles(Float64Array.from(hitLatencies)),
      miss: missLatencies.length === 0 ? null : percentiles(Float64Array.from(missLatencies)),
    },
    cacheStats: cache === undefined ? null : { ...cache.stats() },
  }
  return result
}

/** Nearest-rank percentiles. */
export function percentiles(values: Float64Array): Percentiles {
  const sorted = Float64Array.from(values).sort()
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? 0
  let sum = 0
  for (const v of sorted) sum += v
  return {
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    mean: sorted.length === 0 ? 0 : sum / sorted.length,
    max: sorted[sorted.length - 1] ?? 0,
  }
}

/** Run 1: every request queries SQLite. */
export function runNoCache(options: RunOptions): Promise<RunResult> {
  const origin = new Origin(options.catalog, options.originLatencyMs)
  return replay('no-cache', directTarget(origin), origin, options)
}

/** Run 2: an in-process L1 only. */
export async function runL1(options: RunOptions & { l1Size: number }): Promise<RunResult> {
  const cache = createCache({ namespace: 'demo', l1: { maxEntries: options.l1Size }, l2: false, ttl: '5m' })
  try {
    const origin = new Origin(options.catalog, options.originLatencyMs)
    return await replay('l1', cachedTarget(origin, cache), origin, options, cache)
  } finally {
    await cache.close()
  }
}

/**
 * Run 3: L1 + Redis L2. The namespace is unique to this run, so nothing a previous run stored is
 * reused, and `clear()` removes what this run wrote.
 */
export async function runL1L2(
  options: RunOptions & { l1Size: number; redisUrl: string },
): Promise<RunResult> {
  const namespace = `demo-${randomBytes(6).toString('hex')}`
  const cache = createCache({
    namespace,
    version: 'v1',
    l1: { maxEntries: options.l1Size },
    l2: { redis: options.redisUrl },
    ttl: '5m',
  })
  let result: RunResult | undefined
  try {
    const origin = new Origin(options.catalog, options.originLatencyMs)
    result = await replay('l1+l2', cachedTarget(origin, cache), origin, options, cache, () =>
      l2Failures(cache) >= L2_FAILURES_BEFORE_ABORT
        ? `Redis failed ${l2Failures(cache)} times during the run (every failure waits for the L2 timeout), so it was stopped`
        : null,
    )
  } finally {
    // A failed clean-up must not discard the measurement: the entries expire with their TTL anyway.
    try {
      await cache.clear()
    } catch (error) {
      result?.notes.push(
        `removing this run's Redis entries failed (${message(error)}); they expire with their TTL (10 minutes, plus jitter)`,
      )
    }
    await cache.close()
  }
  return result
}

/** Requests between two checks of the abort condition (cache.stats() is not free). */
const ABORT_CHECK_EVERY = 50

/** The L1 + L2 run stops after this many L2 failures rather than wait out a timeout per request. */
const L2_FAILURES_BEFORE_ABORT = 20

function l2Failures(cache: Cache): number {
  const stats: Record<string, number | undefined> = { ...cache.stats() }
  return (stats.l2Errors ?? 0) + (stats.l2Timeouts ?? 0)
}

/** An error's message without its final period, to embed in a sentence. */
export function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).replace(/\.+$/, '')
}

/**
 * Warms SQLite's page cache and the JIT for the query path (untimed, no added latency, reads only),
 * so that the first run measured is not penalised for going first.
 */
export function warmUp(catalog: Catalog, workload: Workload, count = 2000): void {
  for (const request of workload.requests.slice(0, count)) {
    if (request.kind === 'product') catalog.getProduct(request.id)
    else if (request.kind === 'page') catalog.getCategoryPage(request.categoryId, request.page)
  }
}

export type Reachability = { reachable: true } | { reachable: false; reason: string }

/**
 * Is Redis there? A raw TCP connect with one deadline for everything (never hangs); for redis://
 * also an inline PING whose answer must be a RESP reply (`+PONG`, or `-NOAUTH…` when a password
 * is needed), because a proxy or another service may accept any connection.
 */
export function probeRedis(url: string, timeoutMs = 300): Promise<Reachability> {
  const parsed = new URL(url)
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1'
  const port = parsed.port === '' ? 6379 : Number(parsed.port)
  const tls = parsed.protocol === 'rediss:'
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const finish = (result: Reachability): void => {
      clearTimeout(timer)
      socket.destroy()
      resolve(result)
    }
    const timer = setTimeout(
      () => finish({ reachable: false, reason: `no answer within ${timeoutMs} ms` }),
      timeoutMs,
    )
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish({ reachable: false, reason: error.code ?? error.message }),
    )
    socket.once('connect', () => {
      if (tls) return finish({ reachable: true }) // the TLS handshake is the client's business
      socket.write('PING\r\n')
    })
    socket.once('data', (data: Buffer) => {
      const first = String.fromCharCode(data[0] ?? 0)
      finish(
        first === '+' || first === '-'
          ? { reachable: true }
          : { reachable: false, reason: 'something answered there, but not as Redis does' },
      )
    })
    socket.once('end', () =>
      finish({ reachable: false, reason: 'the connection was closed without an answer' }),
    )
  })
}
