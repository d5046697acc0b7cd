/**
 * Express 5 adapter: `httpCache({ cache })` returns the HTTP layer with a `route(policy)`
 * middleware to put before a route's handler.
 *
 * ```ts
 * const http = httpCache({ cache })
 * app.get('/products/:id', http.route({ maxAge: '60s', sMaxAge: '5m', tags: (req) => [`product:${req.params.id}`] }), handler)
 * ```
 */
import { IncomingMessage, ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import type { Application, NextFunction, Request, Response } from 'express'
import type { Exchange } from './exchange.js'
import type { ResponseHeaders } from './headers.js'
import { type HttpCachePolicy, resolvePolicy } from './policy.js'
import { HttpCache } from './response-cache.js'
import { privateCacheControl } from './stored.js'
import type { CapturedResponse, HttpCacheOptions, HttpRequest, OutgoingResponse } from './types.js'

export type { HttpCacheOptions, HttpCachePolicy }

/**
 * What {@link ExpressHttpCache.route} returns: an Express middleware generic over the route's
 * params, so that Express infers them from the route's path (`'/products/:id'` → `{ id: string }`)
 * for the handlers after it, instead of taking them from this middleware.
 */
export type RouteMiddleware<P> = <Q extends P>(req: Request<Q>, res: Response, next: NextFunction) => void

/** The HTTP layer for an Express app. */
export class ExpressHttpCache extends HttpCache {
  /**
   * Middleware applying `policy` to the route it precedes (validated here, once). Generic over the
   * route's params like Express's own handlers, so `app.get('/p/:id', http.route(…), (req) => …)`
   * keeps `req.params.id` a `string` (inferred from the path; or name them: `route<{ id: string }>()`).
   */
  route<P = Request['params']>(policy: HttpCachePolicy<Request<P>>): RouteMiddleware<P> {
    const resolved = resolvePolicy(policy)
    return (req, res, next) => {
      const source = {
        request: { method: req.method, url: req.originalUrl, headers: req.headers },
        context: req as Request<P>,
        revalidate: (replay: HttpRequest) => dispatch(rootApp(req.app), replay),
      }
      this.begin(resolved, source).then((step) => {
        if (step.kind === 'respond') send(res, step.response, res.end as End)
        else capture(req, res, next, step.exchange, this.maxBodyBytes)
      }, next)
    }
  }

  /** Adds tags to the response being produced for `req` (e.g. every product a page lists). */
  tag<P>(req: Request<P>, ...tags: string[]): void {
    this.addTags(req, tags)
  }
}

/** Creates the HTTP layer for an Express app (see {@link ExpressHttpCache.route}). */
export function httpCache(options: HttpCacheOptions): ExpressHttpCache {
  return new ExpressHttpCache(options)
}

type ServerResponseMethods = Pick<Response, 'write' | 'end' | 'writeHead' | 'send'>

type End = (this: Response, chunk?: unknown, encoding?: BufferEncoding) => unknown

/**
 * Buffers what the route writes (the body is needed whole: its ETag, its storage), then hands it
 * to the core and writes the response the core returns. Methods are patched on this response
 * object only, and restored before the real write, so outer middleware that patched them too
 * (compression, loggers) see one ordinary response.
 */
function capture(
  req: IncomingMessage,
  res: Response,
  next: NextFunction,
  exchange: Exchange,
  limit: number,
): void {
  const original: ServerResponseMethods = {
    write: res.write,
    end: res.end,
    writeHead: res.writeHead,
    send: res.send,
  }
  const chunks: Buffer[] = []
  let size = 0
  let ended = false
  /** Past `limit`: the exchange is being finished with what was written so far; later writes wait here. */
  let streaming: { queue: Buffer[]; end: boolean } | undefined
  const restore = (): void => {
    res.write = original.write
    res.end = original.end
    res.writeHead = original.writeHead
    res.send = original.send
    // Express answers 304 itself when `req.fresh`; under capture the core decides that.
    delete (req as { fresh?: boolean }).fresh
  }
  Object.defineProperty(req, 'fresh', { configurable: true, get: () => false })
  if (req.method === 'HEAD') {
    // Express's send (json, format, render go through it) leaves a HEAD's body out of `end`, and
    // the ETag is computed from the body: asked as for a GET, it hands the body over, so a HEAD
    // carries the validators a GET gets (RFC 9110 §9.3.2). Node sends no body for a HEAD anyway.
    res.send = function send(this: Response, body?: unknown) {
      req.method = 'GET'
      try {
        return original.send.call(this, body)
      } finally {
        req.method = 'HEAD'
      }
    } as Response['send']
  }
  const toBuffer = (chunk: unknown, encoding?: BufferEncoding): Buffer | undefined => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return undefined
    if (typeof chunk === 'string') return Buffer.from(chunk, encoding ?? 'utf8')
    if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    return Buffer.from(String(chunk))
  }
  res.writeHead = function writeHead(this: Response, status: number, ...rest: unknown[]) {
    res.statusCode = status
    const headers = rest.find((r) => typeof r === 'object' && r !== null)
    if (Array.isArray(headers)) {
      for (let i = 0; i + 1 < headers.length; i += 2)
        res.setHeader(String(headers[i]), headers[i + 1] as string)
    } else if (headers !== undefined) {
      for (const [name, value] of Object.entries(headers)) {
        if (value !== undefined) res.setHeader(name, value as string | string[])
      }
    }
    return res
  } as Response['writeHead']
  const fail = (error: unknown): void => {
    // Finishing failed, or sending did (a header value Node refuses throws from setHeader): the
    // app's error handler answers while it still can; after that, the connection is cut. Never
    // an unhandled rejection, which would leave the request hanging and may end the process.
    if (!res.headersSent) next(error)
    else res.destroy(error instanceof Error ? error : undefined)
  }
  /**
   * The body grew past maxBodyBytes, so it will not be stored: rather than hold all of it (a
   * download of any size) and send nothing until its end, the response starts with what was
   * written, and the rest passes through. Writes wait (returning false) until the headers are out.
   */
  const stream = (): void => {
    const wait = { queue: [] as Buffer[], end: false }
    streaming = wait
    const body = Buffer.concat(chunks)
    exchange
      .finish({ status: res.statusCode, headers: lowercaseHeaders(res.getHeaders()), body, partial: true })
      .then((out) => {
        if (exchange.revalidation || out.body !== body) {
          // A background refresh goes nowhere; a stored response standing in for a failed route
          // (stale-if-error) is sent instead of the rest.
          res.write = (() => true) as Response['write']
          res.end = (() => res) as Response['end']
          if (exchange.revalidation) return
          for (const name of res.getHeaderNames()) res.removeHeader(name)
          send(res, out, original.end as End)
          return
        }
        restore()
        for (const name of res.getHeaderNames()) res.removeHeader(name)
        res.statusCode = out.status
        for (const [name, value] of Object.entries(out.headers)) res.setHeader(name, value)
        if (out.headers['set-cookie'] === undefined) privateIfCookieAdded(res)
        const write = original.write as (this: Response, chunk: Buffer) => boolean
        write.call(res, body)
        for (const queued of wait.queue) write.call(res, queued)
        if (wait.end) (original.end as End).call(res)
        else res.emit('drain')
      })
      .catch(fail)
  }
  res.write = function write(chunk: unknown, encoding?: unknown, callback?: unknown) {
    const buffer = toBuffer(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined)
    const cb = typeof encoding === 'function' ? encoding : callback
    if (typeof cb === 'function') queueMicrotask(cb as () => void)
    if (streaming !== undefined) {
      if (buffer !== undefined) streaming.queue.push(buffer)
      return false
    }
    if (buffer !== undefined) {
      chunks.push(buffer)
      size += buffer.byteLength
    }
    if (size <= limit) return true
    stream()
    return false
  } as Response['write']
  res.end = function end(chunk?: unknown, encoding?: unknown, callback?: unknown) {
    if (ended) return res
    ended = true
    const buffer = toBuffer(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : undefined)
    const cb = [chunk, encoding, callback].find((c) => typeof c === 'function')
    if (typeof cb === 'function') res.once('finish', cb as () => void)
    if (streaming !== undefined) {
      if (buffer !== undefined) streaming.queue.push(buffer)
      streaming.end = true
      return res
    }
    if (buffer !== undefined) chunks.push(buffer)
    restore()
    const captured: CapturedResponse = {
      status: res.statusCode,
      headers: lowercaseHeaders(res.getHeaders()),
      body: Buffer.concat(chunks),
    }
    exchange
      .finish(captured)
      .then((out) => {
        if (exchange.revalidation) return
        for (const name of res.getHeaderNames()) res.removeHeader(name)
        send(res, out, original.end as End)
      })
      .catch(fail)
    return res
  } as Response['end']
  res.once('close', () => {
    if (!ended && streaming === undefined) {
      restore()
      exchange.abandon()
    }
  })
  next()
}

