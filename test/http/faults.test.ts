/**
 * Fault and bad-input cases of the HTTP layer (RFC 9110/9111 and the S-rows of reliability.md),
 * through real Express 5, Fastify 5 and Hono apps: per-user entries refreshed in the background,
 * unsafe methods invalidating the URL (RFC 9111 §4.4), and a tags function that returns
 * something other than strings.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'
import {
  ADAPTERS,
  type AdapterName,
  AS_SENT,
  ERROR_CODE_HEADER,
  nextEvent,
  type PlainPolicy,
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
  async function start(routes: RouteSpec[]) {
    const cache = createCache({ namespace: 'httpfaults', jitter: 0, clock })
    const app = await startApp(adapter, routes, { cache, clock })
    open.push({ app, cache })
    return app
  }
  const get = (app: RunningApp, path: string, headers: Record<string, string> = {}) =>
    fetch(app.url + path, { ...AS_SENT, headers })

  it("refreshes a user's stale per-user response in the background and keeps it under that user (stale-while-revalidate)", async () => {
    let version = 1
    const app = await start([
      {
        path: '/me',
        policy: {
          maxAge: '10s',
          staleWhileRevalidate: '60s',
          user: (headers) => headers.authorization?.replace('Bearer ', ''),
        },
        handler: ({ headers }) => ({ body: `${headers.authorization} v${version}` }),
      },
    ])
    const alice = { authorization: 'Bearer alice' }
    expect(await (await get(app, '/me', alice)).text()).toBe('Bearer alice v1')
    expect((await get(app, '/me', alice)).headers.get('x-cache')).toBe('HIT')
    version = 2
    clock.advance(15_000)
    const revalidated = nextEvent(app.http, 'revalidated')
    const stale = await get(app, '/me', alice)
    expect(stale.headers.get('x-cache')).toBe('STALE')
    expect(await stale.text()).toBe('Bearer alice v1')
    expect(await revalidated).toMatchObject({ ok: true, status: 200 })
    const fresh = await get(app, '/me', alice)
    expect(fresh.headers.get('x-cache')).toBe('HIT')
    expect(fresh.headers.get('cache-control')).toMatch(/^private/)
    expect(await fresh.text()).toBe('Bearer alice v2')
    // Still alice's alone.
    expect(await (await get(app, '/me', { authorization: 'Bearer bob' })).text()).toBe('Bearer bob v2')
  })

  it("refreshes the anonymous visitors' stale response of a per-user route in the background", async () => {
    let version = 1
    const app = await start([
      {
        path: '/home',
        policy: { maxAge: '10s', staleWhileRevalidate: '60s', user: (headers) => headers.authorization },
        handler: ({ headers }) => ({ body: `${headers.authorization ?? 'anonymous'} v${version}` }),
      },
    ])
    expect(await (await get(app, '/home')).text()).toBe('anonymous v1')
    version = 2
    clock.advance(15_000)
    const revalidated = nextEvent(app.http, 'revalidated')
    expect(await (await get(app, '/home')).text()).toBe('anonymous v1')
    expect(await revalidated).toMatchObject({ ok: true, status: 200 })
    const fresh = await get(app, '/home')
    expect(fresh.headers.get('x-cache')).toBe('HIT')
    expect(await fresh.text()).toBe('anonymous v2')
  })

  describe('unsafe methods invalidate the URL (RFC 9111 §4.4)', () => {
    function productRoutes(status: () => number) {
      let version = 1
      const policy: PlainPolicy = { maxAge: '60s', sMaxAge: '5m' }
      const routes: RouteSpec[] = [
        {
          path: '/products/:id',
          policy,
          handler: ({ params }) => ({ body: `product ${params.id} v${version}` }),
        },
        {
          path: '/products/:id',
          method: 'POST',
          policy,
          handler: () => {
            const code = status()
            if (code < 400) version++
            return { status: code, body: 'updated' }
          },
        },
      ]
      return routes
    }

    it('a POST answered 2xx drops the stored responses of its URL (every query string), so the next GET runs the route', async () => {
      const app = await start(productRoutes(() => 200))
      expect(await (await get(app, '/products/1')).text()).toBe('product 1 v1')
      expect(await (await get(app, '/products/1?view=full')).text()).toBe('product 1 v1')
      expect(await (await get(app, '/products/2')).text()).toBe('product 2 v1')
      const post = await fetch(`${app.url}/products/1`, { method: 'POST' })
      expect(post.status).toBe(200)
      expect(await post.text()).toBe('updated')
      const after = await get(app, '/products/1')
      expect(after.headers.get('x-cache')).toBe('MISS')
      expect(await after.text()).toBe('product 1 v2')
      expect(await (await get(app, '/products/1?view=full')).text()).toBe('product 1 v2')
      // Another URL keeps its entry.
      const other = await get(app, '/products/2')
      expect(other.headers.get('x-cache')).toBe('HIT')
      expect(await other.text()).toBe('product 2 v1')
    })

    it('a POST answered with an error status leaves the stored response in place', async () => {
      const app = await start(productRoutes(() => 409))
      expect(await (await get(app, '/products/1')).text()).toBe('product 1 v1')
      expect((await fetch(`${app.url}/products/1`, { method: 'POST' })).status).toBe(409)
      const after = await get(app, '/products/1')
      expect(after.headers.get('x-cache')).toBe('HIT')
      expect(await after.text()).toBe('product 1 v1')
    })
  })

  it('keys a credential header a per-user route varies on by its hash: the token never reaches the key (Redis, events, dashboards)', async () => {
    const app = await start([
      {
        path: '/me',
        policy: {
          maxAge: '60s',
          vary: ['authorization', 'cookie'],
          user: (headers) => (headers.authorization === undefined ? undefined : 'alice'),
        },
        handler: ({ headers }) => ({ body: `${headers.authorization} ${headers.cookie}` }),
      },
    ])
    const keys: string[] = []
    app.http.on('stored', (event) => keys.push(event.key))
    const first = { authorization: 'Bearer SECRET-TOKEN-1', cookie: 'sid=SECRET-SID' }
    const second = { authorization: 'Bearer SECRET-TOKEN-2', cookie: 'sid=SECRET-SID' }
    expect(await (await get(app, '/me', first)).text()).toBe('Bearer SECRET-TOKEN-1 sid=SECRET-SID')
    // Still keyed apart by value: another token of the same user is another entry.
    const other = await get(app, '/me', second)
    expect(other.headers.get('x-cache')).toBe('MISS')
    expect(await other.text()).toBe('Bearer SECRET-TOKEN-2 sid=SECRET-SID')
    const again = await get(app, '/me', first)
    expect(again.headers.get('x-cache')).toBe('HIT')
    expect(await again.text()).toBe('Bearer SECRET-TOKEN-1 sid=SECRET-SID')
    expect(keys).toHaveLength(2)
    for (const key of keys) expect(key).not.toMatch(/SECRET/)
  })

  it('refuses a tags function that returns anything but non-empty strings with E_INVALID_OPTION saying what to return, and stores nothing', async () => {
    const cases: [string, (params: Record<string, string>) => readonly string[]][] = [
      ['an undefined tag', (params) => [params.missing as string]],
      ['an empty tag', () => ['']],
      ['a number', () => [42 as unknown as string]],
      ['not an array', () => 'product:1' as unknown as readonly string[]],
    ]
    for (const [what, tags] of cases) {
      const app = await start([
        { path: '/p/:id', policy: { maxAge: '60s', tags }, handler: () => ({ body: 'x' }) },
      ])
      const stored: string[] = []
      app.http.on('stored', (event) => stored.push(event.key))
      const response = await get(app, '/p/1')
      expect(response.status, what).toBe(500)
      expect(response.headers.get(ERROR_CODE_HEADER), what).toBe('E_INVALID_OPTION')
      expect(stored, what).toEqual([])
    }
  })

  describe("the route's own Cache-Control and Expires", () => {
    async function versions(headers: Record<string, string | string[]>) {
      let n = 0
      const app = await start([
        { path: '/d', policy: { maxAge: '60s' }, handler: () => ({ headers, body: `v${++n}` }) },
      ])
      const first = await (await get(app, '/d')).text()
      clock.advance(10_000)
      const later = await get(app, '/d')
      return { first, later: await later.text(), xCache: later.headers.get('x-cache') }
    }

    it('a max-age given twice with different values is read as stale, in either order and as two fields (RFC 9111 §4.2.1)', async () => {
      for (const cc of [
        'max-age=0, max-age=3600',
        'max-age=3600, max-age=0',
        ['max-age=0', 'max-age=3600'],
      ]) {
        expect(await versions({ 'cache-control': cc }), String(cc)).toEqual({
          first: 'v1',
          later: 'v2',
          xCache: 'MISS',
        })
      }
    })

    it('the same max-age given twice is still that max-age', async () => {
      expect(await versions({ 'cache-control': 'max-age=3600, max-age=3600' })).toEqual({
        first: 'v1',
        later: 'v1',
        xCache: 'HIT',
      })
    })

    it("an Expires without a Date counts from the cache's injected clock, not the system clock", async () => {
      // The clock is in 2023: Expires one minute after it was in the system clock's past.
      const expires = new Date(clock() + 60_000).toUTCString()
      expect(await versions({ 'cache-control': 'public', expires })).toEqual({
        first: 'v1',
        later: 'v1',
        xCache: 'HIT',
      })
    })

    it('a comma inside a quoted value does not start a directive: a lifetime quoted there grants nothing (RFC 9110 §5.6.4)', async () => {
      for (const cc of [
        'max-age=0, ext="a, s-maxage=3600"',
        'max-age=0, ext="a\\", s-maxage=3600"',
        // Unterminated: what follows is read as malformed, a lifetime there as 0.
        'max-age=3600, ext="a, s-maxage=3600',
        'max-age=3600, ext="a, no-store',
        'max-age=3600, private="set-cookie, x-user"',
        'max-age=3600, no-cache="set-cookie, x-user"',
      ]) {
        expect(await versions({ 'cache-control': cc }), cc).toEqual({
          first: 'v1',
          later: 'v2',
          xCache: 'MISS',
        })
      }
    })

    it('an Expires that is not an HTTP-date is in the past (RFC 9111 §5.3): "2099" does not make the response fresh for decades', async () => {
      for (const expires of ['2099', 'Dec 2099', '0']) {
        expect(await versions({ 'cache-control': 'public', expires }), expires).toEqual({
          first: 'v1',
          later: 'v2',
          xCache: 'MISS',
        })
      }
    })
  })

  it("a stored response is dropped when the route's next answer for its key says not to keep it (no-store, private), not served on until it expires", async () => {
    for (const refusal of ['no-store', 'private, max-age=60']) {
      let version = 1
      let cacheControl: string | undefined
      const app = await start([
        {
          path: '/account',
          policy: { maxAge: '60s', staleIfError: '10m' },
          handler: () => ({
            headers: cacheControl === undefined ? {} : { 'cache-control': cacheControl },
            body: `page v${version++}`,
          }),
        },
      ])
      expect(await (await get(app, '/account')).text()).toBe('page v1')
      cacheControl = refusal
      // A reload (or, past freshness, any request) runs the route: its answer may not be kept...
      const reload = await get(app, '/account', { 'cache-control': 'no-cache' })
      expect(await reload.text(), refusal).toBe('page v2')
      // ...and the copy it replaces is not served in its place afterwards.
      const next = await get(app, '/account')
      expect(next.headers.get('x-cache'), refusal).toBe('MISS')
      expect(await next.text(), refusal).toBe('page v3')
    }
  })

  it('a stored response stays when the route answers a reload with 304 itself: that says the copy is current', async () => {
    let calls = 0
    const app = await start([
      {
        path: '/file',
        policy: { maxAge: '60s' },
        handler: ({ headers }) => {
          calls++
          // As a static-file route does: it answers a conditional request itself.
          if (headers['if-none-match'] !== undefined) return { status: 304, body: '' }
          return { headers: { etag: '"f1"' }, body: 'file v1' }
        },
      },
    ])
    expect(await (await get(app, '/file')).text()).toBe('file v1')
    const reload = await get(app, '/file', { 'cache-control': 'no-cache', 'if-none-match': '"f1"' })
    expect(reload.status).toBe(304)
    const next = await get(app, '/file')
    expect(next.headers.get('x-cache')).toBe('HIT')
    expect(await next.text()).toBe('file v1')
    expect(calls).toBe(2)
  })

  it('refuses a purgeUrl that is not a path or a full http(s) URL with E_INVALID_OPTION, and purges nothing ("" purged "/")', async () => {
    const app = await start([{ path: '/', policy: { maxAge: '60s' }, handler: () => ({ body: 'home' }) }])
    await (await get(app, '/')).text()
    for (const url of [
      '',
      'products/42',
      '?page=2',
      '//shop.example/',
      'mailto:x@shop.example',
      'http://[bad',
      42,
      undefined,
    ]) {
      await expect(app.http.purgeUrl(url as string), String(url)).rejects.toMatchObject({
        code: 'E_INVALID_OPTION',
        message: expect.stringMatching(
          /^purgeUrl\(url\): .*; pass a path like '\/products\/42' or a full URL like/,
        ),
      })
    }
    // An unparseable URL carries URL's own error as the cause.
    await expect(app.http.purgeUrl('http://[bad')).rejects.toHaveProperty('cause', expect.any(TypeError))
    expect((await get(app, '/')).headers.get('x-cache')).toBe('HIT')
    // A full URL, whatever its host, purges its path.
    await app.http.purgeUrl('https://elsewhere.example/')
    expect((await get(app, '/')).headers.get('x-cache')).toBe('MISS')
  })

  it('after a Range request answered 206, concurrent plain GETs share one route run again (no hit-for-pass)', async () => {
    let runs = 0
    let release = () => {}
    const gate = new Promise<void>((resolve) => {
      release = resolve
    })
    let entered = () => {}
    const leaderIn = new Promise<void>((resolve) => {
      entered = resolve
    })
    const cache = createCache({ namespace: 'httpfaults', jitter: 0, clock })
    // The HTTP layer reads the cache once per GET: the third read is the second plain GET's lookup.
    const read = cache.get.bind(cache)
    let reads = 0
    let thirdRead = () => {}
    const thirdReadDone = new Promise<void>((resolve) => {
      thirdRead = resolve
    })
    cache.get = ((...args: Parameters<typeof read>) => {
      const result = read(...args)
      if (++reads === 3) void result.finally(() => thirdRead())
      return result
    }) as typeof cache.get
    const app = await startApp(
      adapter,
      [
        {
          path: '/video',
          policy: { maxAge: '60s' },
          handler: async ({ headers }) => {
            if (headers.range !== undefined) {
              return { status: 206, headers: { 'content-range': 'bytes 0-3/10' }, body: 'vide' }
            }
            runs++
            entered()
            await gate
            return { body: 'video data' }
          },
        },
      ],
      { cache, clock },
    )
    open.push({ app, cache })
    const partial = await get(app, '/video', { range: 'bytes=0-3' })
    expect(partial.status).toBe(206)
    await partial.text()
    const first = get(app, '/video')
    await leaderIn
    const second = get(app, '/video')
    // The second GET has looked the key up and either waits for the first or runs the route itself.
    await thirdReadDone
    await new Promise((resolve) => setImmediate(resolve))
    release()
    const [a, b] = await Promise.all([first, second])
    expect([await a.text(), await b.text()]).toEqual(['video data', 'video data'])
    expect(b.headers.get('x-cache')).toBe('COALESCED')
    expect(runs).toBe(1)
  })
})
