import { isNotModified } from './etag.js'
import {
  headerValue,
  NOT_IN_304,
  NOT_STORED,
  type RequestHeaders,
  type ResponseHeaders,
  tokens,
} from './headers.js'
import { ageMs, type Timing } from './semantics.js'
import type { Outcome, OutgoingResponse, StoredResponse } from './types.js'

/**
 * Stored responses, both ways: the entry kept in stratacache for a route's response, and the
 * response to send for a stored entry (Age, the status header, 304). Bodies are decoded once per
 * stored object: the L1 hands out the same frozen object on every hit.
 */
export class StoredResponses {
  readonly #statusHeader: string | undefined
  readonly #bodies = new WeakMap<StoredResponse, Uint8Array>()

  /** `statusHeader`: the header telling what the cache did (never stored), lower-cased, if any. */
  constructor(statusHeader: string | undefined) {
    this.#statusHeader = statusHeader
  }

  /** The entry to keep for a response (text bodies as text, others as base64). */
  create(
    status: number,
    headers: ResponseHeaders,
    body: Uint8Array,
    timing: Omit<Timing, 'storedAt'>,
    tags: readonly string[],
    now: number,
  ): StoredResponse {
    const storedHeaders: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(headers)) {
      if (!NOT_STORED.has(name) && name !== this.#statusHeader) storedHeaders[name] = value
    }
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    const utf8 = text.toString('utf8')
    const base64 = !Buffer.from(utf8, 'utf8').equals(text)
    const entry: StoredResponse = {
      v: 1,
      status,
      headers: storedHeaders,
      body: base64 ? text.toString('base64') : utf8,
      base64,
      date: headerValue(headers, 'date') ?? new Date(now).toUTCString(),
      tags,
      storedAt: now,
      initialAgeMs: timing.initialAgeMs,
      freshMs: timing.freshMs,
      staleWhileRevalidateMs: timing.staleWhileRevalidateMs,
      staleIfErrorMs: timing.staleIfErrorMs,
    }
    this.#bodies.set(entry, new Uint8Array(text))
    return entry
  }

  /** The response for a stored entry: its headers with Date and Age, or a 304 when the request's validators match. */
  serve(
    entry: StoredResponse,
    method: string,
    requestHeaders: RequestHeaders,
    outcome: Outcome,
    now: number,
  ): OutgoingResponse {
    const headers: ResponseHeaders = {}
    for (const [name, value] of Object.entries(entry.headers)) {
      headers[name] = typeof value === 'string' ? value : [...value]
    }
    headers.date = entry.date
    headers.age = String(Math.floor(ageMs(entry, now) / 1000))
    if (this.#statusHeader !== undefined) headers[this.#statusHeader] = outcome.toUpperCase()
    if (isNotModified(method, requestHeaders, entry.status, headers)) {
      return { status: 304, headers: notModifiedHeaders(headers), body: null, outcome }
    }
    const body = this.#bodyOf(entry)
    headers['content-length'] = String(body.byteLength)
    return { status: entry.status, headers, body, outcome }
  }

  #bodyOf(entry: StoredResponse): Uint8Array {
    let body = this.#bodies.get(entry)
    if (body === undefined) {
      body = new Uint8Array(Buffer.from(entry.body, entry.base64 ? 'base64' : 'utf8'))
      this.#bodies.set(entry, body)
    }
    return body
  }
}

/** The headers of a 304: the 200's, without the representation's metadata (see NOT_IN_304). */
export function notModifiedHeaders(headers: ResponseHeaders): ResponseHeaders {
  const out: ResponseHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (!NOT_IN_304.has(name)) out[name] = value
  }
  return out
}

/**
 * `cacheControl` as no shared cache may keep it: `private` first, without the directives only a
 * shared cache reads (`public`, `s-maxage`, `proxy-revalidate`). As is when it says `private` or
 * `no-store` already.
 */
export function privateCacheControl(cacheControl: string): string {
  if (/\b(private|no-store)\b/i.test(cacheControl)) return cacheControl
  const kept = cacheControl
    .split(',')
    .map((d) => d.trim())
    .filter((d) => d !== '' && !/^(public|s-maxage|proxy-revalidate)\b/i.test(d))
  return ['private', ...kept].join(', ')
}

/** The response's Vary with `names` added (`*` stays alone). */
export function mergeVary(existing: string | undefined, names: readonly string[]): string {
  const all = tokens(existing)
  if (all.includes('*')) return '*'
  for (const name of names) if (!all.includes(name)) all.push(name)
  return all.join(', ')
}

/**
 * A tag as one token of Surrogate-Key / Cache-Tag: every character but visible ASCII, and ',' and
 * '%', percent-escaped as its UTF-8 bytes. Tags are often built from the request (a path segment),
 * and a header value may hold no control character (a NUL, CR or LF) nor anything past U+00FF:
 * `/products/%00` made the response fail with a 500 when its tag was written raw.
 */
export function tagToken(tag: string): string {
  return tag.replace(/[^\x21-\x24\x26-\x2b\x2d-\x7e]/gu, (c) => {
    let escaped = ''
    // (A lone surrogate becomes U+FFFD's bytes, as Buffer encodes it.)
    for (const byte of Buffer.from(c, 'utf8'))
      escaped += `%${byte.toString(16).padStart(2, '0').toUpperCase()}`
    return escaped
  })
}
