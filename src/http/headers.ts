import { describeValue } from '../base/describe.js'
import { InvalidOptionError } from '../errors.js'
/**
 * Header plumbing shared by the decision core and the adapters: every framework hands us headers
 * in its own shape (Node's IncomingHttpHeaders, fetch's Headers, Fastify's reply headers), the
 * core works on lowercase names and string values only.
 */

/** Request headers as Node gives them: lowercase names, a string, or an array for repeated ones. */
export type RequestHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/** Response headers: lowercase names; `set-cookie` (and only it, in practice) may be repeated. */
export type ResponseHeaders = Record<string, string | string[]>

/** One header's value as a single string (repeated fields joined with ', ', RFC 9110 §5.3). */
export function headerValue(
  headers: Readonly<Record<string, string | readonly string[] | number | undefined>>,
  name: string,
): string | undefined {
  const value = headers[name]
  if (value === undefined) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'number') return String(value)
  return value.length === 0 ? undefined : value.join(', ')
}

/** Parsed Cache-Control: lowercase directive names; `true` for a directive without a value. */
export type CacheControl = ReadonlyMap<string, string | true>

/**
 * Parses Cache-Control (RFC 9111 §5.2). Directive names are case-insensitive; quoted values are
 * unquoted. A directive repeated with another value is kept with an empty (malformed) value, which
 * {@link deltaSeconds} reads as 0: RFC 9111 §4.2.1 has such a response considered stale, where
 * keeping the last value made `max-age=0, max-age=3600` (two layers each adding one) fresh for an hour.
 */
export function parseCacheControl(value: string | undefined): CacheControl {
  const out = new Map<string, string | true>()
  if (value === undefined) return out
  // A header arrives as a string (Node joins repeated Cache-Control lines); anything else is a caller's bug.
  if (typeof value !== 'string') {
    throw new InvalidOptionError(
      `parseCacheControl(value): the header must be a string; got ${describeValue(value)}.`,
    )
  }
  for (const part of value.split(',')) {
    const eq = part.indexOf('=')
    const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase()
    if (name === '') continue
    const directive =
      eq === -1
        ? true
        : part
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, '')
    const before = out.get(name)
    out.set(name, before === undefined || before === directive ? directive : '')
  }
  return out
}

/** A delta-seconds directive in seconds: absent → undefined, malformed or valueless → 0 (stale). */
export function deltaSeconds(cc: CacheControl, name: string): number | undefined {
  const value = cc.get(name)
  if (value === undefined) return undefined
  if (value === true) return 0
  const n = Number.parseInt(value, 10)
  return Number.isFinite(n) && n > 0 ? n : 0
}

/** A comma-separated list header as lowercase tokens (Vary, Connection). */
export function tokens(value: string | undefined): string[] {
  if (value === undefined) return []
  const out: string[] = []
  for (const part of value.split(',')) {
    const token = part.trim().toLowerCase()
    if (token !== '') out.push(token)
  }
  return out
}

/**
 * Connection-specific headers: never stored and never replayed (RFC 9110 §7.6.1). `date` and
 * `age` are recomputed when a stored response is served; `content-length` from the stored body.
 */
export const NOT_STORED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'date',
  'age',
  'set-cookie',
])

/**
 * Headers a 304 leaves out of the 200 it stands for: the representation's metadata (RFC 9110
 * §15.4.5: the client has the representation; sending its metadata again would only cost bytes)
 * and the framing of a body it does not have. Every other header stays: validators and caching
 * (ETag, Cache-Control, Vary, Date, …), and what the route set for the client — a Set-Cookie, the
 * CORS headers a browser checks on the 304 too — which an allow-list used to drop.
 */
export const NOT_IN_304 = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-range',
  'transfer-encoding',
])
