/**
 * Security of the shared response cache (reliability.md S11–S13), against all three adapters
 * through real HTTP: one user's response is never served to another, Set-Cookie is never
 * stored, unkeyed headers cannot poison an entry, and URLs that merely look static are not
 * cached as static.
 */
import { connect } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { ADAPTERS, type AdapterName, type RouteSpec, type RunningApp, startApp } from './harness.js'

const open: { app: RunningApp; cache: Cache }[] = []
afterEach(async () => {
  for (const { app, cache } of open.splice(0)) {
    await app.close()
    await cache.close()
  }
})

describe.each(ADAPTERS)('%s adapter', (adapter: AdapterName) => {
  async function start(routes: RouteSpec[]) {
    const cache = createCache({ namespace: 'httpsec', jitter: 0 })
    const app = await startApp(adapter, routes, { cache })
    open.push({ app, cache })
    return app
  }
  const get = async (app: RunningApp, path: string, headers: Record<string, string> = {}) => {
    const response = await fetch(app.url + path, { headers })
    return { response, body: await response.text() }
  }

  it('a tag built from the request (a NUL, CR LF, non-ASCII in the path) reaches Surrogate-Key and Cache-Tag percent-escaped: no 500, no injected header', async () => {
    const app = await start([
      {
        path: '/products/:id',
        policy: { maxAge: '60s', sMaxAge: '60s', tags: (params) => [`product:${params.id}`, 'catalog'] },
        handler: () => ({ body: 'a product' }),
      },
    ])
    const cases: [string, string][] = [
      ['/products/%00', 'product:%00'],
      ['/products/a%0D%0AX-Injected:%201', 'product:a%0D%0AX-Injected:%201'],
      ['/products/caf%C3%A9', 'product:caf%C3%A9'],
      ['/products/a%20b,c', 'product:a%20b%2Cc'],
    ]
    for (const [path, token] of cases) {
      const { response, body } = await get(app, path)
      expect(response.status, path).toBe(200)
      expect(body, path).toBe('a product')
      expect(response.headers.get('surrogate-key'), path).toBe(`${token} catalog`)
      expect(response.headers.get('cache-tag'), path).toBe(`${token},catalog`)
      expect(response.headers.get('x-injected'), path).toBeNull()
    }
  })

  /** A public, cacheable route whose body shows whoever the request authenticates (a misconfigured "personalised" page). */
  const whoami = (extraHeaders: Record<string, string> = {}): RouteSpec => ({
    path: '/me',
    policy: { maxAge: '60s', sMaxAge: '60s' },
    handler: ({ headers }) => ({
      headers: extraHeaders,
      body: `user=${headers.authorization ?? headers.cookie ?? 'anonymous'}`,
    }),
  })

  describe('S11: per-user responses and the shared cache', () => {
    it('never serves the response to a request with Authorization to another user', async () => {
      const app = await start([whoami()])
      const alice = await get(app, '/me', { authorization: 'Bearer alice' })
      expect(alice.body).toBe('user=Bearer alice')
      expect(alice.response.headers.get('x-cache')).toBe('BYPASS')
      // Nor may a CDN keep it: s-maxage would let one store an authorized response (RFC 9111 §3.5).
      expect(alice.response.headers.get('cache-control')).toBe('private, max-age=60')
      expect(alice.response.headers.get('surrogate-key')).toBeNull()
      const anonymous = await get(app, '/me')
      expect(anonymous.body).toBe('user=anonymous')
      const bob = await get(app, '/me', { authorization: 'Bearer bob' })
      expect(bob.body).toBe('user=Bearer bob')
    })

    it('does not store it even when the response says public, s-maxage (which RFC 9111 would allow)', async () => {
      const app = await start([whoami({ 'cache-control': 'public, s-maxage=600' })])
      await get(app, '/me', { authorization: 'Bearer alice' })
      expect((await get(app, '/me')).body).toBe('user=anonymous')
      expect((await get(app, '/me', { authorization: 'Bearer mallory' })).body).toBe('user=Bearer mallory')
    })

    it('never serves the response to a request with a Cookie to another user', async () => {
      const app = await start([whoami()])
      const alice = await get(app, '/me', { cookie: 'session=alice' })
      expect(alice.body).toBe('user=session=alice')
      expect(alice.response.headers.get('cache-control')).toBe('private, max-age=60')
      expect((await get(app, '/me')).body).toBe('user=anonymous')
      expect((await get(app, '/me', { cookie: 'session=bob' })).body).toBe('user=session=bob')
    })

    it('with the per-user opt-in, keys each user apart, marks responses private, and never crosses them', async () => {
      let calls = 0
      const app = await start([
        {
          path: '/me',
          policy: {
            maxAge: '60s',
            sMaxAge: '5m',
            user: (headers) => headers.authorization?.replace(/^Bearer /, ''),
          },
          handler: ({ headers }) => {
            calls++
            return { body: `user=${headers.authorization ?? 'anonymous'}` }
          },
        },
      ])
      const alice = await get(app, '/me', { authorization: 'Bearer alice' })
      expect(alice.response.headers.get('cache-control')).toBe('private, max-age=60')
      expect(alice.response.headers.get('surrogate-key')).toBeNull()
      const bob = await get(app, '/me', { authorization: 'Bearer bob' })
      expect(bob.body).toBe('user=Bearer bob')
      const aliceAgain = await get(app, '/me', { authorization: 'Bearer alice' })
      expect(aliceAgain.response.headers.get('x-cache')).toBe('HIT')
      expect(aliceAgain.body).toBe('user=Bearer alice')
      expect((await get(app, '/me')).body).toBe('user=anonymous')
      expect((await get(app, '/me', { authorization: 'Bearer bob' })).body).toBe('user=Bearer bob')
      expect(calls).toBe(3) // alice, bob, anonymous: one origin call each
      // No user id stands for the anonymous visitor: not even one that looks like a placeholder.
      for (const id of ['-', 'null', 'anonymous']) {
        expect((await get(app, '/me', { authorization: `Bearer ${id}` })).body).toBe(`user=Bearer ${id}`)
      }
      expect((await get(app, '/me')).body).toBe('user=anonymous')
    })

    it('never stores a Set-Cookie response, even a public one, so no client receives another one’s cookie', async () => {
      let n = 0
      const app = await start([
        {
          path: '/landing',
          policy: { maxAge: '60s' },
          handler: () => {
            n++
            return {
              headers: { 'set-cookie': `session=s${n}; HttpOnly`, 'cache-control': 'public, max-age=60' },
              body: 'welcome',
            }
          },
        },
      ])
      const first = await get(app, '/landing')
      expect(first.response.headers.get('set-cookie')).toBe('session=s1; HttpOnly')
      const second = await get(app, '/landing')
      expect(second.response.headers.get('set-cookie')).toBe('session=s2; HttpOnly')
      expect(second.response.headers.get('x-cache')).toBe('MISS')
      expect(app.http.stats().uncacheable['set-cookie']).toBe(2)
    })

    it('tells shared caches (a CDN) not to store a Set-Cookie response the route gave no Cache-Control', async () => {
      const app = await start([
        {
          path: '/welcome',
          policy: { maxAge: '60s', sMaxAge: '5m', tags: ['pages'] },
          handler: () => ({ headers: { 'set-cookie': 'session=abc; HttpOnly' }, body: 'welcome' }),
        },
      ])
      const { response } = await get(app, '/welcome')
      expect(response.headers.get('set-cookie')).toBe('session=abc; HttpOnly')
      expect(response.headers.get('cache-control')).toBe('private, max-age=60')
      expect(response.headers.get('surrogate-key')).toBeNull()
      expect(response.headers.get('cache-tag')).toBeNull()
    })

    it('does not store a response that varies on a header the route did not declare', async () => {
      let n = 0
      const app = await start([
        {
          path: '/tiered',
          policy: { maxAge: '60s' },
          handler: ({ headers }) => {
            n++
            return { headers: { vary: 'X-Tier' }, body: `tier=${headers['x-tier'] ?? 'free'}` }
          },
        },
      ])
      expect((await get(app, '/tiered', { 'x-tier': 'gold' })).body).toBe('tier=gold')
      expect((await get(app, '/tiered')).body).toBe('tier=free')
      expect(n).toBe(2)
      expect(app.http.stats().uncacheable.vary).toBe(2)
    })
  })

  describe('S12: unkeyed headers cannot poison a stored response', () => {
    // The page reflects what a proxy-aware app would (absolute URLs, the path it thinks it serves).
    const page: RouteSpec = {
      path: '/home',
      policy: { maxAge: '60s', sMaxAge: '5m' },
      handler: ({ headers }) => ({
        body: [
          `<link href="https://${headers['x-forwarded-host'] ?? headers['x-host'] ?? headers.host}/app.css">`,
          `proto=${headers['x-forwarded-proto'] ?? 'http'}`,
          `forwarded=${headers.forwarded ?? '-'}`,
          `path=${headers['x-original-url'] ?? headers['x-rewrite-url'] ?? '/home'}`,
          `method=${headers['x-http-method-override'] ?? 'GET'}`,
        ].join('\n'),
      }),
    }
    const attacks: Record<string, string> = {
      'x-forwarded-host': 'evil.example',
      'x-host': 'evil.example',
      'x-forwarded-proto': 'evil',
      forwarded: 'host=evil.example',
      'x-original-url': '/evil',
      'x-rewrite-url': '/evil',
      'x-http-method-override': 'EVIL',
    }

    it.each(Object.entries(attacks))(
      'a request with %s: %s fills only its own entry',
      async (name, value) => {
        const app = await start([page])
        const poisoned = await get(app, '/home', { [name]: value })
        expect(poisoned.body).toMatch(/evil/i)
        const victim = await get(app, '/home')
        expect(victim.body).not.toMatch(/evil/i)
        // The attacker's own repeat may hit its entry; the victim's repeat hits the clean one.
        const victimAgain = await get(app, '/home')
        expect(victimAgain.response.headers.get('x-cache')).toBe('HIT')
        expect(victimAgain.body).not.toMatch(/evil/i)
      },
    )

    it('no parameter is left out of the key, so one hidden behind ";" (parameter cloaking) fills only its own entry', async () => {
      const app = await start([
        {
          path: '/page',
          policy: { maxAge: '60s' },
          // Some stacks split the query on ';' as well as '&' (the cloaking attack relies on it).
          handler: ({ url }) => {
            const query = url.split('?')[1] ?? ''
            const lang = query.split(/[;&]/).find((p) => p.startsWith('lang='))
            return { body: `lang=${lang?.slice(5) ?? 'en'}` }
          },
        },
      ])
      expect((await get(app, '/page?utm_content=x;lang=evil')).body).toBe('lang=evil')
      expect((await get(app, '/page?utm_content=x')).body).toBe('lang=en')
      expect((await get(app, '/page?utm_content=x')).response.headers.get('x-cache')).toBe('HIT')
    })

    it('a request line in absolute form naming another host fills only its own entry', async () => {
      let renders = 0
      const app = await start([
        { path: '/page', policy: { maxAge: '60s' }, handler: () => ({ body: `render ${++renders}` }) },
      ])
      const port = new URL(app.url).port
      // `GET http://evil.example/page` with `Host: 127.0.0.1:<port>`: a fetch-based app (Hono)
      // sees the origin http://evil.example, and may render links from it.
      const raw = await rawRequest(
        Number(port),
        `GET http://evil.example/page HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`,
      )
      expect(raw).toMatch(/^HTTP\/1\.1 200/)
      const victim = await get(app, '/page')
      expect(victim.response.headers.get('x-cache')).not.toBe('HIT')
      expect(victim.body).toBe('render 2')
      expect((await get(app, '/page')).response.headers.get('x-cache')).toBe('HIT')
    })

    it('a GET with a body (fat GET) is neither served from nor stored in the cache', async () => {
      let n = 0
      const app = await start([
        { path: '/fat', policy: { maxAge: '60s' }, handler: () => ({ body: `v${++n}` }) },
      ])
      await get(app, '/fat')
      const { request } = await import('node:http')
      const url = new URL(app.url)
      const fat = await new Promise<{ cache: unknown; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            path: '/fat',
            method: 'GET',
            headers: { 'content-type': 'application/json', 'content-length': '12' },
          },
          (res) => {
            let body = ''
            res.on('data', (c: Buffer) => {
              body += c
            })
            res.on('end', () => resolve({ cache: res.headers['x-cache'], body }))
          },
        )
        req.on('error', reject)
        req.end('{"q":"evil"}')
      })
      expect(fat).toEqual({ cache: 'BYPASS', body: 'v2' })
      const normal = await get(app, '/fat')
      expect(normal.response.headers.get('x-cache')).toBe('HIT')
      expect(normal.body).toBe('v1')
    })

    it('a forged revalidation header is an ordinary header: it neither bypasses nor refreshes the cache', async () => {
      let n = 0
      const app = await start([
        { path: '/x', policy: { maxAge: '60s' }, handler: () => ({ body: `v${++n}` }) },
      ])
      await get(app, '/x')
      const forged = await get(app, '/x', { 'x-stratacache-revalidate': 'guess' })
      expect(forged.response.headers.get('x-cache')).toBe('HIT')
      expect(forged.body).toBe('v1')
      expect(n).toBe(1)
    })
  })

  describe('S13: path confusion (web cache deception)', () => {
    /**
     * The account page is (wrongly) given a public caching policy, and a static route exists.
     * Whatever the URL looks like, the victim's page is never stored, so the attacker who
     * requests the same URL next gets their own (anonymous) page.
     */
    const routes: RouteSpec[] = [
      {
        path: '/static/:file',
        policy: { maxAge: '1h', sMaxAge: '1d' },
        handler: ({ params }) => ({ body: `static ${params.file}` }),
      },
      {
        path: '/account/:page',
        policy: { maxAge: '60s' },
        handler: ({ headers }) => ({
          body: headers.cookie === 'session=victim' ? 'SECRET victim@example.com' : 'please log in',
        }),
      },
      {
        path: '/account',
        policy: { maxAge: '60s' },
        handler: ({ headers }) => ({
          body: headers.cookie === 'session=victim' ? 'SECRET victim@example.com' : 'please log in',
        }),
      },
    ]
    const urls = [
      '/account/settings.css',
      '/account/settings.css?v=.css',
      '/account/x.js',
      '/account%2Fsettings.css',
      '/account;settings.css',
      '/static/..%2Faccount%2Fsettings.css',
    ]

    it.each(urls)('the victim’s %s is never served to the attacker', async (url) => {
      const app = await start(routes)
      const victim = await fetch(app.url + url, { headers: { cookie: 'session=victim' } })
      await victim.text()
      expect(['BYPASS', null]).toContain(victim.headers.get('x-cache'))
      const attacker = await get(app, url)
      expect(attacker.body).not.toMatch(/SECRET/)
    })

    it('a real static file on the static route is cached', async () => {
      const app = await start(routes)
      await get(app, '/static/app.css')
      const again = await get(app, '/static/app.css')
      expect(again.response.headers.get('x-cache')).toBe('HIT')
      expect(again.body).toBe('static app.css')
    })
  })
})

/** Sends `request` as is over a new connection; resolves to everything the server answered. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(request))
    const chunks: Buffer[] = []
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')))
    socket.on('error', reject)
  })
}
