import { parseHttpDate } from './etag.js'
import {
  type CacheControl,
  deltaSeconds,
  headerValue,
  parseCacheControl,
  type RequestHeaders,
  type ResponseHeaders,
  tokens,
} from './headers.js'

/**
 * Status codes the server-side cache stores: those cacheable by default (RFC 9110 §15.1) minus
 * 206 (a range is not the resource), 405, 414 and 501 (about the request, not the resource).
 * Redirects 302/303/307 are temporary by definition and never stored.
 */
export const STORABLE_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 410])

/**
 * Statuses that answer one request's conditions or range (RFC 9110 §13, §14), not what the
 * resource is now: a 304 even says the stored copy is current. Not stored, yet they say nothing
 * about the next plain request's response.
 */
export const PER_REQUEST_STATUSES: ReadonlySet<number> = new Set([206, 304, 412, 416])

/** Why a response is not stored (counted in `stats().uncacheable`). */
export type UncacheableReason =
  | 'method'
  | 'request-no-store'
  | 'status'
  | 'no-store'
  | 'no-cache'
  | 'private'
  | 'authorization'
  | 'cookie'
  | 'set-cookie'
  | 'vary'
  | 'no-freshness'

export type StoreDecision =
  | {
      readonly storable: true
      /** Freshness lifetime (s-maxage for a shared cache, else max-age, else Expires − Date). */
      readonly freshMs: number
      readonly staleWhileRevalidateMs: number
      readonly staleIfErrorMs: number
      /** Age the response already had when it arrived (its `Age` header). */
      readonly initialAgeMs: number
    }
  | { readonly storable: false; readonly reason: UncacheableReason }

export interface StorageContext {
  /** Request headers that are part of the cache key: a response may vary on these and no others. */
  readonly keyed: ReadonlySet<string>
  /** The route opted in with a key that includes the user: the cache acts as that user's private cache. */
  readonly perUser: boolean
  /**
   * When the response was received, in ms since the epoch, by the cache's clock: what `Expires`
   * is measured from when the response has no `Date`. Default: the system clock.
   */
  readonly now?: number
}

/**
 * Whether the server-side cache may store this response, by RFC 9111 §3 for a shared cache
 * (§3.5 for Authorization), plus stricter rules of our own, each with its reason: requests with
 * cookies are treated as authenticated, `Set-Cookie` responses are never stored (even `public`),
 * only GET is stored (HEAD is served from GET), nothing is stored without an explicit freshness
 * (no heuristic freshness) or with `no-cache`, and `Vary` may only name keyed headers.
 * Checked against http-cache-semantics in test/http/oracle.test.ts.
 */
export function decideStorage(
  request: { readonly method: string; readonly headers: RequestHeaders },
  response: { readonly status: number; readonly headers: Readonly<ResponseHeaders> },
  context: StorageContext,
): StoreDecision {
  if (request.method !== 'GET') return { storable: false, reason: 'method' }
  const requestCc = parseCacheControl(headerValue(request.headers, 'cache-control'))
  if (requestCc.has('no-store')) return { storable: false, reason: 'request-no-store' }
  if (!STORABLE_STATUSES.has(response.status)) return { storable: false, reason: 'status' }
  const cc = responseCacheControl(response.headers)
  if (cc.has('no-store')) return { storable: false, reason: 'no-store' }
  if (!context.perUser) {
    if (cc.has('private')) return { storable: false, reason: 'private' }
    if (headerValue(request.headers, 'authorization') !== undefined)
      return { storable: false, reason: 'authorization' }
    if (headerValue(request.headers, 'cookie') !== undefined) return { storable: false, reason: 'cookie' }
  }
  if (response.headers['set-cookie'] !== undefined) return { storable: false, reason: 'set-cookie' }
  for (const name of tokens(headerValue(response.headers, 'vary'))) {
    if (name === '*' || !context.keyed.has(name)) return { storable: false, reason: 'vary' }
  }
  if (cc.has('no-cache')) return { storable: false, reason: 'no-cache' }
  const shared = !context.perUser
  const freshS = freshnessLifetime(cc, response.headers, shared, context.now)
  // must-revalidate / proxy-revalidate forbid serving stale (RFC 9111 §5.2.2.2, RFC 5861 §4).
  const noStale = cc.has('must-revalidate') || (shared && cc.has('proxy-revalidate'))
  const swrS = noStale ? 0 : (deltaSeconds(cc, 'stale-while-revalidate') ?? 0)
  const sieS = noStale ? 0 : (deltaSeconds(cc, 'stale-if-error') ?? 0)
  if (freshS <= 0 && swrS <= 0 && sieS <= 0) return { storable: false, reason: 'no-freshness' }
  const age = Number.parseInt(headerValue(response.headers, 'age') ?? '', 10)
  return {
    storable: true,
    freshMs: freshS * 1000,
    staleWhileRevalidateMs: swrS * 1000,
    staleIfErrorMs: sieS * 1000,
    initialAgeMs: Number.isFinite(age) && age > 0 ? age * 1000 : 0,
  }
}

