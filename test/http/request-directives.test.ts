/**
 * The request's own Cache-Control (RFC 9111 §5.2.1) and `Pragma: no-cache` (§5.4), through real
 * servers on every adapter: `no-cache` and a `max-age` the stored response is older than send the
 * request to the route (whose fresh response is stored); `no-store` keeps the exchange out of the
 * cache. Then, without a server: a `no-store` request's response is shared with nobody.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { HttpCache, type HttpRequest, resolvePolicy, type Step } from '../../dist/http/index.js'
import { type Cache, createCache } from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'
import { ADAPTERS, type AdapterName, type PlainPolicy, type RunningApp, startApp } from './harness.js'

const open: { app: RunningApp; cache: Cache }[] = []
afterEach(async () => {
  for (const { app, cache } of open.splice(0)) {
    await app.close()
    await cache.close()
  }
})

describe.each(ADAPTERS)('%s adapter: request directives', (adapter: AdapterName) => {
  const clock = manualClock()
  /** A page whose body carries the number of the route call that produced it. */
  async function start(policy: PlainPolicy = { maxAge: '60s' }, fail = { now: false }) {
    const cache = createCache({ namespace: 'reqdirectives', jitter: 0, clock })
    const calls = { n: 0 }
    const app = await startApp(
      adapter,
      [
        {
          path: '/page',
          policy,
          handler: () => {
            calls.n++
            if (fail.now) throw new Error('origin down')
            return { body: `page v${calls.n}` }
          },
        },
      ],
      { cache, clock },
    )
    open.push({ app, cache })
    return { app, calls }
  }
  const get = async (app: RunningApp, headers: Record<string, string> = {}) => {
    const response = await fetch(`${app.url}/page`, { headers })
    return { outcome: response.headers.get('x-cache'), body: await response.text() }
  }

  it('Cache-Control: no-cache runs the route instead of serving the stored response, and stores the fresh one', async () => {
    const { app, calls } = await start()
    expect(await get(app)).toEqual({ outcome: 'MISS', body: 'page v1' })
    expect(await get(app)).toEqual({ outcome: 'HIT', body: 'page v1' })
    expect(await get(app, { 'cache-control': 'no-cache' })).toEqual({ outcome: 'MISS', body: 'page v2' })
    expect(await get(app)).toEqual({ outcome: 'HIT', body: 'page v2' })
    expect(calls.n).toBe(2)
  })

  it('Pragma: no-cache does the same when the request has no Cache-Control, and is ignored when it has one', async () => {
    const { app } = await start()
    await get(app)
    expect(await get(app, { pragma: 'no-cache' })).toEqual({ outcome: 'MISS', body: 'page v2' })
    expect(await get(app, { pragma: 'no-cache', 'cache-control': 'max-age=3600' })).toEqual({
      outcome: 'HIT',
      body: 'page v2',
    })
  })

  it('max-age=N runs the route when the stored response is older than N seconds (max-age=0, a reload: any age)', async () => {
    const { app } = await start()
    await get(app)
    clock.advance(20_000)
    expect(await get(app, { 'cache-control': 'max-age=30' })).toEqual({ outcome: 'HIT', body: 'page v1' })
    expect(await get(app, { 'cache-control': 'max-age=10' })).toEqual({ outcome: 'MISS', body: 'page v2' })
    clock.advance(1_000)
    expect(await get(app, { 'cache-control': 'max-age=0' })).toEqual({ outcome: 'MISS', body: 'page v3' })
    expect(await get(app)).toEqual({ outcome: 'HIT', body: 'page v3' })
  })

  it('no-cache on a stored response whose route now fails gets the stored response (stale-if-error), within its window', async () => {
    const fail = { now: false }
    const { app } = await start({ maxAge: '60s', staleIfError: '60s' }, fail)
    await get(app)
    fail.now = true
    expect(await get(app, { 'cache-control': 'no-cache' })).toEqual({
      outcome: 'STALE-IF-ERROR',
      body: 'page v1',
    })
  })

  it('no-store is served a stored response, but what its own exchange produces is not stored', async () => {
    const { app } = await start()
    await get(app)
    expect(await get(app, { 'cache-control': 'no-store' })).toEqual({ outcome: 'HIT', body: 'page v1' })
    await app.http.purgeUrl('/page')
    expect(await get(app, { 'cache-control': 'no-store' })).toEqual({ outcome: 'MISS', body: 'page v2' })
    expect(await get(app)).toEqual({ outcome: 'MISS', body: 'page v3' })
    expect(app.http.stats().uncacheable['request-no-store']).toBe(1)
  })
})

