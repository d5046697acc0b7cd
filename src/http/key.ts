import { createHash } from 'node:crypto'
import { describeValue, expectKeyText } from '../base/describe.js'
import { InvalidOptionError, key } from '../index.js'
import { headerValue, type RequestHeaders } from './headers.js'

export { DEFAULT_KEYED_HEADERS } from './defaults.js'

const PERCENT = /%[0-9a-f]{2}/gi
/** A parameter name a decoder may read as another (a percent-escape, or `+` for a space). */
const ENCODED_NAME = /[%+]/

/**
 * The URL as one cache key part: percent-escapes upper-cased (RFC 3986 §6.2.2.1) and query
 * parameters sorted by name (stable, so repeated names keep their order) when no name is encoded. Nothing is decoded —
 * not even unreserved characters: `%2F` stays distinct from `/`, `%2E%2E` from `..`, `%41` from
 * `A`, `;` stays in its segment — because routers match the raw path, and two URLs that can route
 * differently must never share an entry (web cache deception, S13).
 */
export function normalizeUrl(url: string): string {
  expectKeyText(url, 'normalizeUrl(url): the URL')
  const hash = url.indexOf('#')
  const bare = hash === -1 ? url : url.slice(0, hash)
  const q = bare.indexOf('?')
  const path = canonicalEscapes(q === -1 ? bare : bare.slice(0, q))
  if (q === -1) return path
  const params = bare
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '')
    .map(canonicalEscapes)
  if (params.length === 0) return path
  const named = params.map((p) => {
    const eq = p.indexOf('=')
    return [eq === -1 ? p : p.slice(0, eq), p] as const
  })
  // Sorted only when every name reads the same to every decoder: `%61` and `a` are one name to
  // the app, and sorting the two apart would give `?a=1&%61=2` and `?%61=2&a=1` (which the app
  // reads as a=[1,2] and a=[2,1]) one key. Otherwise the order stays as sent (never wrong: the
  // same request in another order only misses).
  if (named.every((n) => !ENCODED_NAME.test(n[0]))) {
    named.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
  }
  return `${path}?${named.map((n) => n[1]).join('&')}`
}

function canonicalEscapes(part: string): string {
  if (!part.includes('%')) return part
  return part.replace(PERCENT, (m) => m.toUpperCase())
}

/** The path of a request URL (no query), normalized: the purge-by-URL tag is built from it. */
export function normalizedPath(url: string): string {
  const normalized = normalizeUrl(url)
  const q = normalized.indexOf('?')
  return q === -1 ? normalized : normalized.slice(0, q)
}

/** The prefix of the tag every stored response carries for its path (what purgeUrl invalidates). */
export const URL_TAG = 'http-url:'
/** Paths longer than this are hashed in their tag: a tag has a length limit (maxTagLength), a URL has none. */
const LONGEST_TAGGED_PATH = 128

/**
 * The path of `url` as a client sends it: percent-encoded the way the WHATWG URL standard encodes
 * a path (fetch and browsers send `/café` as `/caf%C3%A9`, `/a b` as `/a%20b`), dot segments
 * resolved, without query or fragment; the path of a full URL (`https://shop.example/p` → `/p`).
 * Idempotent, so a request target a client sent and the same URL handed to purgeUrl agree. As
 * given when it cannot be parsed.
 */
function sentPath(url: string): string {
  if (typeof url !== 'string') return url
  try {
    // `//host/p` is a path here (a request target), not a URL without a scheme.
    return (url.startsWith('/') ? new URL(`http://h${url}`) : new URL(url, 'http://h/')).pathname
  } catch {
    return url
  }
}

const PURGE_URL_FORMS = "a path like '/products/42' or a full URL like 'https://shop.example/products/42'"

/**
 * The URL given to purgeUrl, checked: a path (`/…`) or an absolute http(s) URL, whose host is not
 * read (the URL tag is the path's: every host's entries of the path go). Anything else is refused
 * rather than read as some path: `''` and `'products/42'` resolved against `/` (the empty URL
 * purged the home page), `'//shop.example/p'` was a path no request has, an unparseable URL
 * (`'http://[bad'`) a tag that matched nothing, all without a word.
 */