/** Cache-Control of a response; `Pragma: no-cache` counts as `no-cache` when Cache-Control is absent. */
export function responseCacheControl(headers: Readonly<ResponseHeaders>): CacheControl {
  return cacheControlOf(headers)
}

/** Cache-Control of a request; `Pragma: no-cache` counts as `no-cache` when Cache-Control is absent (RFC 9111 §5.4). */
export function requestCacheControl(headers: RequestHeaders): CacheControl {
  return cacheControlOf(headers)
}

function cacheControlOf(headers: RequestHeaders): CacheControl {
  const value = headerValue(headers, 'cache-control')
  const cc = parseCacheControl(value)
  if (value === undefined && /no-cache/i.test(headerValue(headers, 'pragma') ?? '')) {
    return new Map([['no-cache', true]])
  }
  return cc
}

/**
 * Whether the request lets a stored response be used without the route running (RFC 9111 §4 and
 * §5.2.1): not under `no-cache` (or `Pragma: no-cache` without Cache-Control: a forced reload),
 * nor when it is older than the request's `max-age` (`max-age=0`, a browser's reload: any age).
 * `max-stale`, `min-fresh` and `only-if-cached` are not acted on; `no-store` does not forbid using
 * a stored response, only storing this exchange's (decideStorage).
 */
export function requestAllowsStored(cc: CacheControl, timing: Timing, now: number): boolean {
  if (cc.has('no-cache')) return false
  const maxAge = deltaSeconds(cc, 'max-age')
  return maxAge === undefined || ageMs(timing, now) <= maxAge * 1000
}

/**
 * Freshness lifetime in seconds (RFC 9111 §4.2.1), without heuristics; proxy-revalidate makes it 0
 * for a shared cache. `Expires` counts from the response's `Date`, or without one from `now`, when
 * it was received (RFC 9110 §6.6.1): pass the cache's clock, as HttpCache does, so an injected
 * clock dates it too (the system clock, read here before, made a response whose Expires was set
 * by that clock stale or fresh by how far the two clocks were apart). Default: the system clock.
 */
export function freshnessLifetime(
  cc: CacheControl,
  headers: Readonly<ResponseHeaders>,
  shared: boolean,
  now: number = Date.now(),
): number {
  if (shared) {
    if (cc.has('proxy-revalidate')) return 0
    const sMaxAge = deltaSeconds(cc, 's-maxage')
    if (sMaxAge !== undefined) return sMaxAge
  }
  const maxAge = deltaSeconds(cc, 'max-age')
  if (maxAge !== undefined) return maxAge
  const expires = headerValue(headers, 'expires')
  if (expires === undefined) return 0
  // Only an HTTP-date: anything else (`0`, `2099`) means already expired (RFC 9111 §5.3), where
  // Date.parse read `2099` as a date and the response stayed fresh for decades.
  const expiresAt = parseHttpDate(expires)
  if (!Number.isFinite(expiresAt)) return 0
  const date = parseHttpDate(headerValue(headers, 'date') ?? '')
  const base = Number.isFinite(date) ? date : now
  return Math.max(0, (expiresAt - base) / 1000)
}

/** What a stored response may be used for at a given age. */
export type Usability = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'expired'

/** The timing fields of a stored response. */
export interface Timing {
  readonly storedAt: number
  readonly initialAgeMs: number
  readonly freshMs: number
  readonly staleWhileRevalidateMs: number
  readonly staleIfErrorMs: number
}

/** Current age in ms (RFC 9111 §4.2.3, with the response time as the request time: the origin is us). */
export function ageMs(timing: Timing, now: number): number {
  return timing.initialAgeMs + Math.max(0, now - timing.storedAt)
}

/**
 * Fresh while age < lifetime; within stale-while-revalidate it is served while one request
 * refreshes it; beyond that but within stale-if-error it stands in only for a failed origin.
 */
export function usability(timing: Timing, now: number): Usability {
  const age = ageMs(timing, now)
  if (age < timing.freshMs) return 'fresh'
  if (age < timing.freshMs + timing.staleWhileRevalidateMs) return 'stale-while-revalidate'
  if (age < timing.freshMs + timing.staleIfErrorMs) return 'stale-if-error'
  return 'expired'
}
