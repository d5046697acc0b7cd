/**
 * The decision core checked against independent implementations over generated header matrices:
 * http-cache-semantics (RFC 9111 + RFC 5861, as a shared cache, without heuristic freshness) for
 * storability, freshness lifetime and what a stored response may be used for at any age; `fresh`
 * (the module Express uses) for 304 decisions. Where we are deliberately stricter, the reason we
 * give must be justified by the input itself.
 */
import { createRequire } from 'node:module'
import fc from 'fast-check'
import CachePolicy from 'http-cache-semantics'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_KEYED_HEADERS,
  decideStorage,
  isNotModified,
  STORABLE_STATUSES,
  usability,
} from '../../dist/http/index.js'

const fresh = createRequire(import.meta.url)('fresh') as (
  req: Record<string, string>,
  res: Record<string, string>,
) => boolean

const NOW = Math.floor(Date.now() / 1000) * 1000
const httpDate = (offsetS: number) => new Date(NOW + offsetS * 1000).toUTCString()

/** `arb` one time in `of`, else absent: most generated responses must be storable to test anything. */
const sometimes = <T>(arb: fc.Arbitrary<T>, absent = 4, present = 1): fc.Arbitrary<T | undefined> =>
  fc.oneof({ arbitrary: fc.constant(undefined), weight: absent }, { arbitrary: arb, weight: present })

const seconds = fc.constantFrom(0, 1, 10, 60, 300)
const directive = fc.oneof(
  seconds.map((n) => `max-age=${n}`),
  seconds.map((n) => `s-maxage=${n}`),
  seconds.map((n) => `stale-while-revalidate=${n}`),
  seconds.map((n) => `stale-if-error=${n}`),
  fc.constantFrom(
    'private',
    'public',
    'no-store',
    'no-cache',
    'must-revalidate',
    'proxy-revalidate',
    'immutable',
  ),
)
/** Directive names appear at most once (the RFC leaves duplicates undefined). */
const cacheControl = fc
  .uniqueArray(directive, { maxLength: 4, selector: (d) => d.split('=')[0] })
  .map((ds) => ds.join(', '))

const requestArb = fc.record({
  method: fc.oneof({ arbitrary: fc.constant('GET'), weight: 8 }, fc.constant('HEAD'), fc.constant('POST')),
  authorization: sometimes(fc.constant('Bearer t0ken')),
  cookie: sometimes(fc.constant('session=abc')),
  cacheControl: sometimes(fc.constantFrom('no-store', 'max-age=0')),
  acceptLanguage: sometimes(fc.constantFrom('en', 'fr')),
})

const responseArb = fc.record({
  status: fc.constantFrom(
    200,
    200,
    200,
    200,
    203,
    204,
    206,
    300,
    301,
    302,
    307,
    308,
    404,
    405,
    410,
    500,
    503,
  ),
  cacheControl: sometimes(cacheControl, 1, 6),
  pragma: sometimes(fc.constant('no-cache')),
  expires: sometimes(fc.constantFrom(httpDate(120), httpDate(-60), '0')),
  setCookie: sometimes(fc.constant('id=1')),
  vary: sometimes(
    fc.constantFrom('Accept-Language', '*', 'X-Undeclared', 'accept-language, x-forwarded-host'),
    2,
  ),
  age: sometimes(fc.constantFrom('0', '5', '100')),
})

type Req = typeof requestArb extends fc.Arbitrary<infer T> ? T : never
type Res = typeof responseArb extends fc.Arbitrary<infer T> ? T : never

function headersOf(record: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = v
  return out
}
const requestHeaders = (r: Req) =>
  headersOf({
    host: 'shop.example',
    authorization: r.authorization,
    cookie: r.cookie,
    'cache-control': r.cacheControl,
    'accept-language': r.acceptLanguage,
  })
const responseHeaders = (r: Res) =>
  headersOf({
    date: httpDate(0),
    'cache-control': r.cacheControl,
    pragma: r.pragma,
    expires: r.expires,
    'set-cookie': r.setCookie,
    vary: r.vary,
    age: r.age,
  })