export function purgeTarget(url: unknown): string {
  const refuse = (why: string, cause?: unknown): never => {
    throw new InvalidOptionError(
      `purgeUrl(url): ${why}; pass ${PURGE_URL_FORMS}.`,
      cause === undefined ? undefined : { cause },
    )
  }
  if (typeof url !== 'string') return refuse(`the URL must be a string, got ${describeValue(url)}`)
  if (url === '') return refuse("the URL is empty (the home page is '/')")
  if (url.startsWith('//')) {
    return refuse(
      `${describeValue(url)} is a URL without a scheme, not a path (a path starting with '//' is purged as 'https://<host>//…')`,
    )
  }
  if (url.startsWith('/')) return url
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (error) {
    return refuse(`${describeValue(url)} is neither a path (it must start with '/') nor a full URL`, error)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return refuse(`${describeValue(url)} is not an http(s) URL`)
  }
  return url
}

/**
 * The purge-by-URL tag of a request URL, and of the URL given to purgeUrl: its path as a client
 * sends it ({@link sentPath}), normalized, or that path's SHA-256 when it is long (a path of
 * ~1,000 characters made a tag over the cache's limit: the response was never stored, and every
 * request reported an error). It reaches every entry a request for the URL can hit (the key keeps
 * the path as sent: `/p/` and `/P` are other entries, with tags of their own), and over-reaches
 * only to requests sent unnormalized (`/a/../p`, kept apart in the key, shares `/p`'s tag).
 */
export function urlTag(url: string): string {
  const path = normalizedPath(sentPath(url))
  if (path.length <= LONGEST_TAGGED_PATH) return URL_TAG + path
  return `${URL_TAG}#${createHash('sha256').update(path).digest('base64url')}`
}

/**
 * Request headers whose values are credentials. A route may vary on them (with `user`), but the
 * key is a Redis key name, the `stored` event's key and what dashboards list as the latest reads:
 * a bearer token or session id there would be readable by anyone who sees those.
 */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie', 'proxy-authorization'])

/** A header's value as keyed: a credential by its SHA-256 (still one entry per value), any other as sent. */
function keyedValue(name: string, value: string): string {
  if (!CREDENTIAL_HEADERS.has(name)) return value
  return `sha256:${createHash('sha256').update(value).digest('base64url')}`
}

/**
 * The cache key of a request: method, host (or the origin the app sees), normalized URL, the values of the route's Vary
 * headers (absent and empty are different; credentials hashed), the always-keyed headers that are present, and, on a
 * per-user route, the user: `null` for a visitor without credentials, a part no user id can
 * produce (an id of `-` once shared the anonymous entry). Parts are escaped by `key()`, so no
 * header value can forge another request's key; long keys are hashed by the cache.
 */
export function requestKey(
  prefix: string,
  method: string,
  url: string,
  headers: RequestHeaders,
  vary: readonly string[],
  alwaysKeyed: readonly string[],
  /** undefined: the route is not per-user; null: an anonymous visitor of a per-user route. */
  user: string | null | undefined,
  /** The scheme and host the app sees (see HttpRequest.origin); the Host header when undefined. */
  origin?: string,
): string {
  const host = origin ?? headerValue(headers, 'host') ?? ''
  const parts: string[] = [method, host.toLowerCase(), normalizeUrl(url)]
  for (const name of vary) {
    const value = headerValue(headers, name)
    parts.push(value === undefined ? '-' : `=${keyedValue(name, value.trim())}`)
  }
  let extra = ''
  for (const name of alwaysKeyed) {
    if (vary.includes(name)) continue
    const value = headerValue(headers, name)
    if (value !== undefined) extra += `${name}=${JSON.stringify(keyedValue(name, value))};`
  }
  parts.push(extra, user === undefined ? '-' : user === null ? 'anonymous' : `u=${user}`)
  return key(prefix, ...parts)
}
