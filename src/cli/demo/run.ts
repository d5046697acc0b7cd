import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { type Cache, createCache } from '../../index.js'
import type { Catalog } from './catalog.js'
import {
  cachedTarget,
  directTarget,
  type Measurements,
  measure,
  message,
  Origin,
  replay,
  sleep,
  summarize,
} from './replay.js'
import { PRODUCT_TTL, type RunOptions, type RunResult } from './types.js'
import type { Workload } from './workload.js'

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

/** What the L1 + L2 run needs beyond the common options. */
export interface L1L2Options extends RunOptions {
  readonly l1Size: number
  readonly redisUrl: string
  /** Shared by every process of the run, unique to it: nothing a previous run stored is reused. */
  readonly namespace: string
  /** Awaited right before the stampede, so that every process fires its cold reads at once. */
  readonly beforeStampede?: () => Promise<void>
}

/** Concurrent cold reads of one key each process fires before its warm-up. */
export const STAMPEDE_READS = 32
/** The stampede's origin query lasts at least this long, so the processes' reads overlap it. */
const STAMPEDE_ORIGIN_MS = 50

/** A fresh namespace for one L1 + L2 run. */
export const runNamespace = (): string => `demo-${randomBytes(6).toString('hex')}`

/** The cache of one process of the L1 + L2 run. */
export function openL1L2Cache(options: L1L2Options): Cache {
  return createCache({
    namespace: options.namespace,
    version: 'v1',
    l1: { maxEntries: options.l1Size },
    // 2 s rather than 500 ms: the demo shares a laptop's cores with Redis and the other processes,
    // and a slow answer is still an answer (the run stops after 20 failures).
    l2: { redis: options.redisUrl, timeout: '2s' },
    ttl: '5m',
  })
}

/**
 * One process's part of the L1 + L2 run: the stampede (STAMPEDE_READS cold reads of one key, all
 * at once), then its share of the warm-up and of the measured window.
 */
export async function runL1L2Part(
  options: L1L2Options,
  cache: Cache,
): Promise<{ measurements: Measurements; stampedeQueries: number }> {
  await cache.ready()
  let stampedeQueries = 0
  await options.beforeStampede?.()
  await Promise.all(
    Array.from({ length: STAMPEDE_READS }, () =>
      cache.getOrSet({
        key: 'stampede',
        ttl: PRODUCT_TTL,
        factory: async () => {
          stampedeQueries++
          await sleep(Math.max(STAMPEDE_ORIGIN_MS, options.originLatencyMs))
          return options.catalog.getProduct(1)
        },
      }),
    ),
  )
  const origin = new Origin(options.catalog, options.originLatencyMs)
  const measurements = await measure(cachedTarget(origin, cache), origin, options, cache, () =>
    l2Failures(cache) >= L2_FAILURES_BEFORE_ABORT
      ? `Redis failed ${l2Failures(cache)} times during the run (every failure waits for the L2 timeout), so it was stopped`
      : null,
  )
  return { measurements, stampedeQueries }
}

/**
 * Removes what a run wrote under `namespace` (its entries would expire with their TTL anyway): a
 * failed clean-up is a note, never a lost measurement.
 */
export async function clearRun(cache: Cache, result: RunResult): Promise<void> {
  try {
    await cache.clear()
  } catch (error) {
    result.notes.push(
      `removing this run's Redis entries failed (${message(error)}); they expire with their TTL (10 minutes, plus jitter)`,
    )
  }
}

/** Run 3 in this process alone: L1 + Redis L2. */
export async function runL1L2(options: Omit<L1L2Options, 'namespace'>): Promise<RunResult> {
  const part = { ...options, namespace: runNamespace() }
  const cache = openL1L2Cache(part)
  try {
    const { measurements, stampedeQueries } = await runL1L2Part(part, cache)
    const result = summarize('l1+l2', [measurements])
    result.stampede = { processes: 1, reads: STAMPEDE_READS, originQueries: stampedeQueries }
    await clearRun(cache, result)
    return result
  } finally {
    await cache.close()
  }
}

/** The L1 + L2 run stops after this many L2 failures rather than wait out a timeout per request. */
const L2_FAILURES_BEFORE_ABORT = 20

function l2Failures(cache: Cache): number {
  const stats: Record<string, number | undefined> = { ...cache.stats() }
  return (stats.l2Errors ?? 0) + (stats.l2Timeouts ?? 0)
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
