/**
 * Hono adapter (any runtime; tested on @hono/node-server): `httpCache({ cache, app })` returns the
 * HTTP layer with a `route(policy)` middleware. `app` is the Hono app itself: background
 * revalidation (stale-while-revalidate) sends its request through `app.fetch`. Without it, a
 * response within its stale-while-revalidate window is refreshed in the foreground instead.
 *
 * ```ts
 * const app = new Hono()
 * const http = httpCache({ cache, app })
 * app.get('/products/:id', http.route({ maxAge: '60s', sMaxAge: '5m' }), (c) => c.json(product))
 * ```
 */
import type { Context, MiddlewareHandler } from 'hono'
import { InvalidOptionError, type WaitUntil } from '../index.js'
import type { ResponseHeaders } from './headers.js'
import { type HttpCachePolicy, resolvePolicy } from './policy.js'
import { HttpCache } from './response-cache.js'
import { REVALIDATE_HEADER } from './revalidation.js'
import type { HttpCacheOptions, HttpRequest, OutgoingResponse } from './types.js'

export type { HttpCacheOptions, HttpCachePolicy }

/** What the adapter needs of a Hono app: its fetch handler. */
export interface FetchApp {
  fetch(request: Request, env?: unknown): Response | Promise<Response>
}

export interface HonoHttpCacheOptions extends HttpCacheOptions {
  /** The app, for background revalidation (stale-while-revalidate). */
  app?: FetchApp
}

/** The HTTP layer of a Hono app. */
export class HonoHttpCache extends HttpCache {
  readonly #app: FetchApp | undefined

  constructor(options: HonoHttpCacheOptions) {
    // The HttpCache refuses names it does not know: `app` is this adapter's own.
    const { app, ...common } = options ?? {}
    super(common as HttpCacheOptions)
    if (app !== undefined && typeof app?.fetch !== 'function') {
      throw new InvalidOptionError('app must be the Hono app (an object with fetch(request)).')
    }
    this.#app = app
  }

  /** Middleware applying `policy` to the route it precedes (validated here, once). */
  route(policy: HttpCachePolicy<Context>): MiddlewareHandler {
    const resolved = resolvePolicy(policy)
    return async (c, next) => {
      const url = new URL(c.req.url)
      const headers: Record<string, string> = {}
      c.req.raw.headers.forEach((value, name) => {
        headers[name] = value
      })
      const app = this.#app
      const step = await this.begin(resolved, {
        // The origin the app sees, which an absolute-form request line sets apart from the
        // Host header: keyed, so such a request fills an entry of its own (S12).
        request: { method: c.req.method, url: url.pathname + url.search, headers, origin: url.origin },
        context: c,
        waitUntil: executionWaitUntil(c),
        revalidate:
          app === undefined
            ? undefined
            : async (replay: HttpRequest) => {
                const init = new Headers()
                for (const [name, value] of Object.entries(replay.headers)) {
                  if (value !== undefined)
                    init.set(name, typeof value === 'string' ? value : value.join(', '))
                }
                const response = await app.fetch(
                  new Request(new URL(replay.url, url.origin), { headers: init }),
                  c.env,
                )
                await response.arrayBuffer()
              },
      })
      if (step.kind === 'respond') return toResponse(step.response)
      try {
        await next()
      } catch (error) {
        // Hono normally turns a handler's error into a response; if one escapes, release the waiters.
        step.exchange.abandon()
        throw error
      }
      const res = c.res
      const captured: ResponseHeaders = {}
      res.headers.forEach((value, name) => {
        if (name !== 'set-cookie') captured[name] = value
      })
      const cookies = res.headers.getSetCookie()
      if (cookies.length > 0) captured['set-cookie'] = cookies
      const { body, rest } = await readBody(res, this.maxBodyBytes)
      const out = await step.exchange.finish({
        status: res.status,
        headers: captured,
        body,
        partial: rest !== undefined,
      })
      if (rest !== undefined && out.body !== body) void rest.cancel()
      // Assigning over an existing response merges its headers back in: clear it first.
      c.res = undefined as unknown as Response
      c.res = rest !== undefined && out.body === body ? toResponse(out, rest) : toResponse(out)
      return undefined
    }
  }

  /** Adds tags to the response being produced for `c` (e.g. every product a page lists). */
  tag(c: Context, ...tags: string[]): void {
    this.addTags(c, tags)
  }
}

/** Creates the HTTP layer for a Hono app (see {@link HonoHttpCache.route}). */
export function httpCache(options: HonoHttpCacheOptions): HonoHttpCache {
  return new HonoHttpCache(options)
}

/** Cloudflare Workers' (and other fetch runtimes') per-request hook; Node has none (Hono's getter throws). */
function executionWaitUntil(c: Context): WaitUntil | undefined {
  try {
    const context = c.executionCtx
    return (promise) => context.waitUntil(promise)
  } catch {
    return undefined
  }
}

/**
 * The response's body as bytes, read up to `limit` bytes (maxBodyBytes: past it nothing is
 * stored): a longer one is answered as its first bytes and the reader of the rest, so a large
 * download is neither held whole in memory nor delayed until its end.
 */
async function readBody(
  res: Response,
  limit: number,
): Promise<{ body: Uint8Array; rest?: ReadableStreamDefaultReader<Uint8Array> }> {
  if (res.body === null) return { body: new Uint8Array(0) }
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
    if (size > limit) return { body: Buffer.concat(chunks), rest: reader }
  }
  return { body: chunks.length === 1 ? (chunks[0] as Uint8Array) : Buffer.concat(chunks) }
}

/** `head`, then what `rest` still has to read. */
function continued(
  head: Uint8Array,
  rest: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let first = true
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (first) {
        first = false
        controller.enqueue(head)
        return
      }
      const { done, value } = await rest.read()
      if (done) controller.close()
      else controller.enqueue(value)
    },
    cancel: (reason) => rest.cancel(reason),
  })
}

/** The Response for `out`; with `rest`, its body is `out.body` followed by what `rest` reads (no Content-Length). */
function toResponse(out: OutgoingResponse, rest?: ReadableStreamDefaultReader<Uint8Array>): Response {
  const headers = new Headers()
  for (const [name, value] of Object.entries(out.headers)) {
    if (typeof value === 'string') headers.set(name, value)
    else for (const v of value) headers.append(name, v)
  }
  headers.delete(REVALIDATE_HEADER)
  // Hono answers a HEAD with the GET's response minus its body, which leaves the server nothing
  // to count: the length goes with the headers, as a GET's would (RFC 9110 §8.6).
  if (rest !== undefined && out.body !== null) {
    return new Response(continued(out.body, rest), { status: out.status, headers })
  }
  if (out.body !== null && !headers.has('content-length')) {
    headers.set('content-length', String(out.body.byteLength))
  }
  return new Response(out.body === null ? null : (out.body as Uint8Array<ArrayBuffer>), {
    status: out.status,
    headers,
  })
}
