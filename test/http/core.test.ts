/**
 * The framework-free pieces, without a server: policy validation and headers, URL normalization
 * and keys, entity-tag parsing, and the request flow of HttpCache (bypass rules, per-user keys,
 * coalescing, invalidation while in flight) driven directly through begin/finish.
 */
import { describe, expect, it } from 'vitest'
import {
  computeEtag,
  freshnessLifetime,
  HttpCache,
  type HttpRequest,
  normalizeUrl,
  parseCacheControl,
  parseEntityTags,
  requestKey,
  resolvePolicy,
  type Step,
} from '../../dist/http/index.js'
import { createCache, InvalidOptionError } from '../../dist/index.js'
import { deferred } from '../helpers/deferred.js'

describe('policy', () => {
  it('renders Cache-Control for shared and per-user responses', () => {
    const p = resolvePolicy({ maxAge: '1m', sMaxAge: '1h', staleWhileRevalidate: '30s', staleIfError: '1d' })
    expect(p.sharedCacheControl).toBe(
      'max-age=60, s-maxage=3600, stale-while-revalidate=30, stale-if-error=86400',
    )
    expect(p.privateCacheControl).toBe('private, max-age=60, stale-while-revalidate=30, stale-if-error=86400')
    expect(resolvePolicy({ noStore: true }).sharedCacheControl).toBe('no-store')
    expect(
      resolvePolicy({ maxAge: '1s', mustRevalidate: true, staleWhileRevalidate: '1m' }).sharedCacheControl,
    ).toBe('max-age=1, must-revalidate')
  })

  it('refuses invalid policies with E_INVALID_OPTION naming the option', () => {
    expect(() => resolvePolicy({ maxAge: -1 })).toThrow(/maxAge/)
    expect(() => resolvePolicy({ maxAge: Number.POSITIVE_INFINITY })).toThrow(/finite/)
    expect(() => resolvePolicy({ vary: ['*'] })).toThrow(InvalidOptionError)
    expect(() => resolvePolicy({ vary: ['bad header'] })).toThrow(/vary/)
    expect(() => resolvePolicy({ noStore: true, maxAge: '1m' })).toThrow(/noStore/)
    expect(() => resolvePolicy({ tags: [''] })).toThrow(/tags/)
    expect(() => resolvePolicy({ etag: 'medium' as 'weak' })).toThrow(/etag/)
  })
})

describe('keys', () => {
  it('normalizes percent-escape case and query order, and decodes nothing', () => {
    expect(normalizeUrl('/a%2fb?z=1&a=2&a=1')).toBe('/a%2Fb?a=2&a=1&z=1')
    expect(normalizeUrl('/account%2Fsettings.css')).not.toBe(normalizeUrl('/account/settings.css'))
    expect(normalizeUrl('/%41')).not.toBe(normalizeUrl('/A'))
    expect(normalizeUrl('/static/%2e%2e/x')).toBe('/static/%2E%2E/x')
    expect(normalizeUrl('/p?#frag')).toBe('/p')
    // A name a decoder reads as another keeps the order as sent: the app reads a=[1,2] and a=[2,1].
    expect(normalizeUrl('/q?a=1&%61=2')).not.toBe(normalizeUrl('/q?%61=2&a=1'))
    expect(normalizeUrl('/q?a+b=1&a%20b=2')).not.toBe(normalizeUrl('/q?a%20b=2&a+b=1'))
    expect(normalizeUrl('/q?z=1&%61=2')).toBe('/q?z=1&%61=2')
  })

  it('separates absent from empty Vary values, keys proxy headers when present, and cannot be forged', () => {
    const k = (headers: Record<string, string>, user?: string | null) =>
      requestKey(
        'http',
        'GET',
        '/p',
        { host: 'h', ...headers },
        ['accept-language'],
        ['x-forwarded-host'],
        user,
      )
    expect(k({})).not.toBe(k({ 'accept-language': '' }))
    expect(k({ 'x-forwarded-host': 'evil' })).not.toBe(k({}))
    expect(k({}, 'alice')).not.toBe(k({}, 'bob'))
    // An anonymous visitor (null) of a per-user route shares no entry with any user id.
    for (const id of ['-', 'anonymous', '', 'null', 'u=-']) expect(k({}, id)).not.toBe(k({}, null))
    expect(k({}, null)).not.toBe(k({}))
    expect(k({ 'accept-language': 'en:u=alice' })).not.toBe(k({ 'accept-language': 'en' }, 'alice'))
  })
})

