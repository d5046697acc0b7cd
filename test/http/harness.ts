/**
 * One app, three frameworks: the shared suite declares routes once (a path, a policy written
 * against plain params/headers, a handler returning { status, headers, body }) and each adapter
 * below turns them into a real Express 5, Fastify 5 or Hono app listening on a loopback port.
 */
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import express, { type NextFunction, type Request, type Response } from 'express'
import Fastify, { type FastifyRequest } from 'fastify'
import { type Context, Hono } from 'hono'
import { httpCache as expressHttpCache } from '../../dist/http/express.js'
import { fastifyHttpCache } from '../../dist/http/fastify.js'
import { httpCache as honoHttpCache } from '../../dist/http/hono.js'
import type { HttpCache, HttpCacheEvents, HttpCacheOptions, HttpCachePolicy } from '../../dist/http/index.js'
import type { Cache } from '../../dist/index.js'

/** What a shared-suite handler sees of a request. */
export interface PlainRequest {
  params: Record<string, string>
  headers: Record<string, string | undefined>
  url: string
  /** Tags the response with these (the adapter's `tag` helper). */
  tag(...tags: string[]): void
}

export interface PlainResponse {
  status?: number
  headers?: Record<string, string | string[]>
  body: string
}

/** A policy whose functions take plain params/headers instead of a framework request. */
export interface PlainPolicy extends Omit<HttpCachePolicy, 'tags' | 'user'> {
  tags?: readonly string[] | ((params: Record<string, string>) => readonly string[])
  user?: (headers: Record<string, string | undefined>) => string | undefined
}

export interface RouteSpec {
  path: string
  method?: 'GET' | 'POST'
  policy?: PlainPolicy
  handler: (request: PlainRequest) => PlainResponse | Promise<PlainResponse>
}

export interface RunningApp {
  readonly name: AdapterName
  readonly url: string
  readonly http: HttpCache
  close(): Promise<void>
}

/**
 * fetch options that send a conditional request's headers as given. Node's fetch has no HTTP cache:
 * the mode only keeps it from adding `Cache-Control: no-cache` and `Pragma: no-cache` to a request
 * with If-None-Match or If-Modified-Since (Fetch standard, HTTP-network-or-cache fetch), which sends
 * it to the route; a browser revalidating its stored copy sends neither. (`cache` is missing from
 * Node's RequestInit type, not from its fetch.)
 */
export const AS_SENT: RequestInit = { cache: 'force-cache' } as RequestInit

/** Header on the 500 the app's error handler sends: the error's `code`, or `none`, so tests see which error it was. */
export const ERROR_CODE_HEADER = 'x-error-code'

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : 'none'
}

export type AdapterName = 'express' | 'fastify' | 'hono'
export const ADAPTERS: readonly AdapterName[] = ['express', 'fastify', 'hono']

type Options = Omit<HttpCacheOptions, 'cache'> & { cache: Cache }

function toPolicy<Req>(
  policy: PlainPolicy,
  params: (req: Req) => Record<string, string>,
  headers: (req: Req) => Record<string, string | undefined>,
): HttpCachePolicy<Req> {
  const { tags, user, ...rest } = policy
  const out: HttpCachePolicy<Req> = { ...rest }
  if (typeof tags === 'function') out.tags = (req) => tags(params(req))
  else if (tags !== undefined) out.tags = tags
  if (user !== undefined) out.user = (req) => user(headers(req))
  return out
}

function flatHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}

export async function startApp(
  name: AdapterName,
  routes: readonly RouteSpec[],
  options: Options,
): Promise<RunningApp> {
  if (name === 'express') return startExpress(routes, options)
  if (name === 'fastify') return startFastify(routes, options)
  return startHono(routes, options)
}

