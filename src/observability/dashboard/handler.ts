/**
 * `createDashboardHandler`: a plain Node request handler serving the live dashboard page, its
 * JSON feed, `/metrics` (Prometheus text) and `/health`. Mount it in any server: Node's http
 * (`createServer(handler)`), Express (`app.use('/cache', handler)`), Fastify (`fastify.all` with
 * `reply.hijack()` and `handler(req.raw, reply.raw)`), or Hono's node server.
 *
 * It watches the caches of this process, or a feed of snapshots that instances publish through
 * Redis (see {@link collectSnapshots}), and keeps a ring of recent points so that a page opened
 * now shows the last minutes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Registry } from 'prom-client'
import { describeValue } from '../../base/describe.js'
import { InvalidOptionError } from '../../errors.js'
import { tryLoadPromClient } from '../peer.js'
import { registerPrometheus } from '../prometheus.js'
import type { CacheHealth, CacheSnapshot, HealthStatus } from '../types.js'
import { History, type HistoryPoint } from './history.js'
import { buildPage } from './page.js'

/** What the dashboard reads from a cache of this process: a `Cache`. */
export interface DashboardCache {
  snapshot(): CacheSnapshot
  health(): Promise<CacheHealth>
}

/** Snapshots from elsewhere: the latest one of each live instance (see {@link collectSnapshots}). */
export interface SnapshotFeed {
  snapshots(): readonly CacheSnapshot[]
}

export interface DashboardOptions {
  /** Caches of this process to watch. Exclusive with `source`. */
  caches?: DashboardCache | readonly DashboardCache[]
  /** Snapshots published by instances (e.g. `collectSnapshots(...)`). Exclusive with `caches`. */
  source?: SnapshotFeed
  /** How much history the server keeps for a page opened later. Default 300 (5 minutes). */
  historySeconds?: number
  /** How often a point is taken (and the page polls). Default 1000 ms. */
  intervalMs?: number
  /** The page title. Default `'stratacache'`. */
  title?: string
  /**
   * The path the handler is mounted at, for servers that pass the full URL (Node's http, Fastify's
   * `request.raw`), e.g. `'/cache'`. Not needed with Express's `app.use('/cache', handler)`, which
   * strips it. Default: none.
   */
  basePath?: string
}

export type NextFunction = (error?: unknown) => void

export interface DashboardHandler {
  (req: IncomingMessage, res: ServerResponse, next?: NextFunction): void
  /** Takes a point now (it also happens every `intervalMs`). */
  sample(): HistoryPoint
  /** Stops taking points. The caches and the feed stay yours to close. */
  close(): void
}

/** What `/api/snapshots` returns. */
export interface DashboardFeed {
  readonly now: number
  readonly mode: 'local' | 'published'
  readonly intervalMs: number
  readonly historySeconds: number
  readonly history: readonly HistoryPoint[]
  readonly snapshots: readonly CacheSnapshot[]
}

const STATUS_ORDER: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 }

function worst(statuses: readonly HealthStatus[]): HealthStatus {
  let result: HealthStatus = 'healthy'
  for (const status of statuses) if (STATUS_ORDER[status] > STATUS_ORDER[result]) result = status
  return result
}

function positive(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    throw new InvalidOptionError(
      `createDashboardHandler: ${name} must be a number ≥ ${min}; got ${describeValue(value)}.`,
    )
  }
  return value
}

function send(res: ServerResponse, status: number, type: string, body: string, head = false): void {
  res.statusCode = status
  res.setHeader('content-type', type)
  res.setHeader('cache-control', 'no-store')
  res.setHeader('x-content-type-options', 'nosniff')
  res.setHeader('content-length', Buffer.byteLength(body))
  res.end(head ? undefined : body)
}

function sendJson(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value), head)
}

/**
 * A request handler serving the dashboard at its mount point: `/` (the page), `/api/snapshots`,
 * `/metrics` and `/health`. Other paths go to `next` when given, else 404.
 *
 * ```ts
 * import { createServer } from 'node:http'
 * const dashboard = createDashboardHandler({ caches: [products] })
 * createServer(dashboard).listen(4466, '127.0.0.1')
 * ```
 */