describe('entity tags', () => {
  it('parses lists with weak tags, commas inside quotes and the wildcard', () => {
    expect(parseEntityTags('"a", W/"b",  "c,d"')).toEqual(['"a"', 'W/"b"', '"c,d"'])
    expect(parseEntityTags('*')).toEqual(['*'])
  })

  it('computes the same tag for the same bytes, and marks weak ones', () => {
    const body = Buffer.from('hello')
    expect(computeEtag(body, false)).toBe(computeEtag(Buffer.from('hello'), false))
    expect(computeEtag(body, true)).toBe(`W/${computeEtag(body, false)}`)
    expect(computeEtag(Buffer.from('hellp'), false)).not.toBe(computeEtag(body, false))
  })
})

describe('HttpCache request flow', () => {
  const make = () => {
    const cache = createCache({ namespace: 'httpcore', jitter: 0 })
    return { cache, http: new HttpCache({ cache }) }
  }
  const source = (request: Partial<HttpRequest> = {}) => ({
    request: { method: 'GET', url: '/p', headers: { host: 'h' }, ...request },
    context: {},
  })
  const ok = { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('body') }
  const origin = (step: Step) => {
    if (step.kind !== 'origin') throw new Error(`expected the origin, got ${step.response.outcome}`)
    return step.exchange
  }

  it('bypasses a GET with a body, and a request with credentials when the user function declines', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m', user: () => undefined })
    const fat = origin(
      await http.begin(resolvePolicy({ maxAge: '1m' }), source({ headers: { 'content-length': '5' } })),
    )
    expect((await fat.finish(ok)).outcome).toBe('bypass')
    const declined = origin(await http.begin(policy, source({ headers: { cookie: 'a=1' } })))
    expect((await declined.finish(ok)).outcome).toBe('bypass')
    expect(http.stats().stored).toBe(0)
    await cache.close()
  })

  it('never stores 401 or 403 (an authorization failure is not cached without its principal, S18)', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m' })
    for (const status of [401, 403]) {
      const exchange = origin(await http.begin(policy, source({ url: `/s${status}` })))
      const out = await exchange.finish({ ...ok, status })
      expect(out.headers['cache-control']).toBeUndefined()
    }
    expect(http.stats().uncacheable.status).toBe(2)
    await cache.close()
  })

  it('waiters of a response that turns out unstorable run the origin themselves (nothing personal is shared)', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m' })
    const leader = origin(await http.begin(policy, source()))
    const waiting = http.begin(policy, source())
    await leader.finish({ ...ok, headers: { 'set-cookie': 'session=leader' } })
    const waiter = origin(await waiting)
    const out = await waiter.finish(ok)
    expect(out.headers['set-cookie']).toBeUndefined()
    await cache.close()
  })

  it('releases the waiters of a response that turns out unstorable all at once, none behind another', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m' })
    const leader = origin(await http.begin(policy, source()))
    const began: number[] = []
    const waiters = [1, 2, 3].map((n) =>
      http.begin(policy, source()).then((step) => {
        began.push(n)
        return step
      }),
    )
    await new Promise((resolve) => setImmediate(resolve))
    expect(began).toEqual([]) // all three wait on the leader
    await leader.finish({ ...ok, headers: { 'set-cookie': 'session=leader' } })
    // Each runs the route, and none of them finished: they were not queued behind one another.
    const steps = await Promise.all(waiters)
    expect(steps.map((s) => s.kind)).toEqual(['origin', 'origin', 'origin'])
    await Promise.all(steps.map((s) => origin(s).finish(ok)))
    await cache.close()
  })

  it('once a response was not storable, identical requests run the route side by side, none waiting for another (hit-for-pass)', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m' })
    const cookie = { ...ok, headers: { 'set-cookie': 'session=x' } }
    await origin(await http.begin(policy, source())).finish(cookie)
    const first = origin(await http.begin(policy, source()))
    const order: string[] = []
    const second = http.begin(policy, source()).then((step) => {
      order.push('second began')
      return step
    })
    // Its lookup done, the second request either runs the route or waits for the first's response.
    await new Promise((resolve) => setImmediate(resolve))
    order.push('first finished')
    await first.finish(cookie)
    const step = await second
    expect(order).toEqual(['second began', 'first finished'])
    expect(step.kind).toBe('origin')
    // A storable response ends it: the next requests share one route call again.
    await origin(step).finish(ok)
    expect(http.stats().stored).toBe(1)
    const hit = await http.begin(policy, source())
    expect(hit.kind === 'respond' && hit.response.outcome).toBe('hit')
    await cache.close()
  })

  it("a 206, 304, 412 or 416 (one request's range or conditions) does not stop identical requests sharing one route call (no hit-for-pass)", async () => {
    for (const status of [206, 304, 412, 416]) {
      const { http, cache } = make()
      const policy = resolvePolicy({ maxAge: '1m' })
      await origin(await http.begin(policy, source())).finish({ ...ok, status })
      expect(http.stats().uncacheable.status, String(status)).toBe(1)
      const leader = origin(await http.begin(policy, source()))
      let waiterBegan = false
      const waiter = http.begin(policy, source()).then((step) => {
        waiterBegan = true
        return step
      })
      // Its lookup done, the second request waits for the leader's response rather than running the route.
      await new Promise((resolve) => setImmediate(resolve))
      expect(waiterBegan, String(status)).toBe(false)
      await leader.finish(ok)
      const step = await waiter
      expect(step.kind === 'respond' && step.response.outcome, String(status)).toBe('coalesced')
      await cache.close()
    }
  })

  it('a Range request does not lead: identical plain GETs arriving while its route runs do not wait for its 206', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m' })
    const ranged = origin(await http.begin(policy, source({ headers: { host: 'h', range: 'bytes=0-3' } })))
    let plainBegan = false
    const plain = http.begin(policy, source()).then((step) => {
      plainBegan = true
      return step
    })
    // Its lookup done, the plain GET runs the route rather than waiting for the ranged answer.
    await new Promise((resolve) => setImmediate(resolve))
    expect(plainBegan).toBe(true)
    await ranged.finish({ ...ok, status: 206, headers: { 'content-range': 'bytes 0-3/4' } })
    // The plain GET leads: the next identical one waits for it and gets its response.
    const leader = origin(await plain)
    const waiter = http.begin(policy, source())
    await leader.finish(ok)
    const step = await waiter
    expect(step.kind === 'respond' && step.response.outcome).toBe('coalesced')
    await cache.close()
  })

  it('refuses a request whose URL is empty or not a string with E_INVALID_OPTION (an empty one was read as "/")', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m' })
    for (const url of ['', undefined, 42]) {
      for (const method of ['GET', 'POST']) {
        await expect(
          http.begin(policy, source({ method, url: url as string })),
          `${method} ${String(url)}`,
        ).rejects.toMatchObject({
          code: 'E_INVALID_OPTION',
          message: /request\.url must be the request target/,
        })
      }
    }
    await cache.close()
  })

  it('does not store a response whose tag was invalidated while it was being produced', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m', tags: ['product:1'] })
    const exchange = origin(await http.begin(policy, source()))
    const gate = deferred()
    const produced = gate.promise.then(() => exchange.finish(ok))
    await http.invalidateTags(['product:1'])
    gate.resolve()
    await produced
    expect(http.stats().uncacheable.invalidated).toBe(1)
    expect(origin(await http.begin(policy, source()))).toBeDefined()
    await cache.close()
  })

  it('an abandoned exchange releases its waiters to the origin', async () => {
    const { http, cache } = make()
    const policy = resolvePolicy({ maxAge: '1m' })
    const leader = origin(await http.begin(policy, source()))
    const waiting = http.begin(policy, source())
    leader.abandon()
    expect((await waiting).kind).toBe('origin')
    await cache.close()
  })

  it('refuses an options object without a cache', () => {
    expect(() => new HttpCache({} as never)).toThrow(/createCache/)
  })
})

