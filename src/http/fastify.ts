/**
 * Fastify 5 adapter: a plugin (encapsulation skipped, as fastify-plugin would, so its hooks see
 * every route) that reads each route's policy from `config.httpCache`.
 *
 * ```ts
 * await app.register(fastifyHttpCache, { cache })
 * app.get('/products/:id', { config: { httpCache: { maxAge: '60s', sMaxAge: '5m' } } }, handler)
 * await app.httpCache.invalidateTags(['product:42'])
 * ```
 */
import { Readable } from 'node:stream'
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  RouteGenericInterface,
} from 'fastify'
import type { Exchange } from './exchange.js'
import type { ResponseHeaders } from './headers.js'
import { type HttpCachePolicy, type ResolvedPolicy, resolvePolicy } from './policy.js'
import { HttpCache } from './response-cache.js'
import { privateCacheControl } from './stored.js'
import type { HttpCacheOptions, HttpRequest } from './types.js'

export type { HttpCacheOptions, HttpCachePolicy }

declare module 'fastify' {
  interface FastifyContextConfig {
    /** stratacache's HTTP caching policy of this route (see stratacache/http). */
    httpCache?: HttpCachePolicy<FastifyRequest>
  }
  interface FastifyInstance {
    /** The HTTP layer registered by stratacache's plugin: invalidateTags, purgeUrl, stats, tag. */
    httpCache: FastifyHttpCache
  }
}

/**
 * A route's `config.httpCache` typed by the route's generic, so that `tags` and `user` read its
 * params, query and headers typed, as its handler does (Fastify does not infer them from the path):
 *
 * ```ts
 * type Product = { Params: { id: string } }
 * app.get<Product>('/products/:id', {
 *   config: { httpCache: routePolicy<Product>({ maxAge: '60s', tags: (request) => [`product:${request.params.id}`] }) },
 * }, async (request) => products.find(request.params.id))
 * ```
 */
export function routePolicy<G extends RouteGenericInterface = RouteGenericInterface>(
  policy: HttpCachePolicy<FastifyRequest<G>>,
): HttpCachePolicy<FastifyRequest> {
  // The same request object reaches the policy: typed as the route declared it (as its handler is).
  return policy as unknown as HttpCachePolicy<FastifyRequest>
}

/** The HTTP layer of a Fastify app (decorated as `app.httpCache`). */
export class FastifyHttpCache extends HttpCache {
  /** Adds tags to the response being produced for `request` (e.g. every product a page lists). */
  tag(request: FastifyRequest, ...tags: string[]): void {
    this.addTags(request, tags)
  }
}

async function plugin(fastify: FastifyInstance, options: HttpCacheOptions): Promise<void> {
  // Fastify hands the plugin its register() options too; the HttpCache refuses names it does not know.
  const { logLevel, logSerializers, ...common } = options as HttpCacheOptions & {
    logLevel?: unknown
    logSerializers?: unknown
  }
  const http = new FastifyHttpCache(common)
  fastify.decorate('httpCache', http)
  // Keyed by the policy object the route declared: resolved (and validated) once.
  const resolved = new WeakMap<HttpCachePolicy<FastifyRequest>, ResolvedPolicy<FastifyRequest>>()
  const resolve = (policy: HttpCachePolicy<FastifyRequest>): ResolvedPolicy<FastifyRequest> => {
    let r = resolved.get(policy)
    if (r === undefined) {
      r = resolvePolicy(policy, 'config.httpCache')
      resolved.set(policy, r)
    }
    return r
  }
  const exchanges = new WeakMap<FastifyRequest, Exchange>()
  /** Hits whose stored response had no Content-Type: Fastify gives a Buffer one, onSend takes it back. */
  const untyped = new WeakSet<FastifyRequest>()
  /** Stored responses being sent: a cookie a later onSend hook adds must make them private. */
  const hits = new WeakSet<FastifyRequest>()

  // Routes declared after the plugin: a bad policy fails at startup, not on the first request.
  fastify.addHook('onRoute', (route) => {
    const policy = route.config?.httpCache
    if (policy !== undefined) resolve(policy)
  })

  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const policy = request.routeOptions.config.httpCache
    if (policy === undefined) return
    const step = await http.begin(resolve(policy), {
      request: { method: request.method, url: request.url, headers: request.headers },
      context: request,
      revalidate: (replay: HttpRequest) =>
        fastify.inject({
          method: 'GET',
          url: replay.url,
          headers: replay.headers as Record<string, string | string[]>,
        }),
    })
    if (step.kind === 'origin') {
      exchanges.set(request, step.exchange)
      return
    }
    const out = step.response
    if (out.status === 304) {
      // Written as is: Fastify's HEAD handling would add `Content-Length: 0` to a 304, a length
      // the 200 did not have (RFC 9110 §8.6).
      reply.hijack()
      reply.raw.writeHead(304, out.headers)
      reply.raw.end()
      return reply
    }
    reply.code(out.status)
    reply.headers(out.headers)
    hits.add(request)
    // The stored headers as they were: Fastify adds `application/octet-stream` to a Buffer sent
    // without a Content-Type (a redirect, a stream the route sent untyped, an entry another
    // adapter stored), which onSend removes again.
    if (out.headers['content-type'] === undefined) untyped.add(request)
    // A view, not a copy: the stored body is shared by every hit.
    return reply.send(
      out.body === null ? undefined : Buffer.from(out.body.buffer, out.body.byteOffset, out.body.byteLength),
    )
  })

  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    if (hits.delete(request)) privateIfCookieAdded(reply)
    if (untyped.delete(request)) {
      reply.removeHeader('content-type')
      return payload
    }
    const exchange = exchanges.get(request)
    if (exchange === undefined) return payload
    exchanges.delete(request)
    const { body, rest } = await readPayload(payload, http.maxBodyBytes)
    const out = await exchange.finish({
      status: reply.statusCode,
      headers: lowercaseHeaders(reply.getHeaders()),
      body,
      partial: rest !== undefined,
    })
    // Start from none: reply.header() appends to set-cookie rather than replacing it.
    for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name)
    reply.code(out.status)
    reply.headers(out.headers)
    if (out.headers['set-cookie'] === undefined) privateIfCookieAdded(reply)
    if (rest !== undefined) {
      // Past maxBodyBytes: what was read, then the rest as the route produces it.
      if (out.body === body) return Readable.from(concat(body, rest))
      rest.destroy()
    }
    if (out.body === null) {
      // A HEAD's 304: Fastify's HEAD handling measures the payload (and fails on null), so it gets
      // the 200's body, which it sends none of: its Content-Length is then the 200's, as it may be.
      if (request.method === 'HEAD') return Buffer.from(body.buffer, body.byteOffset, body.byteLength)
      if (out.status === 304) reply.removeHeader('content-length')
      return null
    }
    return Buffer.from(out.body.buffer, out.body.byteOffset, out.body.byteLength)
  })

  const abandon = async (request: FastifyRequest): Promise<void> => {
    exchanges.get(request)?.abandon()
    exchanges.delete(request)
  }
  fastify.addHook('onResponse', abandon)
  fastify.addHook('onRequestAbort', abandon)
}