function send(res: Response, out: OutgoingResponse, end: End): void {
  res.statusCode = out.status
  for (const [name, value] of Object.entries(out.headers)) res.setHeader(name, value)
  if (out.headers['set-cookie'] === undefined) privateIfCookieAdded(res)
  if (out.body === null) end.call(res)
  else end.call(res, out.body)
}

/**
 * Session middleware (express-session, cookie-session, through on-headers) sets its cookie as the
 * headers are written, after the core chose a Cache-Control without it: a CDN could then store the
 * response, cookie and all, under `s-maxage`, and hand that session to everyone. A cookie set from
 * here on turns the response private, as the core does for a cookie the route sets, and drops the
 * tag headers (not sent on private responses).
 */
function privateIfCookieAdded(res: Response): void {
  const setHeader = res.setHeader
  res.setHeader = function (this: Response, name: string, value: number | string | readonly string[]) {
    if (name.toLowerCase() === 'set-cookie') {
      const cc = res.getHeader('cache-control')
      if (typeof cc === 'string') setHeader.call(this, 'cache-control', privateCacheControl(cc))
      res.removeHeader('surrogate-key')
      res.removeHeader('cache-tag')
    }
    return setHeader.call(this, name, value)
  } as Response['setHeader']
  const restore = (): void => {
    res.setHeader = setHeader
  }
  res.once('finish', restore)
  res.once('close', restore)
}

