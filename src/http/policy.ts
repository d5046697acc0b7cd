import { describeValue } from '../base/describe.js'
import { refuseUnknown } from '../base/option-names.js'
import { type Duration, InvalidOptionError, parseDuration } from '../index.js'
import { HTTP_DEFAULTS } from './defaults.js'

/**
 * How one route's responses are cached, by browsers, CDNs and the server-side response cache.
 * Durations are stratacache durations (`'30s'`, `'5m'`, or milliseconds); HTTP counts whole
 * seconds, so they are rounded down. `Req` is the framework's request (Express `req`, Fastify
 * `request`, Hono `c`), handed to `tags` and `user`.
 */
export interface HttpCachePolicy<Req = unknown> {
  /** Freshness for every cache (`max-age`). Default 0. */
  maxAge?: Duration
  /** Freshness for shared caches only (`s-maxage`): CDNs and the server-side cache. */
  sMaxAge?: Duration
  /** After freshness ends, serve the stored response for this long while one background request refreshes it (RFC 5861). */
  staleWhileRevalidate?: Duration
  /** After freshness ends, serve the stored response for this long when the origin fails (5xx or throws) (RFC 5861). */
  staleIfError?: Duration
  /** `private`: only the browser may keep it. Nothing is stored server-side unless `user` is given. */
  private?: boolean
  /** `no-store`: nobody keeps it. */
  noStore?: boolean
  /** `must-revalidate`: never served stale (turns stale-while-revalidate and stale-if-error off). */
  mustRevalidate?: boolean
  /** `immutable`: browsers skip revalidation on reload (for fingerprinted assets). */
  immutable?: boolean
  /**
   * Request headers the response depends on: sent as `Vary`, and part of the cache key. A response
   * whose own `Vary` names a header missing here is not stored (it could be served to the wrong
   * request); `Vary: *` is never stored.
   */
  vary?: readonly string[]
  /** Tags of the stored response (invalidate them to purge it here and, through the purge hook, at the CDN). */
  tags?: readonly string[] | ((req: Req) => readonly string[])
  /** ETag generated from the body when the handler sets none: `'strong'` (default), `'weak'` or `false`. */
  etag?: 'strong' | 'weak' | false
  /**
   * Opt-in for requests that carry `Authorization` or `Cookie`: the id of the user they
   * authenticate, which becomes part of the cache key (so one user's response is never served to
   * another), or `undefined` to bypass the cache for this request. Responses get `private`.
   * Without it, such requests bypass the server-side cache entirely.
   */
  user?: (req: Req) => string | undefined
  /** Store responses in the server-side cache. Default true (headers are emitted either way). */
  store?: boolean
}

/** A policy validated once, with its Cache-Control values precomputed. */
export interface ResolvedPolicy<Req = unknown> {
  readonly maxAge: number
  readonly sMaxAge: number | undefined
  readonly staleWhileRevalidate: number
  readonly staleIfError: number
  readonly private: boolean
  readonly noStore: boolean
  readonly mustRevalidate: boolean
  readonly immutable: boolean
  /** Lowercase, deduplicated. */
  readonly vary: readonly string[]
  readonly varyHeader: string | undefined
  readonly tags: (req: Req) => readonly string[]
  readonly etag: 'strong' | 'weak' | false
  readonly user: ((req: Req) => string | undefined) | undefined
  readonly store: boolean
  /** Cache-Control for everyone (CDNs included). */
  readonly sharedCacheControl: string
  /** Cache-Control of per-user responses (`private`, no `s-maxage`). */
  readonly privateCacheControl: string
}

/** The names a route policy accepts; typed against the policy so the two cannot drift apart. */
const POLICY_NAMES = {
  maxAge: true,
  sMaxAge: true,
  staleWhileRevalidate: true,
  staleIfError: true,
  private: true,
  noStore: true,
  mustRevalidate: true,
  immutable: true,
  vary: true,
  tags: true,
  etag: true,
  user: true,
  store: true,
} as const satisfies Record<keyof HttpCachePolicy, true>

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const NO_TAGS: readonly string[] = Object.freeze([])

function seconds(value: Duration | undefined, what: string): number | undefined {
  if (value === undefined) return undefined
  const ms = parseDuration(value, what)
  if (!Number.isFinite(ms)) {
    throw new InvalidOptionError(`${what} must be finite: HTTP has no "forever" (use '365d' and immutable).`)
  }
  return Math.floor(ms / 1000)
}

function flag(value: unknown, what: string): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') throw new InvalidOptionError(`${what} must be true or false.`)
  return value
}