const KEYED = new Set(['accept-language', ...DEFAULT_KEYED_HEADERS])
const ours = (req: Req, res: Res) =>
  decideStorage(
    { method: req.method, headers: requestHeaders(req) },
    { status: res.status, headers: responseHeaders(res) },
    { keyed: KEYED, perUser: false },
  )
const oracle = (req: Req, res: Res) =>
  new CachePolicy(
    { method: req.method, url: '/x', headers: requestHeaders(req) },
    { status: res.status, headers: responseHeaders(res) },
    { shared: true, cacheHeuristic: 0, immutableMinTimeToLive: 0 },
  )
const directives = (res: Res) => new Set((res.cacheControl ?? '').split(', ').map((d) => d.split('=')[0]))
const value = (res: Res, name: string) => {
  const d = (res.cacheControl ?? '').split(', ').find((x) => x.startsWith(`${name}=`))
  return d === undefined ? 0 : Number(d.split('=')[1])
}

describe('storability and freshness against http-cache-semantics (shared cache, no heuristics)', () => {
  it('generates a matrix where a good share of responses is storable (else the properties test little)', () => {
    const samples = fc.sample(fc.tuple(requestArb, responseArb), { numRuns: 2000, seed: 7 })
    const storable = samples.filter(([req, res]) => ours(req, res).storable).length
    expect(storable / samples.length).toBeGreaterThan(0.05)
  })

  it('never stores what the RFC forbids a shared cache to store, and agrees on the freshness lifetime', () => {
    fc.assert(
      fc.property(requestArb, responseArb, (req, res) => {
        const decision = ours(req, res)
        const policy = oracle(req, res)
        if (!decision.storable) return
        expect(policy.storable()).toBe(true)
        expect(decision.freshMs).toBe(policy.maxAge() * 1000)
        expect(decision.initialAgeMs).toBe(Number(res.age ?? 0) * 1000)
      }),
      { numRuns: 2000 },
    )
  })

  it('refuses only for a reason the input justifies (the RFC’s, or one of our documented stricter rules)', () => {
    fc.assert(
      fc.property(requestArb, responseArb, (req, res) => {
        const decision = ours(req, res)
        if (decision.storable) return
        const policy = oracle(req, res)
        const cc = directives(res)
        const justified: Record<string, boolean> = {
          method: req.method !== 'GET',
          'request-no-store': req.cacheControl === 'no-store' && !policy.storable(),
          status: !STORABLE_STATUSES.has(res.status),
          'no-store': cc.has('no-store') && !policy.storable(),
          private: cc.has('private') && !policy.storable(),
          // RFC 9111 §3.5 would allow it with public / s-maxage / must-revalidate: we never do.
          authorization: req.authorization !== undefined,
          cookie: req.cookie !== undefined,
          'set-cookie': res.setCookie !== undefined,
          vary: res.vary === '*' || res.vary === 'X-Undeclared',
          'no-cache': cc.has('no-cache') || (res.cacheControl === undefined && res.pragma !== undefined),
          'no-freshness':
            policy.maxAge() === 0 &&
            ((value(res, 'stale-while-revalidate') === 0 && value(res, 'stale-if-error') === 0) ||
              cc.has('must-revalidate') ||
              cc.has('proxy-revalidate')),
        }
        expect(justified[decision.reason], `reason ${decision.reason}`).toBe(true)
      }),
      { numRuns: 2000 },
    )
  })

  it('uses a stored response exactly as the RFC allows at every age: fresh, stale-while-revalidate, stale-if-error, expired', () => {
    fc.assert(
      fc.property(requestArb, responseArb, fc.integer({ min: 0, max: 800 }), (req, res, afterS) => {
        const decision = ours(req, res)
        if (!decision.storable) return
        // now() is the documented hook for tests ("You can monkey-patch it"), missing from the types.
        const policy = oracle(req, res) as CachePolicy & { now(): number }
        const storedAt = policy.now()
        const now = storedAt + afterS * 1000
        policy.now = () => now
        const use = usability({ storedAt, ...decision }, now)
        const { revalidation, response } = policy.evaluateRequest({
          method: 'GET',
          url: '/x',
          headers: { ...requestHeaders(req), 'cache-control': '' },
        })
        const cc = directives(res)
        if (cc.has('must-revalidate')) {
          // http-cache-semantics always revalidates must-revalidate, even when fresh; we serve it
          // while fresh (RFC 9111 §5.2.2.2 only forbids serving it stale).
          expect(use === 'fresh' || use === 'expired').toBe(true)
          expect(use === 'fresh').toBe(!policy.stale())
          return
        }
        if (use === 'fresh') expect(response !== undefined && revalidation === undefined).toBe(true)
        else if (use === 'stale-while-revalidate') expect(revalidation?.synchronous).toBe(false)
        else expect(response).toBeUndefined()
        // stale-if-error: usable after freshness exactly while max-age + stale-if-error > age.
        const policyWithPrivateApi = policy as unknown as { _useStaleIfError(): boolean }
        if (use !== 'fresh') {
          const ourSie =
            Number(res.age ?? 0) * 1000 + afterS * 1000 < decision.freshMs + decision.staleIfErrorMs
          expect(ourSie).toBe(policyWithPrivateApi._useStaleIfError())
        }
      }),
      { numRuns: 2000 },
    )
  })
})