export function createDashboardHandler(options: DashboardOptions): DashboardHandler {
  if (options === null || typeof options !== 'object') {
    throw new InvalidOptionError('createDashboardHandler: pass { caches } or { source }.')
  }
  const caches: readonly DashboardCache[] | undefined =
    options.caches === undefined
      ? undefined
      : Array.isArray(options.caches)
        ? options.caches
        : [options.caches as DashboardCache]
  const source = options.source
  if ((caches === undefined) === (source === undefined)) {
    throw new InvalidOptionError(
      'createDashboardHandler: pass either `caches` (caches of this process) or `source` (snapshots published by instances), not both or neither.',
    )
  }
  for (const cache of caches ?? []) {
    if (typeof cache?.snapshot !== 'function' || typeof cache.health !== 'function') {
      throw new InvalidOptionError('createDashboardHandler: every entry of `caches` must be a Cache.')
    }
  }
  if (source !== undefined && typeof source.snapshots !== 'function') {
    throw new InvalidOptionError('createDashboardHandler: `source` must have a snapshots() method.')
  }
  const historySeconds = positive('historySeconds', options.historySeconds, 300, 1)
  const intervalMs = positive('intervalMs', options.intervalMs, 1000, 10)
  const rawBasePath: unknown = options.basePath ?? ''
  const basePath = typeof rawBasePath === 'string' ? rawBasePath.replace(/\/+$/, '') : undefined
  if (basePath === undefined || (basePath !== '' && !basePath.startsWith('/'))) {
    throw new InvalidOptionError(
      `createDashboardHandler: basePath must start with '/' (e.g. '/cache'); got ${describeValue(options.basePath)}.`,
    )
  }
  const title: unknown = options.title ?? 'stratacache'
  if (typeof title !== 'string') {
    throw new InvalidOptionError(
      `createDashboardHandler: title must be a string; got ${describeValue(title)}.`,
    )
  }
  const page = buildPage(title)
  const mode: DashboardFeed['mode'] = caches === undefined ? 'published' : 'local'

  const read = (): readonly CacheSnapshot[] =>
    caches === undefined ? source!.snapshots() : caches.map((cache) => cache.snapshot())

  const history = new History(Math.ceil((historySeconds * 1000) / intervalMs))
  let latest: readonly CacheSnapshot[] = []
  const sample = (): HistoryPoint => {
    latest = read()
    // A snapshot carries Redis' memory figures from the last health() call: ask for fresh ones
    // for the next point (one INFO per cache per interval, under the L2 deadline).
    for (const cache of caches ?? []) cache.health().catch(() => {})
    return history.record(latest, Date.now())
  }
  sample()
  const timer = setInterval(() => {
    try {
      sample()
    } catch {
      // A cache that fails to report leaves a gap rather than stopping the dashboard.
    }
  }, intervalMs)
  timer.unref()

  // /metrics: its own Registry, created on first use so that prom-client stays optional.
  let registry: Registry | null | undefined
  const metricsRegistry = (): Registry | null => {
    if (registry !== undefined) return registry
    const client = tryLoadPromClient()
    if (client === undefined) {
      registry = null
      return registry
    }
    registry = new client.Registry()
    registerPrometheus(read, { registry })
    return registry
  }

  const health = async (): Promise<{ status: number; body: unknown }> => {
    let reports: CacheHealth[]
    if (caches !== undefined) {
      reports = await Promise.all(caches.map((cache) => cache.health()))
    } else {
      reports = source!.snapshots().map((s) => s.health)
      if (reports.length === 0) {
        return {
          status: 503,
          body: { status: 'unhealthy', reason: 'No instance has published a snapshot yet.', caches: [] },
        }
      }
    }
    const status = worst(reports.map((r) => r.status))
    return { status: status === 'unhealthy' ? 503 : 200, body: { status, caches: reports } }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse, next?: NextFunction): Promise<void> => {
    const target = requestTarget(req.url)
    const url = target ?? new URL('http://localhost/\u0000')
    let path = target === undefined ? '/\u0000' : url.pathname
    if (basePath !== '') {
      if (path !== basePath && !path.startsWith(`${basePath}/`))
        path = '/\u0000' // not ours
      else path = path.slice(basePath.length)
    }
    path = path.replace(/\/+$/, '') || '/'
    // An empty segment ('//metrics'): not one of ours, and a page served there would resolve its
    // relative fetches ('//host/api/…') against another host.
    if (path.includes('//')) path = '/\u0000'
    const known = path === '/' || path === '/api/snapshots' || path === '/metrics' || path === '/health'
    if (!known) {
      if (next !== undefined) return next()
      return send(res, 404, 'text/plain; charset=utf-8', 'Not found\n')
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return send(res, 405, 'text/plain; charset=utf-8', 'Method not allowed\n')
    }
    const head = req.method === 'HEAD'
    switch (path) {
      case '/': {
        res.setHeader('content-security-policy', page.csp)
        res.setHeader('referrer-policy', 'no-referrer')
        return send(res, 200, 'text/html; charset=utf-8', page.html, head)
      }
      case '/api/snapshots': {
        const since = Number(url.searchParams.get('since') ?? 0)
        const feed: DashboardFeed = {
          now: Date.now(),
          mode,
          intervalMs,
          historySeconds,
          history: history.since(Number.isFinite(since) ? since : 0),
          snapshots: latest,
        }
        return sendJson(res, 200, feed, head)
      }
      case '/metrics': {
        const reg = metricsRegistry()
        if (reg === null) {
          return send(
            res,
            501,
            'text/plain; charset=utf-8',
            '/metrics needs prom-client, which is not installed: run `npm install prom-client` (an optional peer dependency of stratacache).\n',
            head,
          )
        }
        const text = await reg.metrics()
        return send(res, 200, reg.contentType, text, head)
      }
      default: {
        const { status, body } = await health()
        return sendJson(res, status, body, head)
      }
    }
  }

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: NextFunction) => {
    handle(req, res, next).catch((error: unknown) => {
      if (next !== undefined) return next(error)
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'Internal error\n')
      else res.destroy()
    })
  }) as DashboardHandler
  handler.sample = sample
  handler.close = () => clearInterval(timer)
  return handler
}

