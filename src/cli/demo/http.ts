import { Agent, request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createCache } from '../../index.js'
import type { Product, ProductSummary } from './catalog.js'
import { Origin, replay, type Target } from './replay.js'
import type { RunOptions, RunResult } from './types.js'

/** Thrown when the HTTP run cannot start because Fastify is not installed (the demo skips the column). */
export class MissingFrameworkError extends Error {}

/** Product pages: browsers revalidate every time (max-age=0) with their ETag; the server-side cache keeps them 10 minutes, purged by tag on a price change. */
export const PRODUCT_PAGE_POLICY = { maxAge: 0, sMaxAge: '10m' } as const
/** Category pages: the same, tagged with every product they list. */
export const CATEGORY_PAGE_POLICY = { maxAge: 0, sMaxAge: '1m' } as const

/**
 * Runs 4 and 5: the same workload as HTTP requests to a Fastify API over the catalog — without a
 * cache (`cached: false`: the same server and routes, the plugin not registered), then cached with
 * stratacache/http/fastify: `GET /products/:id`, `GET /categories/:id/pages/:page` (tagged with
 * the products it lists), `PUT /products/:id/price` (updates SQLite, then invalidates the
 * product's tag: its page and the category page listing it are purged). Clients send
 * If-None-Match with the ETag of the last copy of a URL they received, as browsers revalidating
 * and CDNs do; a 304 is served from that copy.
 */
export async function runHttp(options: RunOptions & { l1Size: number; cached: boolean }): Promise<RunResult> {
  let Fastify: typeof import('fastify').default
  try {
    Fastify = (await import('fastify')).default
  } catch (error) {
    throw new MissingFrameworkError(
      `fastify is not installed (${error instanceof Error ? error.message : error})`,
    )
  }
  const { fastifyHttpCache } = await import('../../http/fastify.js')
  const cache = createCache({
    namespace: 'demo-http',
    l1: { maxEntries: options.l1Size },
    l2: false,
    ttl: '5m',
  })
  const origin = new Origin(options.catalog, options.originLatencyMs)
  const app = Fastify({ logger: false })
  let purges = 0
  const agents: Agent[] = []
  try {
    if (options.cached) await app.register(fastifyHttpCache, { cache })
    app.get<{ Params: { id: string } }>(
      '/products/:id',
      {
        config: { httpCache: { ...PRODUCT_PAGE_POLICY, tags: (req) => [`product:${idParam(req.params)}`] } },
      },
      (request) => origin.product(Number(request.params.id)),
    )
    app.get<{ Params: { id: string; page: string } }>(
      '/categories/:id/pages/:page',
      {
        config: {
          httpCache: { ...CATEGORY_PAGE_POLICY, tags: (req) => [`category:${idParam(req.params)}`] },
        },
      },
      async (request) => {
        const rows = await origin.page(Number(request.params.id), Number(request.params.page))
        if (options.cached) app.httpCache.tag(request, ...rows.map((row) => `product:${row.id}`))
        return rows
      },
    )
    app.put<{ Params: { id: string }; Body: { priceCents: number; sequence: number } }>(
      '/products/:id/price',
      async (request, reply) => {
        const id = Number(request.params.id)
        await origin.updatePrice(id, request.body.priceCents, request.body.sequence)
        if (options.cached) {
          purges++
          await app.httpCache.invalidateTags([`product:${id}`])
        }
        return reply.code(204).send()
      },
    )
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port
    // node:http with keep-alive rather than fetch: a third of fetch's client CPU per request,
    // which would otherwise dominate the column's numbers (the server is what is measured).
    const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency })
    agents.push(agent)
    type Response = { status: number; headers: Record<string, string | string[] | undefined>; body: string }
    // The untimed warm-up only fills the caches: it goes through the same server and plugin, but
    // in process (Fastify's inject), without the sockets that would make it take minutes.
    let warming = options.warm
    const inject = async (method: string, url: string, headers: Record<string, string>, body?: string) => {
      const response = await app.inject({
        method: method as 'GET',
        url,
        // The host the sockets' requests carry: it is part of the response cache's key.
        headers: { ...headers, host: `127.0.0.1:${port}` },
        ...(body === undefined ? {} : { payload: body }),
      })
      return { status: response.statusCode, headers: response.headers, body: response.body } as Response
    }
    const send = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      warming ? inject(method, path, headers, body) : overSocket(method, path, headers, body)
    const overSocket = (method: string, path: string, headers: Record<string, string>, body?: string) =>
      new Promise<Response>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port, path, method, headers, agent }, (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).toString('utf8'),
            }),
          )
          res.on('error', reject)
        })
        req.on('error', reject)
        req.end(body)
      })

    // What the clients hold: the last copy of each URL and its ETag.
    const copies = new Map<string, { etag: string; body: string }>()
    let notModified = 0
    const read = async <T>(path: string, loaded: () => void): Promise<T> => {
      const copy = copies.get(path)
      const response = await send('GET', path, copy === undefined ? {} : { 'if-none-match': copy.etag })
      // Without the plugin there is no x-cache header: every read reached the origin.
      const outcome = response.headers['x-cache']
      if (outcome === undefined ? !options.cached : outcome === 'MISS' || outcome === 'BYPASS') loaded()
      if (response.status === 304 && copy !== undefined) {
        notModified++
        return JSON.parse(copy.body) as T
      }
      if (response.status !== 200) {
        throw new Error(`GET ${path}: HTTP ${response.status} ${response.body.slice(0, 200)}`)
      }
      const etag = response.headers.etag
      if (typeof etag === 'string') copies.set(path, { etag, body: response.body })
      return JSON.parse(response.body) as T
    }
    const target: Target = {
      product: (id, loaded) => read<Product>(`/products/${id}`, loaded),
      page: (categoryId, page, loaded) =>
        read<ProductSummary[]>(`/categories/${categoryId}/pages/${page}`, loaded),
      write: async (request, sequence) => {
        const response = await send(
          'PUT',
          `/products/${request.id}/price`,
          { 'content-type': 'application/json' },
          JSON.stringify({ priceCents: request.priceCents, sequence }),
        )
        if (response.status !== 204) throw new Error(`PUT price: HTTP ${response.status}`)
      },
    }
    const mode = options.cached ? 'http+cache' : 'http'
    // The HTTP layer's counters at the start of the measured window (the warm-up's are not its).
    let before = { served: 0, stored: 0, notModified: 0, purges: 0 }
    const served = () => {
      const stats = app.httpCache.stats()
      return {
        served: stats.hits + stats.staleServed + stats.staleIfError + stats.coalesced,
        stored: stats.stored,
      }
    }
    const result = await replay(
      mode,
      target,
      origin,
      {
        ...options,
        beforeWindow: async () => {
          warming = false
          if (options.cached) before = { ...served(), notModified, purges }
        },
      },
      options.cached ? cache : undefined,
    )
    if (!options.cached) return result
    const after = served()
    return {
      ...result,
      http: {
        notModified: notModified - before.notModified,
        notModifiedShare: result.reads === 0 ? 0 : (notModified - before.notModified) / result.reads,
        responseCacheHitRatio: result.reads === 0 ? 0 : (after.served - before.served) / result.reads,
        stored: after.stored - before.stored,
        purges: purges - before.purges,
      },
    }
  } finally {
    for (const agent of agents) agent.destroy()
    await app.close()
    await cache.close()
  }
}

function idParam(params: unknown): string {
  return String((params as { id?: unknown }).id)
}