describe('304 decisions against `fresh` (the module Express uses)', () => {
  const tags = ['"a"', 'W/"a"', '"b"', 'W/"b"', '"c"']
  it('answers 304 exactly when `fresh` says the client’s copy is current', () => {
    fc.assert(
      fc.property(
        fc.option(
          fc.oneof(
            fc.constant('*'),
            fc.uniqueArray(fc.constantFrom(...tags), { minLength: 1, maxLength: 3 }).map((t) => t.join(', ')),
          ),
          { nil: undefined },
        ),
        fc.option(fc.constantFrom(httpDate(-100), httpDate(0), httpDate(100), 'not a date'), {
          nil: undefined,
        }),
        sometimes(fc.constantFrom(...tags), 1, 3),
        sometimes(fc.constantFrom(httpDate(-100), httpDate(0), httpDate(100)), 1, 3),
        (ifNoneMatch, ifModifiedSince, etag, lastModified) => {
          const req = headersOf({ 'if-none-match': ifNoneMatch, 'if-modified-since': ifModifiedSince })
          const res = headersOf({ etag, 'last-modified': lastModified })
          expect(isNotModified('GET', req, 200, res)).toBe(fresh(req, res))
        },
      ),
      { numRuns: 1000 },
    )
  })

  it('ignores an If-Modified-Since that is not an HTTP-date, where `fresh` (Date.parse) reads one (RFC 9110 §13.1.3)', () => {
    const res = { 'last-modified': 'Sun, 06 Nov 1994 08:49:37 GMT' }
    for (const since of [
      'Sun, 06 Nov 1994 08:49:37 GMT',
      'Sunday, 06-Nov-94 08:49:37 GMT',
      'Sun Nov  6 08:49:37 1994',
    ]) {
      expect(isNotModified('GET', { 'if-modified-since': since }, 200, res)).toBe(true)
    }
    // An asctime date is GMT, whatever this process's time zone.
    expect(isNotModified('GET', { 'if-modified-since': 'Sun Nov  6 08:49:36 1994' }, 200, res)).toBe(false)
    for (const since of ['2030', 'Dec 2099', '2025-01-01', 'Sun, 06 Nov 2094 08:49:37', 'tomorrow']) {
      expect(isNotModified('GET', { 'if-modified-since': since }, 200, res)).toBe(false)
    }
    expect(fresh({ 'if-modified-since': '2030' }, res)).toBe(true) // the lenient reading we refuse
  })

  it('never answers 304 for another method or a non-200 response', () => {
    const req = { 'if-none-match': '*' }
    expect(isNotModified('POST', req, 200, {})).toBe(false)
    expect(isNotModified('GET', req, 404, {})).toBe(false)
    expect(isNotModified('HEAD', req, 200, {})).toBe(true)
  })
})