async function startExpress(routes: readonly RouteSpec[], options: Options): Promise<RunningApp> {
  const app = express()
  // Express's own weak ETag and req.fresh 304 would pre-empt the policy's: docs/http.md says so.
  app.set('etag', false)
  app.disable('x-powered-by')
  const http = expressHttpCache(options)
  for (const route of routes) {
    const handler = async (req: Request, res: Response, next: NextFunction) => {
      try {
        const out = await route.handler({
          params: req.params as Record<string, string>,
          headers: flatHeaders(req.headers),
          url: req.originalUrl,
          tag: (...tags) => http.tag(req, ...tags),
        })
        res.status(out.status ?? 200)
        for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v)
        res.send(out.body)
      } catch (error) {
        next(error)
      }
    }
    const middleware =
      route.policy === undefined
        ? []
        : [
            http.route(
              toPolicy<Request>(
                route.policy,
                (req) => req.params as Record<string, string>,
                (req) => flatHeaders(req.headers),
              ),
            ),
          ]
    if (route.method === 'POST') app.post(route.path, ...middleware, handler)
    else app.get(route.path, ...middleware, handler)
  }
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(500).setHeader(ERROR_CODE_HEADER, errorCode(error)).send('origin failed')
  })
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const { port } = server.address() as AddressInfo
  return {
    name: 'express',
    url: `http://127.0.0.1:${port}`,
    http,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

async function startFastify(routes: readonly RouteSpec[], options: Options): Promise<RunningApp> {
  const app = Fastify({ logger: false })
  await app.register(fastifyHttpCache, options)
  for (const route of routes) {
    const config =
      route.policy === undefined
        ? {}
        : {
            httpCache: toPolicy<FastifyRequest>(
              route.policy,
              (req) => req.params as Record<string, string>,
              (req) => flatHeaders(req.headers),
            ),
          }
    app.route({
      method: route.method ?? 'GET',
      url: route.path,
      config,
      handler: async (request, reply) => {
        const out = await route.handler({
          params: request.params as Record<string, string>,
          headers: flatHeaders(request.headers),
          url: request.url,
          tag: (...tags) => app.httpCache.tag(request, ...tags),
        })
        reply.code(out.status ?? 200)
        reply.header('content-type', 'text/html; charset=utf-8')
        for (const [k, v] of Object.entries(out.headers ?? {})) reply.header(k, v)
        return out.body
      },
    })
  }
  app.setErrorHandler((error, _request, reply) => {
    reply.code(500).header(ERROR_CODE_HEADER, errorCode(error)).send('origin failed')
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  // `app.httpCache` is typed by the augmentation of the TypeScript sources (also in this project): same class.
  const http = app.httpCache as unknown as HttpCache
  return { name: 'fastify', url: `http://127.0.0.1:${port}`, http, close: () => app.close() }
}

async function startHono(routes: readonly RouteSpec[], options: Options): Promise<RunningApp> {
  const app = new Hono()
  const http = honoHttpCache({ ...options, app })
  for (const route of routes) {
    const handler = async (c: Context) => {
      const out = await route.handler({
        params: c.req.param() as Record<string, string>,
        headers: c.req.header(),
        url: new URL(c.req.url).pathname + new URL(c.req.url).search,
        tag: (...tags) => http.tag(c, ...tags),
      })
      const headers = new Headers({ 'content-type': 'text/html; charset=utf-8' })
      for (const [k, v] of Object.entries(out.headers ?? {})) {
        if (Array.isArray(v)) for (const one of v) headers.append(k, one)
        else headers.set(k, v)
      }
      const status = out.status ?? 200
      // fetch's Response refuses a body, even an empty one, on a null-body status.
      return new Response(status === 204 || status === 304 ? null : out.body, { status, headers })
    }
    const method = route.method === 'POST' ? 'POST' : 'GET'
    if (route.policy === undefined) app.on(method, route.path, handler)
    else {
      const middleware = http.route(
        toPolicy<Context>(
          route.policy,
          (c) => c.req.param() as Record<string, string>,
          (c) => c.req.header(),
        ),
      )
      app.on(method, route.path, middleware, handler)
    }
  }
  app.onError((error, c) => c.text('origin failed', 500, { [ERROR_CODE_HEADER]: errorCode(error) }))
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise<void>((resolve) => {
    if (server.listening) resolve()
    else server.once('listening', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return {
    name: 'hono',
    url: `http://127.0.0.1:${port}`,
    http,
    close: () =>
      new Promise((resolve) => {
        ;(server as unknown as { closeAllConnections(): void }).closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** The next `name` event of `http`. */
export function nextEvent<E extends keyof HttpCacheEvents>(
  http: HttpCache,
  name: E,
): Promise<HttpCacheEvents[E]> {
  return new Promise((resolve) => {
    const listener = (event: HttpCacheEvents[E]) => {
      http.off(name, listener)
      resolve(event)
    }
    http.on(name, listener)
  })
}
