import { createHash } from 'node:crypto'
import { headerValue, type RequestHeaders, type ResponseHeaders } from './headers.js'

/**
 * An entity tag for `body`: a hash of the exact bytes (strong: byte-for-byte equality, RFC 9110
 * §8.8.3) or the same hash marked weak (`W/`, semantic equivalence: use it when a layer after
 * this one may re-encode the body, e.g. a compressing proxy). Same bytes, same tag, in every
 * process: a CDN or browser holding the tag from instance A gets a 304 from instance B.
 */
export function computeEtag(body: Uint8Array, weak: boolean): string {
  const hash = createHash('sha1').update(body).digest('base64url').slice(0, 22)
  const tag = `"${body.byteLength.toString(16)}-${hash}"`
  return weak ? `W/${tag}` : tag
}

/** The entity tags of an If-None-Match / If-Match field; `['*']` for the wildcard. */
export function parseEntityTags(value: string): string[] {
  const out: string[] = []
  let i = 0
  while (i < value.length) {
    const c = value[i]
    if (c === ' ' || c === '\t' || c === ',') {
      i++
      continue
    }
    if (c === '*') {
      out.push('*')
      i++
      continue
    }
    const start = i
    if (value.startsWith('W/', i)) i += 2
    if (value[i] !== '"') {
      // Not an entity-tag: skip to the next comma (lenient, as browsers and `fresh` are).
      const comma = value.indexOf(',', i)
      const bare = value.slice(start, comma === -1 ? value.length : comma).trim()
      if (bare !== '') out.push(bare)
      i = comma === -1 ? value.length : comma + 1
      continue
    }
    // etagc allows ',' inside the quotes, so scan to the closing quote rather than split.
    const close = value.indexOf('"', i + 1)
    if (close === -1) {
      out.push(value.slice(start))
      break
    }
    out.push(value.slice(start, close + 1))
    i = close + 1
  }
  return out
}

const opaque = (tag: string): string => (tag.startsWith('W/') ? tag.slice(2) : tag)

/** Weak comparison (RFC 9110 §8.8.3.2): the opaque tags match, whether or not either is weak. */
export function weakMatch(a: string, b: string): boolean {
  return opaque(a) === opaque(b)
}

/**
 * Whether a GET/HEAD with these request headers is answered 304 Not Modified for a 200 response
 * with these headers (RFC 9110 §13.1.2 and §13.1.3, evaluated in the order of §13.2.2):
 * If-None-Match wins when present (weak comparison; `*` matches any current representation);
 * otherwise If-Modified-Since, when it is an HTTP-date and Last-Modified a date.
 */
export function isNotModified(
  method: string,
  request: RequestHeaders,
  status: number,
  response: Readonly<ResponseHeaders>,
): boolean {
  if ((method !== 'GET' && method !== 'HEAD') || status !== 200) return false
  const ifNoneMatch = headerValue(request, 'if-none-match')
  if (ifNoneMatch !== undefined) {
    const tags = parseEntityTags(ifNoneMatch)
    if (tags.includes('*')) return true
    const etag = headerValue(response, 'etag')
    if (etag === undefined) return false
    return tags.some((tag) => weakMatch(tag, etag))
  }
  const ifModifiedSince = headerValue(request, 'if-modified-since')
  const lastModified = headerValue(response, 'last-modified')
  if (ifModifiedSince === undefined || lastModified === undefined) return false
  // The client's date must be an HTTP-date (else ignored); the route's own Last-Modified is read
  // as leniently as before (an app's ISO date there is a mistake, not an attack).
  const since = parseHttpDate(ifModifiedSince)
  const modified = Date.parse(lastModified)
  if (!Number.isFinite(since) || !Number.isFinite(modified)) return false
  return modified <= since
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)'
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)'
const TIME = '\\d{2}:\\d{2}:\\d{2}'
/** The three forms of an HTTP-date (RFC 9110 §5.6.7): IMF-fixdate, then the obsolete RFC 850 and asctime. */
const IMF_FIXDATE = new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`)
const RFC_850 = new RegExp(`^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`)
const ASCTIME = new RegExp(`^${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}$`)

/**
 * The time of an HTTP-date, or NaN for anything else: RFC 9110 §13.1.3 has an If-Modified-Since
 * that is not a valid HTTP-date ignored, where `Date.parse` reads `2030` or `Dec 2099` as dates
 * (and answered 304 to them). asctime has no zone: it is GMT.
 */
export function parseHttpDate(text: string): number {
  const value = text.trim()
  if (IMF_FIXDATE.test(value) || RFC_850.test(value)) return Date.parse(value)
  if (ASCTIME.test(value)) return Date.parse(`${value} GMT`)
  return Number.NaN
}