describe('a no-store request, without a server', () => {
  const source = (headers: Record<string, string> = {}) => ({
    request: { method: 'GET', url: '/p', headers: { host: 'h', ...headers } } satisfies HttpRequest,
    context: {},
  })
  const ok = { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('body') }
  const origin = (step: Step) => {
    if (step.kind !== 'origin') throw new Error(`expected the origin, got ${step.response.outcome}`)
    return step.exchange
  }

  it('does not lead the identical requests that arrive meanwhile: they run the route without waiting for its response', async () => {
    const cache = createCache({ namespace: 'reqnostore', jitter: 0 })
    const http = new HttpCache({ cache })
    const policy = resolvePolicy({ maxAge: '1m' })
    try {
      const noStore = origin(await http.begin(policy, source({ 'cache-control': 'no-store' })))
      const order: string[] = []
      const other = http.begin(policy, source()).then((step) => {
        order.push('other began')
        return step
      })
      // Its lookup done, the other request either runs the route or waits on the no-store one.
      await new Promise((resolve) => setImmediate(resolve))
      order.push('no-store finished')
      await noStore.finish(ok)
      const step = await other
      expect(order).toEqual(['other began', 'no-store finished'])
      expect(step.kind).toBe('origin')
      await origin(step).finish(ok)
      expect(http.stats().stored).toBe(1)
    } finally {
      await cache.close()
    }
  })
})

describe("requestDirectives: 'ignore', without a server", () => {
  const source = (headers: Record<string, string> = {}) => ({
    request: { method: 'GET', url: '/p', headers: { host: 'h', ...headers } } satisfies HttpRequest,
    context: {},
  })
  const ok = { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('body') }

  it('serves the stored response to no-cache, Pragma: no-cache and max-age=0 as if they were absent', async () => {
    const cache = createCache({ namespace: 'reqignore', jitter: 0 })
    const http = new HttpCache({ cache, requestDirectives: 'ignore' })
    const policy = resolvePolicy({ maxAge: '1m' })
    try {
      const first = await http.begin(policy, source())
      if (first.kind !== 'origin') throw new Error('expected the origin for the first request')
      await first.exchange.finish(ok)
      for (const headers of [
        { 'cache-control': 'no-cache' },
        { pragma: 'no-cache' },
        { 'cache-control': 'max-age=0' },
      ]) {
        const step = await http.begin(policy, source(headers))
        expect(step.kind === 'respond' ? step.response.outcome : step.kind).toBe('hit')
      }
    } finally {
      await cache.close()
    }
  })

  it("still keeps a no-store request's exchange out of the cache", async () => {
    const cache = createCache({ namespace: 'reqignorens', jitter: 0 })
    const http = new HttpCache({ cache, requestDirectives: 'ignore' })
    const policy = resolvePolicy({ maxAge: '1m' })
    try {
      const step = await http.begin(policy, source({ 'cache-control': 'no-store' }))
      if (step.kind !== 'origin') throw new Error('expected the origin')
      await step.exchange.finish(ok)
      expect(http.stats().stored).toBe(0)
    } finally {
      await cache.close()
    }
  })

  it('refuses any other value, naming the two it takes', () => {
    const cache = createCache({ namespace: 'reqbad' })
    expect(() => new HttpCache({ cache, requestDirectives: 'honor' as never })).toThrow(
      /requestDirectives must be 'obey' or 'ignore'; got "honor"/,
    )
    return cache.close()
  })
})
