/**
 * Two app instances (Fastify and Express, so the stored format is shared across adapters) on one
 * real redis-server started by the test: a page stored by one is a hit in the other, and a tag
 * invalidation in one purges the page in both.
 */
import { request } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { pollUntil } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { type AdapterName, type RouteSpec, type RunningApp, startApp } from './harness.js'

const server = useRedisServer()
const open: { app: RunningApp; cache: Cache }[] = []
afterEach(async () => {
  for (const { app, cache } of open.splice(0)) {
    await app.close()
    await cache.close()
  }
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