/**
 * The request target as a URL on this server, or undefined when it is malformed. An origin-form
 * target ('/path?query') is a path whatever it holds — `new URL('//metrics', base)` would read
 * 'metrics' as a host; an absolute-form one ('http://host/path', sent to proxies) keeps its path.
 */
function requestTarget(raw: string | undefined): URL | undefined {
  const text = raw ?? '/'
  try {
    return text.startsWith('/') ? new URL(`http://localhost${text}`) : new URL(text)
  } catch {
    return undefined
  }
}

export interface CollectOptions {
  /** Forget an instance that has not published for this long. Default 15 000 ms. */
  staleAfterMs?: number
  /** The clock (ms since the epoch). Default `Date.now`. */
  now?: () => number
}

/** A {@link SnapshotFeed} that you can stop. */
export interface SnapshotCollector extends SnapshotFeed {
  /** Stops listening. */
  close(): Promise<void>
}

/** How {@link collectSnapshots} listens: returns (or resolves to) the function that stops. */
export type SnapshotSubscribe = (
  listener: (snapshot: CacheSnapshot) => void,
) => (() => unknown) | Promise<() => unknown>

/**
 * Keeps the latest snapshot of each instance from a subscription, forgetting instances that
 * stopped publishing. With the core's publisher (instances created with
 * `observability: { publish: true }`):
 *
 * ```ts
 * const feed = await collectSnapshots((listener) => subscribeSnapshots(cache, listener))
 * const dashboard = createDashboardHandler({ source: feed })
 * ```
 */
export async function collectSnapshots(
  subscribe: SnapshotSubscribe,
  options: CollectOptions = {},
): Promise<SnapshotCollector> {
  const staleAfterMs = options.staleAfterMs ?? 15_000
  const now = options.now ?? Date.now
  const latest = new Map<string, { snapshot: CacheSnapshot; receivedAt: number }>()
  const unsubscribe = await subscribe((snapshot) => {
    const id = `${snapshot.cache}\u0000${snapshot.instance}`
    const known = latest.get(id)
    if (known !== undefined && known.snapshot.at > snapshot.at) return
    latest.set(id, { snapshot, receivedAt: now() })
  })
  return {
    snapshots() {
      const cutoff = now() - staleAfterMs
      const result: CacheSnapshot[] = []
      for (const [id, entry] of latest) {
        if (entry.receivedAt < cutoff) latest.delete(id)
        else result.push(entry.snapshot)
      }
      return result
    },
    async close() {
      latest.clear()
      await unsubscribe()
    },
  }
}
