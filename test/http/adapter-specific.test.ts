/**
 * What only one framework has: Express sub-apps (background revalidation is dispatched from the
 * root app with the full URL) and Express's own ETag / 304; Fastify's route-declaration-time
 * validation of `config.httpCache`, and its hits, which must not get the Content-Type Fastify gives
 * a body that has none.
 */
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { serve } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { httpCache } from '../../dist/http/express.js'
import { fastifyHttpCache } from '../../dist/http/fastify.js'
import { httpCache as honoHttpCache } from '../../dist/http/hono.js'
import { createCache } from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'
import { type Deferred, deferred } from '../helpers/deferred.js'
import { AS_SENT } from './harness.js'

/**
 * Two visits to `${base}/page`, whose session cookie is set after the HTTP layer chose its
 * headers: a MISS then a HIT, each with its own cookie and sent private, without tag headers — no
 * shared cache (a CDN) may keep it: it would hand this visitor's session to everyone.
 */
async function expectLateCookiePrivate(base: string, body: string): Promise<void> {
  for (const [n, xCache] of [
    [1, 'MISS'],
    [2, 'HIT'],
  ] as const) {
    const response = await fetch(`${base}/page`)
    expect(await response.text()).toBe(body)
    expect(response.headers.get('x-cache')).toBe(xCache)
    expect(response.headers.get('set-cookie')).toBe(`sid=${n}; HttpOnly`)
    expect(response.headers.get('cache-control')).toBe('private, max-age=60')
    expect(response.headers.get('surrogate-key')).toBeNull()
    expect(response.headers.get('cache-tag')).toBeNull()
  }
}

/**
 * Two downloads of `${base}/download`, a 1,503-byte body whose last 3 bytes the route produces
 * only once `arm`'s gate is released — after the client has the start: each a MISS streamed
 * through without an ETag (with `contentType` when given), never stored.
 */
async function expectStreamedThrough(
  base: string,
  arm: (gate: Deferred<void>) => void,
  contentType?: string,
): Promise<void> {
  for (let round = 0; round < 2; round++) {
    const gate = deferred()
    arm(gate)
    const response = await fetch(`${base}/download`)
    expect(response.status).toBe(200)
    expect(response.headers.get('x-cache')).toBe('MISS')
    expect(response.headers.get('etag')).toBeNull()
    if (contentType !== undefined) expect(response.headers.get('content-type')).toBe(contentType)
    gate.resolve()
    const body = Buffer.from(await response.arrayBuffer())
    expect(body.byteLength).toBe(1503)
    expect(body.subarray(1500).toString()).toBe('end')
  }
}