describe('Cache-Control parsing (RFC 9111 §5.2, quoted strings by RFC 9110 §5.6.4)', () => {
  const parsed = (value: string) => Object.fromEntries(parseCacheControl(value))

  it('keeps the commas of a quoted value inside it and unquotes it, quoted-pairs included', () => {
    expect(parsed('private="set-cookie, x-user", max-age=60')).toEqual({
      private: 'set-cookie, x-user',
      'max-age': '60',
    })
    expect(parsed('no-cache="a, b"')).toEqual({ 'no-cache': 'a, b' })
    expect(parsed('ext="say \\"hi\\", ok", max-age=5')).toEqual({ ext: 'say "hi", ok', 'max-age': '5' })
    expect(parsed('ext="a\\\\", no-store')).toEqual({ ext: 'a\\', 'no-store': true })
    expect(parsed('max-age="60" , Public')).toEqual({ 'max-age': '60', public: true })
  })

  it('never reads a directive out of a quoted value: a lifetime there grants nothing', () => {
    expect(parsed('max-age=0, ext="a, s-maxage=3600"')).toEqual({ 'max-age': '0', ext: 'a, s-maxage=3600' })
    const cc = parseCacheControl('max-age=0, ext="a, s-maxage=3600"')
    expect(freshnessLifetime(cc, {}, true)).toBe(0)
  })

  it('fails safe on a header it cannot read: the rest is kept with malformed values (restrictions count, lifetimes read 0)', () => {
    // An unterminated quoted string.
    expect(parsed('max-age=3600, ext="a, s-maxage=3600, no-store')).toEqual({
      'max-age': '3600',
      ext: '',
      a: '',
      's-maxage': '',
      'no-store': '',
    })
    expect(freshnessLifetime(parseCacheControl('max-age=3600, ext="a, s-maxage=3600'), {}, true)).toBe(0)
    expect(parseCacheControl('max-age=3600, private="set-cookie').has('private')).toBe(true)
    // Text after a closing quote, and a quote inside a token.
    expect(parsed('ext="a"b, s-maxage=3600')).toEqual({ ext: '', b: '', 's-maxage': '' })
    expect(parsed('ext=a"b, s-maxage=3600"')).toEqual({ ext: '', b: '', 's-maxage': '' })
  })

  it('still reads a directive repeated with another value as malformed (stale), a quoted one included', () => {
    expect(parsed('max-age=60, max-age="3600"')).toEqual({ 'max-age': '' })
    expect(parsed('max-age=60, max-age="60"')).toEqual({ 'max-age': '60' })
  })
})

describe('freshness lifetime', () => {
  it("counts Expires without a Date from the time given (the cache's clock), not the system clock", () => {
    const now = 1_700_000_000_000
    const headers = { expires: new Date(now + 60_000).toUTCString() }
    expect(freshnessLifetime(new Map(), headers, true, now)).toBe(60)
    // With a Date, from the Date.
    expect(
      freshnessLifetime(new Map(), { ...headers, date: new Date(now + 30_000).toUTCString() }, true, now),
    ).toBe(30)
  })
})
