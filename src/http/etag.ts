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
 * otherwise If-Modified-Since, when both it and Last-Modified are valid dates.
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
  const since = Date.parse(ifModifiedSince)
  const modified = Date.parse(lastModified)
  if (!Number.isFinite(since) || !Number.isFinite(modified)) return false
  return modified <= since
}
