import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createRequire } from 'node:module'
import { type AddressInfo, connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import express from 'express'
import Fastify from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { History } from '../../dist/observability/dashboard/history.js'
import {
  collectSnapshots,
  createDashboardHandler,
  type DashboardFeed,
  type DashboardHandler,
} from '../../dist/observability/dashboard/index.js'
import { UPLOT_CSS, UPLOT_JS } from '../../dist/observability/dashboard/uplot.generated.js'
import { subscribeSnapshots } from '../../dist/observability/publisher.js'
import type { CacheSnapshot } from '../../dist/observability/types.js'
import { pollUntil } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { parsePrometheusText, series, seriesIds, snapshot } from './snapshots.js'

const redis = useRedisServer()

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

function cache(options: Parameters<typeof createCache>[0] = {}): Cache {
  const c = createCache({ l1: { maxEntries: 1000 }, ...options })
  cleanups.push(() => c.close())
  return c
}

function dashboard(options: Parameters<typeof createDashboardHandler>[0]): DashboardHandler {
  const handler = createDashboardHandler(options)
  cleanups.push(() => handler.close())
  return handler
}

async function serve(listener: RequestListener): Promise<string> {
  const server: Server = createServer(listener)
  // No idle timeout: fetch reuses connections, and one the server closes after its default 5 s
  // of idleness (a slow step on busy cores) races the next request into ECONNRESET.
  server.keepAliveTimeout = 0
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

async function feed(base: string, since = 0): Promise<DashboardFeed> {
  const response = await fetch(`${base}/api/snapshots?since=${since}`)
  expect(response.status).toBe(200)
  return (await response.json()) as DashboardFeed
}

describe('createDashboardHandler, watching caches of this process', () => {
  it('serves the page with uPlot inlined, nothing loaded from elsewhere, and a strict CSP', async () => {
    const base = await serve(dashboard({ caches: [cache()] }))
    const response = await fetch(`${base}/`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const html = await response.text()
    expect(html).toContain(UPLOT_JS.slice(0, 200))
    expect(html).not.toMatch(
      /<script[^>]+src=|<link[^>]+href="(?!data:)|https?:\/\/(?!github\.com\/leeoniya)/,
    )
    const csp = response.headers.get('content-security-policy')!
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("connect-src 'self'")
    expect(csp).not.toContain("script-src 'unsafe-inline'")
    expect(html.match(/<script>/g)).toHaveLength(2)
    expect(html.match(/<\/script/g)).toHaveLength(2)
  })

  it('keeps the vendored uPlot identical to the installed uplot package (run scripts/vendor-uplot.mjs after an upgrade)', () => {
    const require = createRequire(import.meta.url)
    expect(UPLOT_JS).toBe(readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'))
    expect(UPLOT_CSS).toBe(readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'))
  })

  it('/api/snapshots returns current snapshots and the server-side history, so a fresh page shows the past', async () => {
    let now = 1_000_000
    const products = cache({ namespace: 'products', clock: () => now })
    const handler = dashboard({ caches: [products], intervalMs: 60_000 })
    for (let i = 0; i < 20; i++) await products.getOrSet({ key: `p:${i % 5}`, factory: () => i })
    now += 1000
    handler.sample()
    await products.get('absent')
    now += 1000
    handler.sample()
    const base = await serve(handler)

    const body = await feed(base)
    expect(body.mode).toBe('local')
    expect(body.snapshots.map((s) => s.cache)).toEqual(['products'])
    expect(body.history).toHaveLength(3)
    const [, second, third] = body.history
    const point = second!.groups.products!
    expect(point.ops).toEqual({ l1: 15, l2: 0, origin: 5, stale: 0, miss: 0 })
    expect(point.hitRatio).toBeCloseTo(15 / 20, 5)
    expect(point.p99).toBeGreaterThan(0)
    expect(second!.groups['*']).toEqual(point)
    expect(third!.groups.products!.hitRatio).toBe(0)
    expect(third!.groups.products!.ops).toEqual({ l1: 0, l2: 0, origin: 0, stale: 0, miss: 1 })

    const later = await feed(base, second!.t)
    expect(later.history.map((p) => p.t)).toEqual([third!.t])
  })

  it('/metrics is Prometheus text with exact counters, valid names, bounded labels, and a series count that 10,000 distinct keys do not grow', async () => {
    const products = cache({ namespace: 'products' })
    const base = await serve(dashboard({ caches: [products] }))
    await products.getOrSet({ key: 'a', factory: () => 1 })
    await products.getOrSet({ key: 'a', factory: () => 1 })
    await products.get('nope')
    await products.set('b', 2)
    await products.delete('b')

    const first = await fetch(`${base}/metrics`)
    expect(first.status).toBe(200)
    expect(first.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    const families = parsePrometheusText(await first.text())
    const stats = products.stats()
    const sample = (name: string, labels: Record<string, string> = {}) =>
      families
        .get(name.replace(/_(bucket|sum|count)$/, ''))
        ?.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value
    expect(sample('stratacache_hits_total', { cache: 'products', tier: 'l1' })).toBe(stats.l1Hits)
    expect(stats.l1Hits).toBe(1)
    expect(sample('stratacache_misses_total', { cache: 'products' })).toBe(stats.misses)
    expect(sample('stratacache_factory_calls_total', { cache: 'products' })).toBe(1)
    expect(sample('stratacache_sets_total', { cache: 'products' })).toBe(stats.sets)
    expect(sample('stratacache_deletes_total', { cache: 'products' })).toBe(1)
    expect(
      sample('stratacache_operation_duration_seconds_count', { operation: 'getOrSet', tier: 'origin' }),
    ).toBe(1)
    for (const family of families.values()) {
      expect(family.name).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/)
      if (family.type === 'counter') expect(family.name).toMatch(/_total$/)
      if (family.type === 'histogram') expect(family.name).toMatch(/_seconds$/)
    }

    // Touch every operation and tier once more so every series that can exist exists, then count.
    await products.get('a')
    const before = seriesIds(parsePrometheusText(await (await fetch(`${base}/metrics`)).text()))
    for (let i = 0; i < 10_000; i++) {
      const key = `user:${i}:profile`
      await products.getOrSet({ key, factory: () => i })
      if (i % 10 === 0) await products.get(`missing:${i}`)
    }
    const text = await (await fetch(`${base}/metrics`)).text()
    const after = parsePrometheusText(text)
    expect(seriesIds(after)).toEqual(before)
    expect(text).not.toContain('user:')
    const labelValues = new Set<string>()
    for (const family of after.values()) {
      for (const s of family.samples)
        for (const [k, v] of Object.entries(s.labels)) if (k !== 'le') labelValues.add(v)
    }
    expect(labelValues.size).toBeLessThan(40)
  })

  it('/health answers 200 while healthy or degraded and 503 when unhealthy', async () => {
    const products = cache({
      namespace: 'products',
      observability: { alerts: { hitRatioBelow: 0.99, minReads: 10, p99Above: 60 } },
    })
    const handler = dashboard({ caches: [products] })
    const base = await serve(handler)
    let response = await fetch(`${base}/health`)
    expect(response.status).toBe(200)
    expect(((await response.json()) as { status: string }).status).toBe('healthy')

    for (let i = 0; i < 20; i++) await products.getOrSet({ key: `k${i}`, factory: () => i })
    response = await fetch(`${base}/health`)
    const degraded = (await response.json()) as { status: string; caches: { alerts: { name: string }[] }[] }
    expect(response.status).toBe(200)
    expect(degraded.status).toBe('degraded')
    expect(degraded.caches[0]!.alerts.map((a) => a.name)).toEqual(['low-hit-ratio'])

    await products.close()
    response = await fetch(`${base}/health`)
    expect(response.status).toBe(503)
    expect(((await response.json()) as { status: string }).status).toBe('unhealthy')
  })

  it('answers 404 for other paths (or calls next), 405 for other methods, and HEAD without a body', async () => {
    const handler = dashboard({ caches: [cache()] })
    const base = await serve(handler)
    expect((await fetch(`${base}/nope`)).status).toBe(404)
    expect((await fetch(`${base}/health`, { method: 'POST' })).status).toBe(405)
    const head = await fetch(`${base}/api/snapshots`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
    let passed = false
    const next = await serve((req, res) =>
      handler(req, res, () => {
        passed = true
        res.end('next')
      }),
    )
    expect(await (await fetch(`${next}/other`)).text()).toBe('next')
    expect(passed).toBe(true)
  })

  it('reads the request target as a path: "//x" is not an authority, a malformed one is a 404 (never a 500), an absolute-form one still works', async () => {
    const handler = dashboard({ caches: [cache()] })
    const base = await serve(handler)
    const { port } = new URL(base)
    /** The status line of one raw request (fetch would normalise the target). */
    const statusOf = (target: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () =>
          socket.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
        )
        let text = ''
        socket.on('data', (chunk) => {
          text += chunk.toString()
        })
        socket.on('end', () => resolve(text.split('\r\n')[0]!.split(' ')[1]!))
        socket.on('error', reject)
      })
    // Read as an authority, "//metrics" served the page, and "//evil.example/" a page whose
    // relative fetches went to another host; "//[" made new URL() throw: a 500.
    expect(await statusOf('//metrics')).toBe('404')
    expect(await statusOf('//evil.example/')).toBe('404')
    expect(await statusOf('//[')).toBe('404')
    expect(await statusOf('/metrics')).toBe('200')
    expect(await statusOf('http://x/health')).toBe('200')
    expect(await statusOf('/api/snapshots?since=abc')).toBe('200')
    let passedError: unknown = 'not called'
    const withNext = await serve((req, res) =>
      handler(req, res, (error) => {
        passedError = error
        res.end('next')
      }),
    )
    expect(await (await fetch(`${withNext}/ok`)).text()).toBe('next')
    passedError = 'not called'
    const nextPort = Number(new URL(withNext).port)
    await new Promise<void>((resolve, reject) => {
      const socket = connect(nextPort, '127.0.0.1', () =>
        socket.write('GET //[ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'),
      )
      socket.on('data', () => {})
      socket.on('end', resolve)
      socket.on('error', reject)
    })
    expect(passedError).toBeUndefined()
  })

  it('works mounted under a path in Express (the page fetches relative to where it is served)', async () => {
    const app = express()
    app.use('/ops/cache', dashboard({ caches: [cache({ namespace: 'products' })] }))
    app.get('/ops/other', (_req, res) => {
      res.send('other route')
    })
    const base = await serve(app)
    const page = await (await fetch(`${base}/ops/cache`)).text()
    expect(page).toContain("location.pathname.endsWith('/')")
    expect((await feed(`${base}/ops/cache`)).snapshots[0]!.cache).toBe('products')
    expect((await fetch(`${base}/ops/cache/metrics`)).status).toBe(200)
    expect(await (await fetch(`${base}/ops/other`)).text()).toBe('other route')
  })

  it('works in Fastify on the raw request with basePath (Fastify passes the full URL)', async () => {
    const app = Fastify()
    cleanups.push(() => app.close())
    const handler = dashboard({ caches: [cache({ namespace: 'products' })], basePath: '/cache' })
    const route = (request: { raw: IncomingMessage }, reply: { hijack(): void; raw: ServerResponse }) => {
      reply.hijack()
      handler(request.raw, reply.raw)
    }
    app.get('/cache', route)
    app.get('/cache/*', route)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    expect(await (await fetch(`${base}/cache`)).text()).toContain('<!doctype html>')
    expect((await feed(`${base}/cache`)).snapshots[0]!.cache).toBe('products')
    expect((await fetch(`${base}/cache/health`)).status).toBe(200)
    expect(() => createDashboardHandler({ caches: [cache()], basePath: 'cache' })).toThrow(/basePath/)
  })

  it('answers /metrics with 501 and how to fix it when prom-client is not installed', () => {
    // A copy of the built modules outside the project: prom-client cannot be resolved from there.
    const dir = mkdtempSync(path.join(tmpdir(), 'stratacache-no-prom-'))
    try {
      const dist = new URL('../../dist/', import.meta.url).pathname
      cpSync(path.join(dist, 'observability'), path.join(dir, 'observability'), { recursive: true })
      // (and the base layer and the errors it builds on)
      cpSync(path.join(dist, 'base'), path.join(dir, 'base'), { recursive: true })
      cpSync(path.join(dist, 'errors.js'), path.join(dir, 'errors.js'))
      const script = `
        import { createServer } from 'node:http'
        const { createDashboardHandler } = await import(${JSON.stringify(`${dir}/observability/dashboard/index.js`)})
        const snap = ${JSON.stringify(snapshot())}
        const handler = createDashboardHandler({ caches: [{ snapshot: () => snap, health: async () => snap.health }] })
        const server = createServer(handler).listen(0, '127.0.0.1', async () => {
          const response = await fetch('http://127.0.0.1:' + server.address().port + '/metrics')
          process.stdout.write(response.status + ' ' + (await response.text()))
          handler.close()
          server.close()
        })
      `
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        cwd: dir,
      })
      expect(out).toMatch(
        /^501 \/metrics needs prom-client, which is not installed: run `npm install prom-client`/,
      )
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('validates its options', () => {
    expect(() => createDashboardHandler({})).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
    expect(() => createDashboardHandler({ caches: [], source: { snapshots: () => [] } })).toThrow(/not both/)
    expect(() => createDashboardHandler({ caches: [{} as never] })).toThrow(/must be a Cache/)
    expect(() => createDashboardHandler({ source: { snapshots: () => [] }, intervalMs: 0 })).toThrow(
      /intervalMs/,
    )
    // Of the wrong type: a typed error naming the option, not a TypeError from inside.
    const source = { snapshots: () => [] }
    expect(() => createDashboardHandler({ source, title: 42 as never })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION', message: expect.stringContaining('title') }),
    )
    expect(() => createDashboardHandler({ source, basePath: 5 as never })).toThrow(
      expect.objectContaining({ code: 'E_INVALID_OPTION', message: expect.stringContaining('basePath') }),
    )
  })
})

describe('History (the server-side ring)', () => {
  const at = (t: number, init: Parameters<typeof snapshot>[0]) => snapshot({ at: t, ...init })

  it('turns successive snapshots into per-second rates, hit ratio and latency percentiles of the interval', () => {
    const history = new History(10)
    history.record([at(0, { stats: { l1Hits: 0 } })], 0)
    const point = history.record(
      [
        at(2000, {
          stats: { l1Hits: 100, l2Hits: 20, misses: 80 },
          latency: [series('getOrSet', 'origin', [0, 0, 0, 0, 60]), series('get', 'miss', [0, 20])],
        }),
      ],
      2000,
    ).groups.products!
    expect(point.ops).toEqual({ l1: 50, l2: 10, origin: 30, stale: 0, miss: 10 })
    expect(point.hitRatio).toBeCloseTo(0.6, 10)
    expect(point.p99).toBeGreaterThan(1) // ms: the origin reads sit in the (1 ms, 5 ms] bucket
    expect(point.p99).toBeLessThanOrEqual(5)
  })

  it('adds instances up, repeats the rates of a snapshot seen twice, and never reports a negative rate after a restart', () => {
    const history = new History(10)
    history.record([at(0, { instance: 'a' }), at(0, { instance: 'b' })], 0)
    const both = history.record(
      [
        at(1000, { instance: 'a', stats: { l1Hits: 10 } }),
        at(1000, { instance: 'b', stats: { l1Hits: 30 } }),
      ],
      1000,
    )
    expect(both.groups['*']!.ops.l1).toBe(40)
    expect(both.groups.products!.instances).toBe(2)
    const repeated = history.record(
      [
        at(1000, { instance: 'a', stats: { l1Hits: 10 } }),
        at(1000, { instance: 'b', stats: { l1Hits: 30 } }),
      ],
      2000,
    )
    expect(repeated.groups['*']!.ops.l1).toBe(40)
    const restarted = history.record(
      [at(3000, { instance: 'a', stats: { l1Hits: 2 } }), at(3000, { instance: 'b', stats: { l1Hits: 30 } })],
      3000,
    )
    expect(restarted.groups['*']!.ops.l1).toBe(0)
  })

  it('keeps at most its capacity of points, and since() returns the newer ones', () => {
    const history = new History(3)
    for (let t = 1; t <= 5; t++) history.record([at(t * 1000, {})], t * 1000)
    expect(history.since().map((p) => p.t)).toEqual([3000, 4000, 5000])
    expect(history.since(4000).map((p) => p.t)).toEqual([5000])
  })

  it('points recorded within one millisecond get increasing times, so since(first) returns the second', () => {
    const history = new History(10)
    const first = history.record([at(1000, {})], 7000)
    const second = history.record([at(2000, {})], 7000)
    expect(second.t).toBeGreaterThan(first.t)
    expect(history.since(first.t)).toEqual([second])
  })
})

describe('aggregating what instances publish through Redis', () => {
  it('collectSnapshots + subscribeSnapshots: the dashboard sees every publishing instance, per cache and in total', async () => {
    const namespace = uniqueNamespace('dash')
    const instance = () =>
      cache({
        namespace,
        l2: { redis: redis().url },
        observability: { publish: { interval: '100ms' } },
      })
    const a = instance()
    const b = instance()
    const watcher = cache({ namespace, l1: false, l2: { redis: redis().url } })
    const collector = await collectSnapshots((listener) => subscribeSnapshots(watcher, listener))
    cleanups.push(() => collector.close())
    const handler = dashboard({ source: collector, intervalMs: 60_000 })
    const base = await serve(handler)

    await a.getOrSet({ key: 'x', factory: () => 1 })
    await b.getOrSet({ key: 'y', factory: () => 2 })
    await b.getOrSet({ key: 'y', factory: () => 2 })
    // Wait for the snapshots taken after all three calls: one taken while b's first call was still
    // writing to the L2 already counts its factory call, but not yet the L1 hit of its second call.
    const seen = await pollUntil(() => {
      const snaps = collector.snapshots()
      return (
        snaps.length === 2 &&
        snaps.every((s) => s.stats.factoryCalls === 1) &&
        snaps.reduce((hits, s) => hits + s.stats.l1Hits, 0) === 1
      )
    }, 10_000)
    expect(seen).toBe(true)
    handler.sample()

    const body = await feed(base)
    expect(body.mode).toBe('published')
    expect(new Set(body.snapshots.map((s) => s.instance)).size).toBe(2)
    expect(body.history.at(-1)!.groups[namespace]!.instances).toBe(2)

    const families = parsePrometheusText(await (await fetch(`${base}/metrics`)).text())
    const value = (name: string, labels: Record<string, string>) =>
      families.get(name)?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))
        ?.value
    expect(value('stratacache_instances', { cache: namespace })).toBe(2)
    expect(value('stratacache_factory_calls_total', { cache: namespace })).toBe(2)
    expect(value('stratacache_hits_total', { cache: namespace, tier: 'l1' })).toBe(1)

    const health = await fetch(`${base}/health`)
    expect(health.status).toBe(200)
    expect(((await health.json()) as { caches: unknown[] }).caches).toHaveLength(2)
  })

  it('collectSnapshots forgets an instance that stopped publishing, and ignores an older snapshot', async () => {
    let now = 0
    let publish: (s: CacheSnapshot) => void = () => {}
    let stopped = false
    const collector = await collectSnapshots(
      (listener) => {
        publish = listener
        return () => {
          stopped = true
        }
      },
      { staleAfterMs: 1000, now: () => now },
    )
    publish(snapshot({ instance: 'a', at: 10 }))
    publish(snapshot({ instance: 'a', at: 5 }))
    publish(snapshot({ instance: 'b', at: 10 }))
    expect(collector.snapshots().map((s) => [s.instance, s.at])).toEqual([
      ['a', 10],
      ['b', 10],
    ])
    now = 800
    publish(snapshot({ instance: 'b', at: 20 }))
    now = 1500
    expect(collector.snapshots().map((s) => s.instance)).toEqual(['b'])
    await collector.close()
    expect(stopped).toBe(true)
  })

  it('/health answers 503 while no instance has published', async () => {
    const base = await serve(dashboard({ source: { snapshots: () => [] } }))
    const response = await fetch(`${base}/health`)
    expect(response.status).toBe(503)
    expect(await response.json()).toMatchObject({ status: 'unhealthy', caches: [] })
  })
})

describe('stratacache dashboard (the CLI)', () => {
  const bin = new URL('../../bin/stratacache.js', import.meta.url).pathname

  /** Starts the command and resolves with the URL it prints. */
  async function start(args: string[]): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(process.execPath, [bin, 'dashboard', '--port', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await new Promise((resolve) => child.once('exit', resolve))
      }
    })
    let out = ''
    let err = ''
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString()
    })
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString()
        const match = /Dashboard: (http:\/\/\S+)\n/.exec(out)
        if (match) resolve(match[1]!)
      })
      child.once('exit', (code) => reject(new Error(`exited with ${code} before printing its URL: ${err}`)))
    })
    return { child, url }
  }

  async function stop(child: ChildProcess): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    child.kill('SIGTERM')
    return exited
  }

  it('without --redis runs a demo workload: the page gets live reads from both demo caches; SIGTERM exits 0', async () => {
    const { child, url } = await start([])
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    let body: DashboardFeed | undefined
    const live = await pollUntil(async () => {
      body = await feed(url.replace(/\/$/, ''))
      const last = body.history.at(-1)?.groups['*']
      return last !== undefined && (last.ops.origin ?? 0) > 0 && (last.ops.l1 ?? 0) > 0
    }, 20_000)
    expect(live).toBe(true)
    expect(body!.snapshots.map((s) => s.cache).sort()).toEqual(['products', 'sessions'])
    expect((await fetch(`${url}health`)).status).toBeLessThan(600)
    expect(await stop(child)).toBe(0)
  })

  it('with --redis and --namespace shows the instances publishing there', async () => {
    const namespace = uniqueNamespace('cli')
    const { child, url } = await start(['--redis', redis().url, '--namespace', namespace])
    const publisher = cache({
      namespace,
      l2: { redis: redis().url },
      observability: { publish: { interval: '100ms' } },
    })
    await publisher.getOrSet({ key: 'k', factory: () => 1 })
    const seen = await pollUntil(async () => {
      const body = await feed(url.replace(/\/$/, ''))
      return body.mode === 'published' && body.snapshots.some((s) => s.cache === namespace)
    }, 10_000)
    expect(seen).toBe(true)
    expect(await stop(child)).toBe(0)
  })

  it('prints its help, and exits 2 on bad usage', () => {
    const run = (args: string[]) => {
      try {
        return {
          code: 0,
          out: execFileSync(process.execPath, [bin, 'dashboard', ...args], { encoding: 'utf8' }),
        }
      } catch (error) {
        const e = error as { status: number; stderr: string }
        return { code: e.status, out: e.stderr }
      }
    }
    const helped = run(['--help'])
    expect(helped.code).toBe(0)
    expect(helped.out).toContain('Usage: stratacache dashboard')
    expect(run(['--port', 'x'])).toMatchObject({
      code: 2,
      out: expect.stringContaining('--port must be an integer'),
    })
    expect(run(['--namespace', 'a'])).toMatchObject({
      code: 2,
      out: expect.stringContaining('goes with --redis'),
    })
  })
})