describe('Express', () => {
  it('revalidates a route of a mounted sub-app in the background through the root app', async () => {
    const clock = manualClock()
    const cache = createCache({ namespace: 'express-sub', jitter: 0, clock })
    const http = httpCache({ cache, clock })
    let version = 1
    const api = express()
    api.get('/news', http.route({ maxAge: '10s', staleWhileRevalidate: '1m' }), (_req, res) => {
      res.send(`news v${version}`)
    })
    const app = express()
    app.use('/api', api)
    const server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      expect(await (await fetch(`${base}/api/news`)).text()).toBe('news v1')
      version = 2
      clock.advance(20_000)
      const revalidated = new Promise((resolve) => http.on('revalidated', resolve))
      const stale = await fetch(`${base}/api/news`)
      expect(stale.headers.get('x-cache')).toBe('STALE')
      expect(await stale.text()).toBe('news v1')
      expect(await revalidated).toMatchObject({ ok: true })
      expect(await (await fetch(`${base}/api/news`)).text()).toBe('news v2')
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await cache.close()
    }
  })

  it('a Set-Cookie a session middleware adds as the headers are written (on-headers, as express-session does) turns the response private for CDNs', async () => {
    const cache = createCache({ namespace: 'express-late-cookie', jitter: 0 })
    const http = httpCache({ cache })
    const app = express()
    app.set('etag', false)
    let sessions = 0
    // What on-headers does for express-session and cookie-session: the cookie is set by a wrapper
    // of writeHead, after the route (and the HTTP layer) has finished.
    app.use((req, res, next) => {
      const writeHead = res.writeHead
      res.writeHead = function (this: typeof res, ...args: unknown[]) {
        if (req.headers.cookie === undefined) res.setHeader('set-cookie', `sid=${++sessions}; HttpOnly`)
        return (writeHead as (...a: unknown[]) => typeof res).apply(this, args)
      } as typeof res.writeHead
      next()
    })
    app.get('/page', http.route({ maxAge: '60s', sMaxAge: '5m', tags: ['page'] }), (_req, res) => {
      res.send('a public page')
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      await expectLateCookiePrivate(base, 'a public page')
      // Without a cookie to set, the stored page is public as ever.
      const withSession = await fetch(`${base}/page`, { headers: { cookie: 'sid=1' } })
      expect(withSession.headers.get('set-cookie')).toBeNull()
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await cache.close()
    }
  })

  it('streams a body past maxBodyBytes through instead of buffering it whole, and does not store it', async () => {
    const cache = createCache({ namespace: 'express-stream', jitter: 0 })
    const http = httpCache({ cache, maxBodyBytes: 1000 })
    const app = express()
    app.set('etag', false)
    let rest = deferred()
    app.get('/download', http.route({ maxAge: '60s' }), (_req, res) => {
      const gate = rest
      // The end of the body is only produced once the client has the start (see the Fastify case).
      async function* body() {
        for (let i = 0; i < 3; i++) yield Buffer.alloc(500, 'a')
        await gate.promise
        yield Buffer.from('end')
      }
      res.type('application/octet-stream')
      Readable.from(body()).pipe(res)
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      await expectStreamedThrough(
        base,
        (next) => {
          rest = next
        },
        'application/octet-stream',
      )
      expect(http.stats().uncacheable['too-large']).toBe(2)
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await cache.close()
    }
  }, 10_000)

  it("keeps Express's own ETag when the app computes one, and still answers 304 itself", async () => {
    const cache = createCache({ namespace: 'express-etag', jitter: 0 })
    const http = httpCache({ cache })
    const app = express() // default: weak ETags from res.send
    app.get('/doc', http.route({ maxAge: '60s' }), (_req, res) => {
      res.send('document')
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const first = await fetch(`${base}/doc`)
      const etag = first.headers.get('etag') as string
      expect(etag).toMatch(/^W\//)
      const conditional = { ...AS_SENT, headers: { 'if-none-match': etag } }
      const miss = await fetch(`${base}/doc?x=1`, conditional)
      expect(miss.status).toBe(304) // the route ran (a miss); the core compared
      const hit = await fetch(`${base}/doc`, conditional)
      expect(hit.status).toBe(304)
      expect(hit.headers.get('x-cache')).toBe('HIT')
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await cache.close()
    }
  })
})

describe('Fastify', () => {
  it('refuses an invalid config.httpCache when the route is declared, with E_INVALID_OPTION', async () => {
    const cache = createCache({ namespace: 'fastify-bad' })
    const app = Fastify()
    await app.register(fastifyHttpCache, { cache })
    try {
      expect(() =>
        app.get('/bad', { config: { httpCache: { maxAge: 'soon' as '1s' } } }, async () => 'x'),
      ).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
    } finally {
      await app.close()
      await cache.close()
    }
  })

  it("a Set-Cookie a later plugin's onSend hook adds (as @fastify/cookie and @fastify/session do) turns the response private for CDNs", async () => {
    const cache = createCache({ namespace: 'fastify-late-cookie', jitter: 0 })
    const app = Fastify()
    await app.register(fastifyHttpCache, { cache })
    let sessions = 0
    // Registered after the HTTP layer: its onSend runs after the layer's, once the headers are chosen.
    app.addHook('onSend', async (request, reply, payload) => {
      if (request.headers.cookie === undefined) reply.header('set-cookie', `sid=${++sessions}; HttpOnly`)
      return payload
    })
    app.get(
      '/page',
      { config: { httpCache: { maxAge: '60s', sMaxAge: '5m', tags: ['page'] } } },
      async () => 'a page',
    )
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    try {
      await expectLateCookiePrivate(base, 'a page')
    } finally {
      await app.close()
      await cache.close()
    }
  })

  it('streams a body past maxBodyBytes through instead of buffering it whole, and does not store it', async () => {
    const cache = createCache({ namespace: 'fastify-stream', jitter: 0 })
    const app = Fastify()
    await app.register(fastifyHttpCache, { cache, maxBodyBytes: 1000 })
    let rest = deferred()
    app.get('/download', { config: { httpCache: { maxAge: '60s' } } }, async (_request, reply) => {
      const gate = rest
      // The end of the body is only produced once the client has the start: buffered whole, the
      // response would never begin (and a large one would sit in memory).
      async function* body() {
        for (let i = 0; i < 3; i++) yield Buffer.alloc(500, 'a')
        await gate.promise
        yield Buffer.from('end')
      }
      return reply.type('application/octet-stream').send(Readable.from(body()))
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    try {
      await expectStreamedThrough(base, (next) => {
        rest = next
      })
      expect(app.httpCache.stats().uncacheable['too-large']).toBe(2)
    } finally {
      await app.close()
      await cache.close()
    }
  }, 10_000)

  it('replays a stored response that had no Content-Type (a redirect, a stream) without one', async () => {
    const cache = createCache({ namespace: 'fastify-type', jitter: 0 })
    const app = Fastify()
    await app.register(fastifyHttpCache, { cache })
    const config = { httpCache: { maxAge: '60s' } } as const
    app.get('/moved', { config }, async (_request, reply) => reply.redirect('/elsewhere', 301))
    app.get('/stream', { config }, async (_request, reply) => reply.send(Readable.from([Buffer.from('abc')])))
    app.get('/typed', { config }, async (_request, reply) => reply.type('text/csv').send('a,b'))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    const headersOf = async (path: string, method = 'GET') => {
      const response = await fetch(base + path, { method, redirect: 'manual' })
      await response.arrayBuffer()
      return { cache: response.headers.get('x-cache'), type: response.headers.get('content-type') }
    }
    try {
      for (const path of ['/moved', '/stream']) {
        expect(await headersOf(path)).toEqual({ cache: 'MISS', type: null })
        expect(await headersOf(path)).toEqual({ cache: 'HIT', type: null })
        expect(await headersOf(path, 'HEAD')).toEqual({ cache: 'HIT', type: null })
      }
      expect(await headersOf('/typed')).toEqual({ cache: 'MISS', type: 'text/csv' })
      expect(await headersOf('/typed')).toEqual({ cache: 'HIT', type: 'text/csv' })
    } finally {
      await app.close()
      await cache.close()
    }
  })
})

describe('Hono', () => {
  it('streams a body past maxBodyBytes through instead of buffering it whole, and does not store it', async () => {
    const cache = createCache({ namespace: 'hono-stream', jitter: 0 })
    const app = new Hono()
    const http = honoHttpCache({ cache, app, maxBodyBytes: 1000 })
    let rest = deferred()
    app.get('/download', http.route({ maxAge: '60s' }), () => {
      const gate = rest
      let sent = 0
      // The end of the body is only produced once the client has the start (see the Fastify case).
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (sent < 3) {
            sent++
            controller.enqueue(new Uint8Array(500).fill(97))
            return
          }
          await gate.promise
          controller.enqueue(new TextEncoder().encode('end'))
          controller.close()
        },
      })
      return new Response(body, { headers: { 'content-type': 'application/octet-stream' } })
    })
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise<void>((resolve) => {
      if (server.listening) resolve()
      else server.once('listening', () => resolve())
    })
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      await expectStreamedThrough(base, (next) => {
        rest = next
      })
      expect(http.stats().uncacheable['too-large']).toBe(2)
    } finally {
      ;(server as unknown as { closeAllConnections(): void }).closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await cache.close()
    }
  }, 10_000)
})
