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
 * Parses Cache-Control (RFC 9111 §5.2). Directive names are case-insensitive. A value is a token
 * or a quoted string (RFC 9110 §5.6.4): commas inside the quotes belong to it (`private="set-cookie,
 * x-user"` is one directive, where splitting on every comma once made `ext="a, s-maxage=3600"` a
 * lifetime of an hour), a quoted-pair (`\"`) stands for the character after its backslash, and the
 * value is returned unquoted. A directive repeated with another value is kept with an empty
 * (malformed) value, which {@link deltaSeconds} reads as 0: RFC 9111 §4.2.1 has such a response
 * considered stale, where keeping the last value made `max-age=0, max-age=3600` (two layers each
 * adding one) fresh for an hour.
 *
 * Fails safe on a header it cannot read (an unterminated quoted string, anything but a comma after
 * a closing quote, a quote inside a token): where its value ends cannot be told, so that directive
 * and every one after it are kept with an empty (malformed) value. A `no-store`, `private` or
 * `no-cache` there still counts; a lifetime there reads as 0, never as one text meant to be quoted
 * could grant.
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
  const add = (name: string, directive: string | true): void => {
    if (name === '') return
    const before = out.get(name)
    out.set(name, before === undefined || before === directive ? directive : '')
  }
  const unreadable = (name: string, rest: string): CacheControl => {
    add(name, '')
    for (const part of rest.split(',')) {
      const eq = part.indexOf('=')
      add(lowerTrim(eq === -1 ? part : part.slice(0, eq)), '')
    }
    return out
  }
  let at = 0
  while (at < value.length) {
    let end = at
    while (end < value.length && value[end] !== ',' && value[end] !== '=') end++
    const name = lowerTrim(value.slice(at, end))
    if (value[end] !== '=') {
      add(name, true)
      at = end + 1
      continue
    }
    let start = end + 1
    while (value[start] === ' ' || value[start] === '\t') start++
    if (value[start] !== '"') {
      const comma = value.indexOf(',', start)
      const stop = comma === -1 ? value.length : comma
      const token = value.slice(start, stop)
      const quote = token.indexOf('"')
      if (quote !== -1) return unreadable(name, value.slice(start + quote + 1))
      add(name, token.trim())
      at = stop + 1
      continue
    }
    const quoted = readQuoted(value, start)
    if (quoted === undefined) return unreadable(name, value.slice(start + 1))
    let after = quoted.end
    while (value[after] === ' ' || value[after] === '\t') after++
    if (after < value.length && value[after] !== ',') return unreadable(name, value.slice(after))
    add(name, quoted.text)
    at = after + 1
  }
  return out
}

function lowerTrim(text: string): string {
  return text.trim().toLowerCase()
}

/**
 * The quoted string opening at `open` (RFC 9110 §5.6.4): its text with each quoted-pair replaced by
 * the character after the backslash, and the index after its closing quote; undefined when it is
 * never closed.
 */
function readQuoted(value: string, open: number): { text: string; end: number } | undefined {
  let text = ''
  let i = open + 1
  while (i < value.length) {
    const c = value[i]
    if (c === '"') return { text, end: i + 1 }
    if (c === '\\') {
      if (i + 1 >= value.length) return undefined
      text += value[i + 1]
      i += 2
    } else {
      text += c
      i++
    }
  }
  return undefined
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