/**
 * A Set-Cookie that an onSend hook running after this plugin's adds (@fastify/cookie and
 * @fastify/session set cookies there) comes after the core chose a shared Cache-Control without
 * it: a CDN could store the response, cookie and all, and hand that session to everyone. Checked
 * where Fastify writes the headers: such a response is sent private, without its tag headers (as
 * the core does for a cookie the route sets).
 */
function privateIfCookieAdded(reply: FastifyReply): void {
  const raw = reply.raw
  const writeHead = raw.writeHead
  raw.writeHead = function (this: typeof raw, ...args: unknown[]) {
    raw.writeHead = writeHead
    const headers = args.find((a) => typeof a === 'object' && a !== null && !Array.isArray(a)) as
      | Record<string, unknown>
      | undefined
    if (headers?.['set-cookie'] !== undefined) {
      const cc = headers['cache-control']
      if (typeof cc === 'string') headers['cache-control'] = privateCacheControl(cc)
      delete headers['surrogate-key']
      delete headers['cache-tag']
    }
    return (writeHead as (...a: unknown[]) => typeof raw).apply(this, args)
  } as typeof raw.writeHead
}

/**
 * The payload as bytes. A stream is read up to `limit` bytes (maxBodyBytes: past it nothing is
 * stored): a longer one is answered as its first bytes and the stream itself, for the rest, so a
 * large download is neither held whole in memory nor delayed until its end.
 */
async function readPayload(payload: unknown, limit: number): Promise<{ body: Uint8Array; rest?: Readable }> {
  if (payload === null || payload === undefined) return { body: new Uint8Array(0) }
  if (typeof payload === 'string') return { body: Buffer.from(payload, 'utf8') }
  if (payload instanceof Uint8Array) return { body: payload }
  if (typeof (payload as Readable).pipe === 'function') {
    const stream = payload as Readable
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array)
      chunks.push(buffer)
      size += buffer.byteLength
      if (size > limit) return { body: Buffer.concat(chunks), rest: stream }
    }
    return { body: Buffer.concat(chunks) }
  }
  return { body: Buffer.from(String(payload)) }
}

async function* concat(head: Uint8Array, rest: Readable): AsyncGenerator<Uint8Array> {
  yield head
  yield* rest
}

function lowercaseHeaders(headers: Record<string, string | string[] | number | undefined>): ResponseHeaders {
  const out: ResponseHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = typeof value === 'number' ? String(value) : value
  }
  return out
}

/**
 * The plugin. Marked the way fastify-plugin marks plugins (skip-override, display name, metadata)
 * without depending on it: the hooks must apply to routes outside the plugin's own context.
 */
export const fastifyHttpCache: FastifyPluginAsync<HttpCacheOptions> = Object.assign(plugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'stratacache-http',
  [Symbol.for('plugin-meta')]: { name: 'stratacache-http', fastify: '5.x' },
})

export default fastifyHttpCache
