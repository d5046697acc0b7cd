/**
 * Two app instances (Fastify and Express, so the stored format is shared across adapters) on one
 * real redis-server started by the test: a page stored by one is a hit in the other, and a tag
 * invalidation in one purges the page in both. Issue 18: `cache.invalidateTags` (not only
 * `http.invalidateTags`) reaches the CDN purge hook exactly once across the instances, and a page
 * whose handler was still running when one of its tags was invalidated elsewhere is not kept.
 */
import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { deferred, pollUntil } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { type AdapterName, type RouteSpec, type RunningApp, startApp } from './harness.js'

const server = useRedisServer()
const open: { app: RunningApp; cache: Cache }[] = []
const proxies: TcpProxy[] = []
afterEach(async () => {
  for (const { app, cache } of open.splice(0)) {
    await app.close()
    await cache.close()
  }
  for (const proxy of proxies.splice(0)) await proxy.close()
})

/**
 * GET with the Host a load balancer would send to every instance (the host is part of the key;
 * fetch cannot set it).
 */
function get(
  base: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, headers: { host: 'shop.example' } },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        )
      },
    )
    req.on('error', reject)
    req.end()
  })
}

describe('two instances sharing Redis', () => {
  it('a page one instance stored is a hit in the other, and a tag invalidation in one purges it in both', async () => {
    const namespace = uniqueNamespace('http')
    const calls: Record<string, number> = { fastify: 0, express: 0 }
    const start = async (adapter: AdapterName) => {
      const route: RouteSpec = {
        path: '/products/:id',
        policy: { maxAge: '60s', sMaxAge: '5m', tags: (p) => [`product:${p.id}`] },
        handler: ({ params }) => {
          calls[adapter] = (calls[adapter] ?? 0) + 1
          return { body: `product ${params.id} from ${adapter} #${calls[adapter]}` }
        },
      }
      const cache = createCache({ namespace, l2: { redis: server().url } })
      const app = await startApp(adapter, [route], { cache })
      open.push({ app, cache })
      return app
    }
    const a = await start('fastify')
    const b = await start('express')
    const first = await get(a.url, '/products/1')
    expect(first.body).toBe('product 1 from fastify #1')

    const fromL2 = await get(b.url, '/products/1')
    expect(fromL2.headers['x-cache']).toBe('HIT')
    expect(fromL2.headers.etag).toBe(first.headers.etag)
    expect(fromL2.body).toBe('product 1 from fastify #1')
    expect(calls.express).toBe(0)

    await a.http.invalidateTags(['product:1'])
    // The other instance hears of it over the bus (pub/sub delivers shortly after the publish).
    const purged = await pollUntil(async () => {
      return (await get(b.url, '/products/1')).headers['x-cache'] === 'MISS'
    }, 5000)
    expect(purged).toBe(true)
    expect(calls.express).toBe(1)
  })
})

describe('issue 18: the HTTP layer hears every invalidation', () => {
  const product = (calls: Record<string, number>, name: string, gate?: () => Promise<void>): RouteSpec => ({
    path: '/products/:id',
    policy: { maxAge: '60s', sMaxAge: '5m', tags: (p) => [`product:${p.id}`] },
    handler: async ({ params }) => {
      calls[name] = (calls[name] ?? 0) + 1
      const n = calls[name]
      await gate?.()
      return { body: `product ${params.id} from ${name} #${n}` }
    },
  })

  it("cache.invalidateTags on A calls the CDN purge hook exactly once across the instances (A's)", async () => {
    const namespace = uniqueNamespace('http-purge')
    const calls: Record<string, number> = {}
    const purged: string[] = []
    const instances: { app: RunningApp; cache: Cache }[] = []
    for (const [name, adapter] of [
      ['a', 'fastify'],
      ['b', 'express'],
      ['c', 'hono'],
    ] as const) {
      const cache = createCache({ namespace, l2: { redis: server().url } })
      await cache.ready()
      const app = await startApp(adapter, [product(calls, name)], {
        cache,
        purge: (tags) => void purged.push(`${name}:${tags.join(',')}`),
      })
      open.push({ app, cache })
      instances.push({ app, cache })
    }
    const [a, b, c] = instances as [(typeof instances)[0], (typeof instances)[0], (typeof instances)[0]]
    expect((await get(a.app.url, '/products/1')).headers['x-cache']).toBe('MISS')
    expect((await get(b.app.url, '/products/1')).headers['x-cache']).toBe('HIT')

    const heard = (cache: Cache) =>
      new Promise<void>((resolve) => cache.on('invalidate', (e) => e.origin === 'remote' && resolve()))
    const othersHeard = Promise.all([heard(b.cache), heard(c.cache)])
    await a.cache.invalidateTags(['product:1'])
    await othersHeard
    await new Promise((r) => setTimeout(r, 100))
    expect(purged).toEqual(['a:product:1'])
    // The stored page is gone everywhere: the next request runs the handler.
    expect((await get(c.app.url, '/products/1')).headers['x-cache']).toBe('MISS')

    // http.invalidateTags on B: once, by B (not once by the event and once by the call).
    const heardByA = heard(a.cache)
    await b.app.http.invalidateTags(['product:1'])
    await heardByA
    await new Promise((r) => setTimeout(r, 100))
    expect(purged).toEqual(['a:product:1', 'b:product:1'])
  })

  it("a handler on B slowed past an invalidation of its page's tag made on A leaves no page stored, on any instance", async () => {
    const namespace = uniqueNamespace('http-race')
    const calls: Record<string, number> = {}
    // B reaches Redis through a proxy, so its bus messages can be held back: B stores its page
    // before it hears of the invalidation (only the L2's tag marker knows by then).
    const proxy = await startTcpProxy({ port: server().port })
    proxies.push(proxy)
    const cacheA = createCache({ namespace, l2: { redis: server().url } })
    const cacheB = createCache({ namespace, l2: { redis: proxy.url(server().url) } })
    await Promise.all([cacheA.ready(), cacheB.ready()])
    let gate = deferred<void>()
    const a = await startApp('fastify', [product(calls, 'a')], { cache: cacheA })
    const b = await startApp('express', [product(calls, 'b', () => gate.promise)], { cache: cacheB })
    open.push({ app: a, cache: cacheA }, { app: b, cache: cacheB })

    const subscriber = proxy.links.find((l) => /subscribe/i.test(l.sent))
    expect(subscriber).toBeDefined()
    proxy.blackhole(subscriber, 'down')
    const slow = get(b.url, '/products/1')
    expect(await pollUntil(() => calls.b === 1, 5000)).toBe(true)
    // The handler has read its data (before the change); A changes product 1 and invalidates.
    await cacheA.invalidateTags(['product:1'])
    gate.resolve()
    expect((await slow).body).toBe('product 1 from b #1')
    gate = deferred<void>()
    gate.resolve()

    // A never serves B's page: its copy predates the invalidation (the L2's tag marker says so).
    const fromA = await get(a.url, '/products/1')
    expect(fromA.headers['x-cache']).toBe('MISS')
    expect(fromA.body).toBe('product 1 from a #1')
    // B hears of the invalidation once its subscriber connection delivers again, and runs its handler.
    const heard = new Promise<void>((resolve) => cacheB.on('invalidate', () => resolve()))
    proxy.resume(subscriber, 'down')
    await heard
    const fromB = await get(b.url, '/products/1')
    expect(fromB.body).not.toBe('product 1 from b #1')
  })
})
