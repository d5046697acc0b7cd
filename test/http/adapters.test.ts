/**
 * The shared suite: every behaviour of the HTTP layer, run against Express 5, Fastify 5 and Hono
 * through real HTTP (fetch against a listening server). Time is a manual clock shared by the
 * cache and the HTTP layer, so expiry never waits; background work is awaited through events.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'
import { deferred } from '../helpers/deferred.js'
import {
  ADAPTERS,
  type AdapterName,
  AS_SENT,
  nextEvent,
  type RouteSpec,
  type RunningApp,
  startApp,
} from './harness.js'

const open: { app: RunningApp; cache: Cache }[] = []
afterEach(async () => {
  for (const { app, cache } of open.splice(0)) {
    await app.close()
    await cache.close()
  }
})

describe.each(ADAPTERS)('%s adapter', (adapter: AdapterName) => {
  const clock = manualClock()
  async function start(routes: RouteSpec[], extra: { purge?: (tags: readonly string[]) => unknown } = {}) {
    const cache = createCache({ namespace: 'httptest', jitter: 0, clock })
    const app = await startApp(adapter, routes, { cache, clock, ...extra })
    open.push({ app, cache })
    return app
  }
  const get = (app: RunningApp, path: string, headers: Record<string, string> = {}) =>
    fetch(app.url + path, { ...AS_SENT, headers })

  /** A product route whose origin counts its calls and whose body carries the call number. */
  function productRoute(extra: Partial<RouteSpec> = {}) {
    const calls = { n: 0 }
    const route: RouteSpec = {
      path: '/products/:id',
      policy: { maxAge: '60s', sMaxAge: '5m', tags: (p) => [`product:${p.id}`] },
      handler: ({ params }) => {
        calls.n++
        return { body: `product ${params.id} v${calls.n}` }
      },
      ...extra,
    }
    return { route, calls }
  }

  describe('headers and validators', () => {
    it('emits the policy as Cache-Control, a strong ETag, tag headers and X-Cache: MISS, then HIT with Age', async () => {
      const { route, calls } = productRoute()
      const app = await start([route])
      const first = await get(app, '/products/42')
      expect(first.status).toBe(200)
      expect(first.headers.get('cache-control')).toBe('max-age=60, s-maxage=300')
      expect(first.headers.get('etag')).toMatch(/^"[0-9a-f]+-[A-Za-z0-9_-]+"$/)
      expect(first.headers.get('surrogate-key')).toBe('product:42')
      expect(first.headers.get('cache-tag')).toBe('product:42')
      expect(first.headers.get('x-cache')).toBe('MISS')
      expect(await first.text()).toBe('product 42 v1')

      clock.advance(7_000)
      const second = await get(app, '/products/42')
      expect(second.headers.get('x-cache')).toBe('HIT')
      expect(second.headers.get('age')).toBe('7')
      expect(second.headers.get('etag')).toBe(first.headers.get('etag'))
      expect(second.headers.get('content-type')).toMatch(/text\/html/)
      expect(await second.text()).toBe('product 42 v1')
      expect(calls.n).toBe(1)
    })

    it('answers If-None-Match with 304 and the validators, from the cache and on a miss', async () => {
      const { route } = productRoute()
      const app = await start([route])
      const first = await get(app, '/products/1')
      const etag = first.headers.get('etag') as string
      const cached = await get(app, '/products/1', { 'if-none-match': `"other", ${etag}` })
      expect(cached.status).toBe(304)
      expect(cached.headers.get('etag')).toBe(etag)
      expect(cached.headers.get('cache-control')).toBe('max-age=60, s-maxage=300')
      expect(await cached.text()).toBe('')
      // A weak validator matches under the weak comparison If-None-Match uses.
      const weak = await get(app, '/products/1', { 'if-none-match': `W/${etag}` })
      expect(weak.status).toBe(304)
      // On a miss (other id, same body shape) the route runs and the fresh response is compared.
      const missEtag = (await get(app, '/products/2')).headers.get('etag') as string
      await app.http.purgeUrl('/products/2')
      const miss = await get(app, '/products/2', { 'if-none-match': missEtag })
      expect(miss.status).toBe(200) // v2: the body changed, so the tag did too
      const stale = await get(app, '/products/1', { 'if-none-match': '"nope"' })
      expect(stale.status).toBe(200)
    })

    it('keeps what the route set for the client (Set-Cookie, CORS) on a 304, and leaves out the representation metadata', async () => {
      const app = await start([
        {
          path: '/session',
          policy: { maxAge: '60s' },
          handler: () => ({
            headers: {
              'set-cookie': 'csrf=tok123; Path=/',
              'access-control-allow-origin': 'https://app.example',
            },
            body: 'page',
          }),
        },
        {
          path: '/shared',
          policy: { maxAge: '60s' },
          handler: () => ({ headers: { 'access-control-allow-origin': '*' }, body: 'shared' }),
        },
      ])
      // Set-Cookie: never stored, so the route runs and its own 304 keeps the cookie.
      const first = await get(app, '/session')
      const etag = first.headers.get('etag') as string
      const origin304 = await get(app, '/session', { 'if-none-match': etag })
      expect(origin304.status).toBe(304)
      expect(origin304.headers.get('set-cookie')).toBe('csrf=tok123; Path=/')
      expect(origin304.headers.get('access-control-allow-origin')).toBe('https://app.example')
      expect(origin304.headers.get('content-type')).toBeNull()
      // From the cache: a browser checks CORS on the 304 as well.
      const shared = await get(app, '/shared')
      const cached304 = await get(app, '/shared', { 'if-none-match': shared.headers.get('etag') as string })
      expect(cached304.status).toBe(304)
      expect(cached304.headers.get('x-cache')).toBe('HIT')
      expect(cached304.headers.get('access-control-allow-origin')).toBe('*')
      expect(cached304.headers.get('etag')).toBe(shared.headers.get('etag'))
      expect(cached304.headers.get('content-type')).toBeNull()
    })

    it('answers a conditional HEAD with 304, from the cache and when the route runs, never with a Content-Length of 0', async () => {
      const lastModified = 'Sun, 06 Nov 1994 08:49:37 GMT'
      const app = await start([
        {
          path: '/h',
          policy: { maxAge: '60s' },
          handler: () => ({ headers: { 'last-modified': lastModified }, body: 'hello' }),
        },
      ])
      const head = (headers: Record<string, string>) =>
        fetch(`${app.url}/h`, { ...AS_SENT, method: 'HEAD', headers })
      const etag = (await get(app, '/h')).headers.get('etag') as string
      const cached = await head({ 'if-none-match': etag })
      expect(cached.status).toBe(304)
      expect(cached.headers.get('x-cache')).toBe('HIT')
      expect([null, '5']).toContain(cached.headers.get('content-length'))
      // The route runs (nothing stored): it carries the GET's ETag, so either validator matches.
      await app.http.purgeUrl('/h')
      const byDate = await head({ 'if-modified-since': lastModified })
      expect(byDate.status).toBe(304)
      expect([null, '5']).toContain(byDate.headers.get('content-length'))
      const byTag = await head({ 'if-none-match': etag })
      expect(byTag.status).toBe(304)
    })

    it('gives a HEAD that runs the route the validators a GET gets (ETag, Last-Modified)', async () => {
      const lastModified = 'Sun, 06 Nov 1994 08:49:37 GMT'
      const app = await start([
        {
          path: '/doc',
          policy: { maxAge: '60s' },
          handler: () => ({ headers: { 'last-modified': lastModified }, body: 'the document' }),
        },
      ])
      const head = await fetch(`${app.url}/doc`, { method: 'HEAD' })
      expect(head.headers.get('x-cache')).toBe('MISS') // HEAD stores nothing: the GET below runs too
      const got = await get(app, '/doc')
      expect(got.headers.get('x-cache')).toBe('MISS')
      expect(got.headers.get('etag')).toMatch(/^"/)
      expect(head.headers.get('etag')).toBe(got.headers.get('etag'))
      expect(head.headers.get('last-modified')).toBe(lastModified)
    })

    it('gives a HEAD that runs the route the Content-Length a GET gets (RFC 9110 §8.6)', async () => {
      const app = await start([
        { path: '/doc', policy: { maxAge: '60s' }, handler: () => ({ body: 'the document' }) },
      ])
      const head = await fetch(`${app.url}/doc`, { method: 'HEAD' })
      expect(head.headers.get('x-cache')).toBe('MISS')
      expect(head.headers.get('content-length')).toBe(String('the document'.length))
      expect(await head.text()).toBe('')
    })

    it('answers If-Modified-Since with 304 when the handler sets Last-Modified no later than it', async () => {
      const app = await start([
        {
          path: '/doc',
          policy: { maxAge: '60s', etag: false },
          handler: () => ({ headers: { 'last-modified': 'Tue, 01 Oct 2024 10:00:00 GMT' }, body: 'doc' }),
        },
      ])
      const same = await get(app, '/doc', { 'if-modified-since': 'Tue, 01 Oct 2024 10:00:00 GMT' })
      expect(same.status).toBe(304)
      expect(same.headers.get('last-modified')).toBe('Tue, 01 Oct 2024 10:00:00 GMT')
      const older = await get(app, '/doc', { 'if-modified-since': 'Mon, 30 Sep 2024 10:00:00 GMT' })
      expect(older.status).toBe(200)
      expect(await older.text()).toBe('doc')
    })

    it('serves HEAD from the stored GET response, without a body', async () => {
      const { route, calls } = productRoute()
      const app = await start([route])
      await (await get(app, '/products/5')).text()
      const head = await fetch(`${app.url}/products/5`, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.get('x-cache')).toBe('HIT')
      expect(head.headers.get('content-length')).toBe(String('product 5 v1'.length))
      expect(await head.text()).toBe('')
      expect(calls.n).toBe(1)
    })

    it('sends private, s-maxage-free Cache-Control and stores nothing for a private route', async () => {
      const { route, calls } = productRoute({ policy: { maxAge: '60s', private: true } })
      const app = await start([route])
      const first = await get(app, '/products/9')
      expect(first.headers.get('cache-control')).toBe('private, max-age=60')
      expect(first.headers.get('surrogate-key')).toBeNull()
      await get(app, '/products/9')
      expect(calls.n).toBe(2)
    })

    it('keeps a Cache-Control the handler set itself, and stores nothing when it says no-store', async () => {
      const { route, calls } = productRoute({
        handler: () => {
          calls.n++
          return { headers: { 'cache-control': 'no-store' }, body: 'secret' }
        },
      })
      const app = await start([route])
      const first = await get(app, '/products/1')
      expect(first.headers.get('cache-control')).toBe('no-store')
      await get(app, '/products/1')
      expect(calls.n).toBe(2)
      expect(app.http.stats().uncacheable['no-store']).toBe(2)
    })

    it('never applies the policy to a 500, and does not store it', async () => {
      let fail = true
      const app = await start([
        {
          path: '/flaky',
          policy: { maxAge: '60s' },
          handler: () => {
            if (fail) throw new Error('down')
            return { body: 'ok' }
          },
        },
      ])
      const error = await get(app, '/flaky')
      expect(error.status).toBe(500)
      expect(error.headers.get('cache-control')).toBeNull()
      fail = false
      const ok = await get(app, '/flaky')
      expect(ok.status).toBe(200)
      expect(await ok.text()).toBe('ok')
    })

    it('passes other methods through untouched', async () => {
      let posts = 0
      const app = await start([
        {
          path: '/orders',
          method: 'POST',
          policy: { maxAge: '60s' },
          handler: () => ({ status: 201, body: `order ${++posts}` }),
        },
      ])
      expect(await (await fetch(`${app.url}/orders`, { method: 'POST' })).text()).toBe('order 1')
      const second = await fetch(`${app.url}/orders`, { method: 'POST' })
      expect(await second.text()).toBe('order 2')
      expect(second.headers.get('x-cache')).toBe('BYPASS')
    })
  })

  describe('keys', () => {
    it('keys the headers the route varies on, and sends Vary', async () => {
      const app = await start([
        {
          path: '/hello',
          policy: { maxAge: '60s', vary: ['Accept-Language'] },
          handler: ({ headers }) => ({ body: headers['accept-language'] === 'fr' ? 'bonjour' : 'hello' }),
        },
      ])
      const fr = await get(app, '/hello', { 'accept-language': 'fr' })
      expect(fr.headers.get('vary')).toMatch(/accept-language/i)
      expect(await fr.text()).toBe('bonjour')
      expect(await (await get(app, '/hello', { 'accept-language': 'en' })).text()).toBe('hello')
      const again = await get(app, '/hello', { 'accept-language': 'fr' })
      expect(again.headers.get('x-cache')).toBe('HIT')
      expect(await again.text()).toBe('bonjour')
    })

    it('shares one entry between query strings that differ only in parameter order', async () => {
      let calls = 0
      const app = await start([
        { path: '/search', policy: { maxAge: '60s' }, handler: () => ({ body: `results ${++calls}` }) },
      ])
      await (await get(app, '/search?q=shoes&page=2')).text()
      const swapped = await get(app, '/search?page=2&q=shoes')
      expect(swapped.headers.get('x-cache')).toBe('HIT')
      expect(calls).toBe(1)
      await (await get(app, '/search?page=3&q=shoes')).text()
      expect(calls).toBe(2)
    })

    it('runs the origin once for 20 concurrent identical requests, and all get its response', async () => {
      const gate = deferred()
      let calls = 0
      const app = await start([
        {
          path: '/slow',
          policy: { maxAge: '60s' },
          handler: async () => {
            calls++
            await gate.promise
            return { body: 'computed once' }
          },
        },
      ])
      const responses = Array.from({ length: 20 }, () => get(app, '/slow'))
      // Release the origin once the leader is inside it (the others are queued behind it).
      while (calls === 0) await new Promise((r) => setImmediate(r))
      gate.resolve()
      const all = await Promise.all(responses)
      expect(calls).toBe(1)
      expect(await Promise.all(all.map((r) => r.text()))).toEqual(Array(20).fill('computed once'))
      const outcomes = all.map((r) => r.headers.get('x-cache'))
      expect(outcomes.filter((o) => o === 'MISS')).toHaveLength(1)
    })
  })

  describe('tags and purge', () => {
    it('invalidateTags drops the stored pages carrying the tag and calls the purge hook with it', async () => {
      const purged: string[][] = []
      const { route, calls } = productRoute()
      const app = await start([route], { purge: (tags) => void purged.push([...tags]) })
      await (await get(app, '/products/7')).text()
      await (await get(app, '/products/8')).text()
      await app.http.invalidateTags(['product:7'])
      expect(purged).toEqual([['product:7']])
      const after = await get(app, '/products/7')
      expect(after.headers.get('x-cache')).toBe('MISS')
      expect(await after.text()).toBe('product 7 v3')
      expect((await get(app, '/products/8')).headers.get('x-cache')).toBe('HIT')
      expect(calls.n).toBe(3)
    })

    it('adds the tags a handler attaches at run time (a category page lists products)', async () => {
      const app = await start([
        {
          path: '/categories/:id',
          policy: { maxAge: '60s', tags: (p) => [`category:${p.id}`] },
          handler: ({ params, tag }) => {
            tag('product:1', 'product:2')
            return { body: `category ${params.id}` }
          },
        },
      ])
      const page = await get(app, '/categories/3')
      expect(page.headers.get('surrogate-key')).toBe('category:3 product:1 product:2')
      expect(page.headers.get('cache-tag')).toBe('category:3,product:1,product:2')
      await app.http.invalidateTags(['product:2'])
      expect((await get(app, '/categories/3')).headers.get('x-cache')).toBe('MISS')
    })

    it('stores a page with a very long path (its URL tag is hashed), and purgeUrl still reaches it', async () => {
      const path = `/pages/${'x'.repeat(1100)}`
      const app = await start([{ path, policy: { maxAge: '60s' }, handler: () => ({ body: 'a page' }) }])
      await (await get(app, path)).text()
      expect((await get(app, path)).headers.get('x-cache')).toBe('HIT')
      await app.http.purgeUrl(path)
      expect((await get(app, path)).headers.get('x-cache')).toBe('MISS')
      expect(app.http.stats().cacheErrors).toBe(0)
    })

    it('purgeUrl reaches the entry a request for the URL hits, however the URL is written: unencoded, escapes in lower case, a full URL', async () => {
      const { route } = productRoute()
      const app = await start([route])
      // A client sends /products/caf%C3%A9 and /products/a%20b (fetch encodes as browsers do).
      const hitAfter = async (path: string, purge: string) => {
        await (await get(app, path)).text()
        expect((await get(app, path)).headers.get('x-cache')).toBe('HIT')
        await app.http.purgeUrl(purge)
        const outcome = (await get(app, path)).headers.get('x-cache')
        clock.advance(1_000) // what the next route call produces comes after the purge: stored
        return outcome
      }
      expect(await hitAfter('/products/café', '/products/café')).toBe('MISS')
      expect(await hitAfter('/products/café', '/products/caf%c3%a9')).toBe('MISS')
      expect(await hitAfter('/products/a b', '/products/a b')).toBe('MISS')
      expect(await hitAfter('/products/42', 'https://shop.example/products/42?page=2')).toBe('MISS')
    })

    it('purgeUrl leaves the entries of other spellings of a path that requests keep apart (trailing slash, letter case)', async () => {
      const { route } = productRoute()
      const app = await start([route])
      await (await get(app, '/products/42')).text()
      await app.http.purgeUrl('/products/42/')
      await app.http.purgeUrl('/Products/42')
      expect((await get(app, '/products/42')).headers.get('x-cache')).toBe('HIT')
      if (adapter === 'express') {
        // Express routes both to /products/:id (non-strict, case-insensitive): each is an entry of its own.
        await (await get(app, '/Products/42/')).text()
        await app.http.purgeUrl('/products/42')
        expect((await get(app, '/Products/42/')).headers.get('x-cache')).toBe('HIT')
        await app.http.purgeUrl('/Products/42/')
        expect((await get(app, '/Products/42/')).headers.get('x-cache')).toBe('MISS')
      }
    })

    it('sends but does not store a page over the tag limit, and counts it as uncacheable', async () => {
      const app = await start([
        {
          path: '/categories/:id',
          policy: { maxAge: '60s' },
          // 100 of its own and the URL tag: over maxTags (100).
          handler: ({ tag }) => {
            tag(...Array.from({ length: 100 }, (_, i) => `product:${i}`))
            return { body: 'a long listing' }
          },
        },
      ])
      const errors: unknown[] = []
      app.http.on('cache-error', (event) => void errors.push(event))
      expect(await (await get(app, '/categories/1')).text()).toBe('a long listing')
      expect((await get(app, '/categories/1')).headers.get('x-cache')).toBe('MISS')
      expect(app.http.stats().uncacheable.tags).toBe(2)
      expect(errors).toHaveLength(2)
    })

    it('rejects with E_HTTP_PURGE when the purge hook fails, after invalidating locally', async () => {
      const { route } = productRoute()
      const app = await start([route], {
        purge: () => {
          throw new Error('CDN API down')
        },
      })
      await (await get(app, '/products/4')).text()
      await expect(app.http.invalidateTags(['product:4'])).rejects.toMatchObject({ code: 'E_HTTP_PURGE' })
      expect((await get(app, '/products/4')).headers.get('x-cache')).toBe('MISS')
      // Two calls at once with one array (a constant list): each learns of its own failed purge.
      const catalog = ['catalog']
      const both = await Promise.allSettled([
        app.http.invalidateTags(catalog),
        app.http.invalidateTags(catalog),
      ])
      expect(
        both.map((r) => (r.status === 'rejected' ? (r.reason as { code: string }).code : 'resolved')),
      ).toEqual(['E_HTTP_PURGE', 'E_HTTP_PURGE'])
    })
  })

  describe('stale-while-revalidate and stale-if-error, end to end', () => {
    it('serves the stale response with Age at once while one background request refreshes it', async () => {
      let version = 1
      let gate = deferred()
      let calls = 0
      const app = await start([
        {
          path: '/news',
          policy: { maxAge: '10s', staleWhileRevalidate: '60s' },
          handler: async () => {
            calls++
            await gate.promise
            return { body: `news v${version}` }
          },
        },
      ])
      gate.resolve()
      await (await get(app, '/news')).text()
      version = 2
      gate = deferred() // the origin is now slow: the refresh hangs until released
      clock.advance(15_000)
      const revalidated = nextEvent(app.http, 'revalidated')
      const stale = await get(app, '/news')
      expect(stale.headers.get('x-cache')).toBe('STALE')
      expect(stale.headers.get('age')).toBe('15')
      expect(await stale.text()).toBe('news v1')
      // A second stale read does not start a second refresh.
      expect(await (await get(app, '/news')).text()).toBe('news v1')
      gate.resolve()
      expect(await revalidated).toMatchObject({ ok: true, status: 200 })
      expect(calls).toBe(2)
      const fresh = await get(app, '/news')
      expect(fresh.headers.get('x-cache')).toBe('HIT')
      expect(fresh.headers.get('age')).toBe('0')
      expect(await fresh.text()).toBe('news v2')
    })

    it('keeps the stale response when the background refresh fails', async () => {
      let fail = false
      const app = await start([
        {
          path: '/news',
          policy: { maxAge: '10s', staleWhileRevalidate: '60s' },
          handler: () => {
            if (fail) throw new Error('origin down')
            return { body: 'news v1' }
          },
        },
      ])
      await (await get(app, '/news')).text()
      fail = true
      clock.advance(20_000)
      const revalidated = nextEvent(app.http, 'revalidated')
      expect(await (await get(app, '/news')).text()).toBe('news v1')
      expect(await revalidated).toMatchObject({ ok: false, status: 500 })
      const again = await get(app, '/news')
      expect(again.headers.get('x-cache')).toBe('STALE')
      expect(await again.text()).toBe('news v1')
    })

    it('serves the stored response when the origin fails within stale-if-error, and the error after it', async () => {
      let fail = false
      const app = await start([
        {
          path: '/prices',
          policy: { maxAge: '10s', staleIfError: '60s' },
          handler: () => {
            if (fail) throw new Error('database down')
            return { body: 'prices v1' }
          },
        },
      ])
      await (await get(app, '/prices')).text()
      fail = true
      clock.advance(30_000)
      const stale = await get(app, '/prices')
      expect(stale.status).toBe(200)
      expect(stale.headers.get('x-cache')).toBe('STALE-IF-ERROR')
      expect(stale.headers.get('age')).toBe('30')
      expect(await stale.text()).toBe('prices v1')
      clock.advance(45_000) // 75 s: past 10 s + 60 s
      const gone = await get(app, '/prices')
      expect(gone.status).toBe(500)
    })

    it('answers a fresh origin response within stale-if-error normally and stores it', async () => {
      let version = 1
      const app = await start([
        {
          path: '/prices',
          policy: { maxAge: '10s', staleIfError: '60s' },
          handler: () => ({ body: `prices v${version}` }),
        },
      ])
      await (await get(app, '/prices')).text()
      version = 2
      clock.advance(30_000)
      const refreshed = await get(app, '/prices')
      expect(refreshed.headers.get('x-cache')).toBe('MISS')
      expect(await refreshed.text()).toBe('prices v2')
      expect((await get(app, '/prices')).headers.get('x-cache')).toBe('HIT')
    })
  })
})