function lowercaseHeaders(headers: Record<string, string | string[] | number | undefined>): ResponseHeaders {
  const out: ResponseHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    out[name.toLowerCase()] = typeof value === 'number' ? String(value) : value
  }
  return out
}

/** The top-level app: a route inside a mounted sub-app is reached from the root with the full URL. */
function rootApp(app: Application): Application {
  let current = app as Application & { parent?: Application }
  while (current.parent !== undefined) current = current.parent as Application & { parent?: Application }
  return current
}

/**
 * Sends a background revalidation through the app in-process: a request object with no socket
 * behind it, whose response the route middleware captures and never writes anywhere.
 */
function dispatch(app: Application, replay: HttpRequest): Promise<unknown> {
  const req = new IncomingMessage(new Socket())
  req.method = replay.method
  req.url = replay.url
  for (const [name, value] of Object.entries(replay.headers)) {
    if (value !== undefined) req.headers[name] = typeof value === 'string' ? value : [...value].join(', ')
  }
  req.push(null)
  const res = new ServerResponse(req)
  return new Promise((resolve, reject) => {
    const handle = (app as unknown as { handle(q: unknown, r: unknown, done: (e?: unknown) => void): void })
      .handle
    handle.call(app, req, res, (error?: unknown) =>
      error === undefined ? resolve(undefined) : reject(error),
    )
    res.once('finish', () => resolve(undefined))
  })
}