/** Validates a route policy (once, when the route is declared) and precomputes its headers. */
export function resolvePolicy<Req>(policy: HttpCachePolicy<Req>, where = 'policy'): ResolvedPolicy<Req> {
  if (typeof policy !== 'object' || policy === null) {
    throw new InvalidOptionError(`${where} must be an object like { maxAge: '60s', sMaxAge: '5m' }.`)
  }
  refuseUnknown(policy, POLICY_NAMES, 'a route policy', `${where}.`, 'docs/http.md')
  const maxAge = seconds(policy.maxAge, `${where}.maxAge`) ?? HTTP_DEFAULTS.maxAgeSeconds
  const sMaxAge = seconds(policy.sMaxAge, `${where}.sMaxAge`)
  const staleWhileRevalidate =
    seconds(policy.staleWhileRevalidate, `${where}.staleWhileRevalidate`) ??
    HTTP_DEFAULTS.staleWhileRevalidateSeconds
  const staleIfError =
    seconds(policy.staleIfError, `${where}.staleIfError`) ?? HTTP_DEFAULTS.staleIfErrorSeconds
  const isPrivate = flag(policy.private, `${where}.private`)
  const noStore = flag(policy.noStore, `${where}.noStore`)
  const mustRevalidate = flag(policy.mustRevalidate, `${where}.mustRevalidate`)
  const immutable = flag(policy.immutable, `${where}.immutable`)
  const store = policy.store === undefined ? HTTP_DEFAULTS.store : flag(policy.store, `${where}.store`)
  const vary: string[] = []
  if (policy.vary !== undefined) {
    if (!Array.isArray(policy.vary))
      throw new InvalidOptionError(`${where}.vary must be an array of header names.`)
    for (const name of policy.vary as unknown[]) {
      if (typeof name !== 'string' || !TOKEN.test(name) || name === '*') {
        throw new InvalidOptionError(
          `${where}.vary: ${describeValue(name)} is not a header name (Vary: * would make the response uncacheable: use noStore).`,
        )
      }
      const lower = name.toLowerCase()
      if (!vary.includes(lower)) vary.push(lower)
    }
  }
  let tags: (req: Req) => readonly string[]
  if (policy.tags === undefined) tags = () => NO_TAGS
  else if (typeof policy.tags === 'function') tags = policy.tags
  else if (Array.isArray(policy.tags) && policy.tags.every((t) => typeof t === 'string' && t !== '')) {
    const fixed = Object.freeze([...policy.tags])
    tags = () => fixed
  } else {
    throw new InvalidOptionError(
      `${where}.tags must be an array of non-empty strings or a function of the request.`,
    )
  }
  const etag: 'strong' | 'weak' | false = policy.etag ?? HTTP_DEFAULTS.etag
  if (etag !== 'strong' && etag !== 'weak' && etag !== false) {
    throw new InvalidOptionError(`${where}.etag must be 'strong', 'weak' or false.`)
  }
  if (policy.user !== undefined && typeof policy.user !== 'function') {
    throw new InvalidOptionError(`${where}.user must be a function returning the user id (or undefined).`)
  }
  if (noStore && (policy.maxAge !== undefined || policy.sMaxAge !== undefined)) {
    throw new InvalidOptionError(`${where}: noStore cannot be combined with maxAge or sMaxAge.`)
  }
  const resolved = {
    maxAge,
    sMaxAge,
    staleWhileRevalidate: mustRevalidate ? 0 : staleWhileRevalidate,
    staleIfError: mustRevalidate ? 0 : staleIfError,
    private: isPrivate,
    noStore,
    mustRevalidate,
    immutable,
    vary,
    varyHeader: vary.length === 0 ? undefined : vary.join(', '),
    tags,
    etag,
    user: policy.user,
    store,
  }
  return {
    ...resolved,
    sharedCacheControl: cacheControl(resolved, isPrivate),
    privateCacheControl: cacheControl(resolved, true),
  }
}

/** The Cache-Control value of a policy: what each directive means is in docs/http.md. */
function cacheControl(
  p: Pick<
    ResolvedPolicy,
    | 'maxAge'
    | 'sMaxAge'
    | 'staleWhileRevalidate'
    | 'staleIfError'
    | 'noStore'
    | 'mustRevalidate'
    | 'immutable'
  >,
  isPrivate: boolean,
): string {
  if (p.noStore) return 'no-store'
  const parts: string[] = []
  if (isPrivate) parts.push('private')
  parts.push(`max-age=${p.maxAge}`)
  // s-maxage speaks to shared caches only, which may not keep a private response at all.
  if (!isPrivate && p.sMaxAge !== undefined) parts.push(`s-maxage=${p.sMaxAge}`)
  if (p.staleWhileRevalidate > 0) parts.push(`stale-while-revalidate=${p.staleWhileRevalidate}`)
  if (p.staleIfError > 0) parts.push(`stale-if-error=${p.staleIfError}`)
  if (p.mustRevalidate) parts.push('must-revalidate')
  if (p.immutable) parts.push('immutable')
  return parts.join(', ')
}
