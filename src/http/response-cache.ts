import { randomBytes, timingSafeEqual } from 'node:crypto'
import { type Cache, type Duration, InvalidOptionError, parseDuration } from '../index.js'
import { HttpPurgeError } from './errors.js'
import { computeEtag, isNotModified } from './etag.js'
import {
  headerValue,
  NOT_MODIFIED_HEADERS,
  NOT_STORED,
  type RequestHeaders,
  type ResponseHeaders,
  tokens,
} from './headers.js'
import { DEFAULT_KEYED_HEADERS, normalizedPath, requestKey } from './key.js'
import type { ResolvedPolicy } from './policy.js'
import {
  ageMs,
  decideStorage,
  STORABLE_STATUSES,
  type Timing,
  type UncacheableReason,
  usability,
} from './semantics.js'

/** Options of the HTTP layer (shared by the Express, Fastify and Hono adapters). */
export interface HttpCacheOptions {
  /** The stratacache instance responses are stored in (its L1, its L2, its tags). */
  cache: Cache
  /** First segment of every response's cache key. Default `'http'`. */
  prefix?: string
  /** Response header telling what the cache did (HIT, MISS, STALE, …), or `false`. Default `'x-cache'`. */
  statusHeader?: string | false
  /** Emit the route's tags as `Surrogate-Key` (Fastly, space-separated) and `Cache-Tag` (Cloudflare, Akamai: comma-separated). Default both. */
  tagHeaders?: { surrogateKey?: boolean; cacheTag?: boolean } | false
  /**
   * Called by {@link HttpCache.invalidateTags} after the tags were invalidated here: send the
   * purge to your CDN (Fastly `POST /service/…/purge` with `Surrogate-Key`, Cloudflare
   * `purge_cache` with `tags`, …). No vendor client is bundled.
   */
  purge?: (tags: readonly string[]) => unknown
  /** Request headers keyed whenever present (anti-poisoning). Default {@link DEFAULT_KEYED_HEADERS}. */
  keyedHeaders?: readonly string[]
  /** Larger bodies are sent but not stored. Default 1 MiB. */
  maxBodyBytes?: number
  /** How long a request waits for an identical one in flight before going to the origin itself. Default `'10s'`. */
  coalesceWait?: Duration
  /** Milliseconds since the epoch; inject a fake to test expiry without sleeping. Default `Date.now`. */
  clock?: () => number
}

/** A request as the core sees it: method, path + query, Node-style lowercase headers. */
export interface HttpRequest {
  readonly method: string
  readonly url: string
  readonly headers: RequestHeaders
}

/** A response as the route produced it (the adapter buffered it). Header names lowercase. */
export interface CapturedResponse {
  readonly status: number
  readonly headers: ResponseHeaders
  readonly body: Uint8Array
}

/** What the cache did with a request (the status header shows it upper-cased). */
export type Outcome = 'hit' | 'stale' | 'stale-if-error' | 'coalesced' | 'miss' | 'bypass' | 'revalidate'

/**
 * The response to send. `body` is null for a 304; for HEAD it is the GET body, which servers
 * leave out (Node's http drops it, Hono strips it) after sizing Content-Length from it.
 */
export interface OutgoingResponse {
  readonly status: number
  readonly headers: ResponseHeaders
  readonly body: Uint8Array | null
  readonly outcome: Outcome
}

/** What the adapter hands the core for one request. */
export interface RequestSource<Req> {
  readonly request: HttpRequest
  /** The framework's request (passed to the policy's `tags` and `user`). */
  readonly context: Req
  /**
   * Sends `replay` through the app in the background (stale-while-revalidate). Without it, a
   * response in its stale-while-revalidate window is refreshed in the foreground (and stands in
   * if that fails).
   */
  readonly revalidate?: ((replay: HttpRequest) => Promise<unknown>) | undefined
}

/** Either a response to send now, or the route must run and its output be given to `exchange.finish`. */
export type Step =
  | { readonly kind: 'respond'; readonly response: OutgoingResponse }
  | { readonly kind: 'origin'; readonly exchange: Exchange }

/** A stored response (the value kept in stratacache: strings and numbers only, so the L1 freezes it). */
export interface StoredResponse extends Timing {
  readonly v: 1
  readonly status: number
  readonly headers: Readonly<Record<string, string | readonly string[]>>
  readonly body: string
  readonly base64: boolean
  /** The Date of the original response: served with `Age`, as a shared cache does. */
  readonly date: string
  readonly tags: readonly string[]
}

export interface HttpCacheStats {
  requests: number
  hits: number
  /** Served stale within stale-while-revalidate (a refresh was started). */
  staleServed: number
  /** Served stale because the origin failed, within stale-if-error. */
  staleIfError: number
  /** Served the response of an identical request that was in flight. */
  coalesced: number
  /** Looked up, not found (or expired): the route ran. */
  misses: number
  /** Not looked up (method, credentials, policy): the route ran. */
  bypassed: number
  stored: number
  /** 304 Not Modified answers (from the cache or from the route's fresh response). */
  notModified: number
  revalidations: number
  revalidationFailures: number
  /** Responses the route produced that were not stored, by reason. */
  uncacheable: Partial<Record<UncacheableReason | 'too-large' | 'invalidated', number>>
  /** stratacache calls that failed (the request was served from the origin). */
  cacheErrors: number
}

export interface HttpCacheEvents {
  /** A background revalidation ended: `ok` when a new response was stored. */
  revalidated: { key: string; ok: boolean; status: number | undefined }
  /** A response was stored. */
  stored: { key: string; tags: readonly string[] }
  /** A stratacache call failed; the request was served anyway. */
  'cache-error': { operation: string; error: unknown }
}

type Listener<E extends keyof HttpCacheEvents> = (event: HttpCacheEvents[E]) => void

/** Header carrying this instance's secret on its own background revalidation requests. */
export const REVALIDATE_HEADER = 'x-stratacache-revalidate'

/** Errors that let a stored response stand in (RFC 5861 §4). */
const ERROR_STATUSES = new Set([500, 502, 503, 504])
/** Request headers a background revalidation leaves out: it must get a full, fresh 200. */
const NOT_REPLAYED = new Set([
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
  'cache-control',
  'pragma',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'expect',
  'upgrade',
])
/** How long local tag invalidations are remembered to stop an in-flight response from being stored after them. */
const INVALIDATION_MEMORY_MS = 60_000
const URL_TAG = 'http-url:'

interface Flight {
  readonly promise: Promise<StoredResponse | undefined>
  readonly resolve: (entry: StoredResponse | undefined) => void
}

/** A stored response past freshness that may stand in for a failed origin until `until`. */
interface Fallback {
  readonly entry: StoredResponse
  readonly until: number
}

interface PendingRevalidation {
  readonly resolve: (result: { ok: boolean; status: number | undefined }) => void
}

/**
 * The framework-free HTTP layer: one instance per app, shared by its routes. Adapters call
 * {@link begin} with a route's resolved policy; it answers from the cache (hit, stale, 304) or
 * hands back an {@link Exchange} whose `finish` turns the route's buffered output into the
 * response to send (headers, ETag, 304, stale-if-error) and stores it when allowed.
 */
export class HttpCache {
  readonly cache: Cache
  readonly #prefix: string
  readonly #statusHeader: string | undefined
  readonly #surrogateKey: boolean
  readonly #cacheTag: boolean
  readonly #purge: ((tags: readonly string[]) => unknown) | undefined
  readonly #keyedHeaders: readonly string[]
  readonly #maxBodyBytes: number
  readonly #coalesceWaitMs: number
  readonly #clock: () => number
  /** Secret of this instance's background revalidation requests (never sent to a client). */
  readonly #token = randomBytes(18).toString('base64url')
  readonly #flights = new Map<string, Flight>()
  readonly #revalidating = new Map<string, PendingRevalidation>()
  readonly #invalidatedAt = new Map<string, number>()
  readonly #keyed = new WeakMap<object, ReadonlySet<string>>()
  readonly #bodies = new WeakMap<StoredResponse, Uint8Array>()
  readonly #tagsByContext = new WeakMap<object, string[]>()
  readonly #listeners: { [E in keyof HttpCacheEvents]: Set<Listener<E>> } = {
    revalidated: new Set(),
    stored: new Set(),
    'cache-error': new Set(),
  }
  readonly #stats: HttpCacheStats = {
    requests: 0,
    hits: 0,
    staleServed: 0,
    staleIfError: 0,
    coalesced: 0,
    misses: 0,
    bypassed: 0,
    stored: 0,
    notModified: 0,
    revalidations: 0,
    revalidationFailures: 0,
    uncacheable: {},
    cacheErrors: 0,
  }

  constructor(options: HttpCacheOptions) {
    if (typeof options !== 'object' || options === null || typeof options.cache?.getOrSet !== 'function') {
      throw new InvalidOptionError(
        'The HTTP cache needs { cache }: a stratacache instance from createCache().',
      )
    }
    this.cache = options.cache
    this.#prefix = options.prefix ?? 'http'
    if (!/^[a-z][a-z0-9_-]*$/.test(this.#prefix)) {
      throw new InvalidOptionError(
        `prefix ${JSON.stringify(this.#prefix)} must be a lowercase name like 'http'.`,
      )
    }
    const status = options.statusHeader ?? 'x-cache'
    if (status !== false && (typeof status !== 'string' || !/^[A-Za-z0-9-]+$/.test(status))) {
      throw new InvalidOptionError('statusHeader must be a header name or false.')
    }
    this.#statusHeader = status === false ? undefined : status.toLowerCase()
    const tagHeaders = options.tagHeaders ?? {}
    this.#surrogateKey = tagHeaders !== false && tagHeaders.surrogateKey !== false
    this.#cacheTag = tagHeaders !== false && tagHeaders.cacheTag !== false
    if (options.purge !== undefined && typeof options.purge !== 'function') {
      throw new InvalidOptionError('purge must be a function (tags) => Promise that purges them at your CDN.')
    }
    this.#purge = options.purge
    const keyed = options.keyedHeaders ?? DEFAULT_KEYED_HEADERS
    if (!Array.isArray(keyed) || keyed.some((h) => typeof h !== 'string' || h === '')) {
      throw new InvalidOptionError('keyedHeaders must be an array of header names.')
    }
    this.#keyedHeaders = keyed.map((h) => h.toLowerCase())
    this.#maxBodyBytes = options.maxBodyBytes ?? 1_048_576
    if (!Number.isInteger(this.#maxBodyBytes) || this.#maxBodyBytes < 0) {
      throw new InvalidOptionError('maxBodyBytes must be an integer ≥ 0.')
    }
    this.#coalesceWaitMs = parseDuration(options.coalesceWait ?? '10s', 'coalesceWait')
    this.#clock = options.clock ?? Date.now
    if (typeof this.#clock !== 'function') throw new InvalidOptionError('clock must be a function.')
  }

  on<E extends keyof HttpCacheEvents>(name: E, listener: Listener<E>): this {
    this.#listeners[name].add(listener)
    return this
  }

  off<E extends keyof HttpCacheEvents>(name: E, listener: Listener<E>): this {
    this.#listeners[name].delete(listener)
    return this
  }

  /** Counters since creation (a copy). */
  stats(): HttpCacheStats {
    return { ...this.#stats, uncacheable: { ...this.#stats.uncacheable } }
  }

  /** Adds tags to the response being produced for `context` (the framework's request), e.g. the products a page lists. */
  addTags(context: object, tags: readonly string[]): void {
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string' || t === '')) {
      throw new InvalidOptionError('tags must be non-empty strings.')
    }
    const list = this.#tagsByContext.get(context)
    if (list === undefined) this.#tagsByContext.set(context, [...tags])
    else list.push(...tags)
  }

  /**
   * Invalidates `tags` in stratacache (every stored response and data entry carrying one, on every
   * instance through the bus), then calls the `purge` hook so the CDN drops them too. Rejects
   * with E_HTTP_PURGE when only the hook failed.
   */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    const at = this.#clock()
    for (const tag of tags) this.#invalidatedAt.set(tag, at)
    this.#forgetOldInvalidations(at)
    await this.cache.invalidateTags(tags)
    if (this.#purge === undefined) return
    try {
      await this.#purge(tags)
    } catch (error) {
      throw new HttpPurgeError(
        `The CDN purge hook failed for ${tags.length} tag(s); stratacache already dropped them. Retry the purge.`,
        tags,
        { cause: error },
      )
    }
  }

  /** Drops every stored variant of a path (all query strings, Vary values and users). Local only: CDNs purge URLs through their own API. */
  async purgeUrl(url: string): Promise<void> {
    const tag = URL_TAG + normalizedPath(url)
    this.#invalidatedAt.set(tag, this.#clock())
    await this.cache.invalidateTags([tag])
  }

  /**
   * First half of a request: the response to send now (fresh or stale hit, 304), or an
   * {@link Exchange} when the route must run.
   */
  async begin<Req>(policy: ResolvedPolicy<Req>, source: RequestSource<Req>): Promise<Step> {
    this.#stats.requests++
    const { request } = source
    const method = request.method.toUpperCase()
    const headers = request.headers
    const marker = headerValue(headers, REVALIDATE_HEADER)
    const revalidation = marker !== undefined && this.#isOwnToken(marker)

    const bypass = (): Step => {
      this.#stats.bypassed++
      return this.#origin(policy, source, method, undefined, 'bypass', undefined, undefined, undefined)
    }
    if (method !== 'GET' && method !== 'HEAD') return bypass()
    // A GET with a body ("fat GET") may be answered from its body, which is not keyed.
    if (hasBody(headers)) return bypass()
    if (!policy.store || policy.noStore || (policy.private && policy.user === undefined)) return bypass()
    const credentials = headers.authorization !== undefined || headers.cookie !== undefined
    let user: string | undefined
    if (policy.user !== undefined) {
      user = credentials ? policy.user(source.context) : '-'
      if (user === undefined) return bypass()
      if (typeof user !== 'string') {
        throw new InvalidOptionError('policy.user must return a string (the user id) or undefined.')
      }
    } else if (credentials) {
      return bypass()
    }
    const key = requestKey(
      this.#prefix,
      'GET',
      request.url,
      headers,
      policy.vary,
      this.#keyedHeaders,
      policy.user === undefined ? undefined : user,
    )
    if (revalidation)
      return this.#origin(policy, source, method, key, 'revalidate', undefined, undefined, undefined)

    const stored = await this.#read(key)
    let fallback: Fallback | undefined
    if (stored !== undefined) {
      const now = this.#clock()
      const use = usability(stored, now)
      if (use === 'fresh') {
        this.#stats.hits++
        return { kind: 'respond', response: this.#serveStored(stored, method, headers, 'hit', now) }
      }
      if (use === 'stale-while-revalidate' && source.revalidate !== undefined) {
        this.#stats.staleServed++
        this.#revalidateInBackground(key, source.revalidate, source.request)
        return { kind: 'respond', response: this.#serveStored(stored, method, headers, 'stale', now) }
      }
      // Past freshness: the route runs, and the stored response stands in if it fails, within
      // stale-if-error (or within stale-while-revalidate when that could not run in the background).
      const until =
        stored.storedAt -
        stored.initialAgeMs +
        stored.freshMs +
        Math.max(stored.staleIfErrorMs, use === 'stale-while-revalidate' ? stored.staleWhileRevalidateMs : 0)
      if (use !== 'expired') fallback = { entry: stored, until }
    }

    // Identical GETs in flight share one origin call; HEAD never leads (it stores nothing).
    const flight = this.#flights.get(key)
    if (flight !== undefined) {
      const entry = await this.#wait(flight)
      if (entry !== undefined) {
        this.#stats.coalesced++
        const now = this.#clock()
        const outcome = entry === fallback?.entry ? 'stale-if-error' : 'coalesced'
        return { kind: 'respond', response: this.#serveStored(entry, method, headers, outcome, now) }
      }
      this.#stats.misses++
      return this.#origin(policy, source, method, key, 'miss', fallback, undefined, user)
    }
    this.#stats.misses++
    let leader: Flight | undefined
    if (method === 'GET') {
      let resolve!: (entry: StoredResponse | undefined) => void
      const promise = new Promise<StoredResponse | undefined>((r) => {
        resolve = r
      })
      leader = { promise, resolve }
      this.#flights.set(key, leader)
    }
    return this.#origin(policy, source, method, key, 'miss', fallback, leader, user)
  }

  #origin<Req>(
    policy: ResolvedPolicy<Req>,
    source: RequestSource<Req>,
    method: string,
    key: string | undefined,
    outcome: 'miss' | 'bypass' | 'revalidate',
    fallback: Fallback | undefined,
    flight: Flight | undefined,
    user: string | undefined,
  ): Step {
    return {
      kind: 'origin',
      exchange: new Exchange(this, {
        policy: policy as ResolvedPolicy<unknown>,
        source: source as RequestSource<unknown>,
        method,
        key,
        outcome,
        fallback,
        flight,
        perUser: policy.user !== undefined && user !== undefined,
        credentials:
          source.request.headers.authorization !== undefined || source.request.headers.cookie !== undefined,
        startedAt: this.#clock(),
      }),
    }
  }

  /** Second half: turns the route's output into the response to send, storing it when allowed. */
  async finish(state: ExchangeState, captured: CapturedResponse): Promise<OutgoingResponse> {
    const { policy, source, method, key, outcome, fallback, flight } = state
    const request = source.request
    const headers: ResponseHeaders = { ...captured.headers }
    const status = captured.status
    const body = captured.body
    const shareable = STORABLE_STATUSES.has(status)
    if (shareable && headers['cache-control'] === undefined) {
      headers['cache-control'] =
        // A response to a request with credentials may be personal: no shared cache (a CDN
        // included, which RFC 9111 §3.5 would let store it under s-maxage) may keep it.
        policy.user !== undefined || state.credentials
          ? policy.privateCacheControl
          : policy.sharedCacheControl
    }
    if (policy.varyHeader !== undefined) headers.vary = mergeVary(headerValue(headers, 'vary'), policy.vary)
    if (policy.etag !== false && status === 200 && headers.etag === undefined && method === 'GET') {
      headers.etag = computeEtag(body, policy.etag === 'weak')
    }
    const tags = [
      ...policy.tags(source.context),
      ...(this.#tagsByContext.get(source.context as object) ?? []),
    ]
    const cc = headerValue(headers, 'cache-control') ?? ''
    if (tags.length > 0 && shareable && !/\b(private|no-store)\b/i.test(cc)) {
      if (this.#surrogateKey) headers['surrogate-key'] = tags.map(tagToken).join(' ')
      if (this.#cacheTag) headers['cache-tag'] = tags.map(tagToken).join(',')
    }

    // The origin failed and a stored response may stand in (stale-if-error, RFC 5861 §4).
    if (ERROR_STATUSES.has(status) && fallback !== undefined && outcome !== 'revalidate') {
      const now = this.#clock()
      if (now < fallback.until) {
        this.#stats.staleIfError++
        flight?.resolve(fallback.entry)
        this.#endFlight(key, flight)
        return this.#serveStored(fallback.entry, method, request.headers, 'stale-if-error', now)
      }
    }

    let entry: StoredResponse | undefined
    if (key !== undefined && outcome !== 'bypass' && method === 'GET') {
      entry = await this.#maybeStore(state, status, headers, body, tags)
    }
    flight?.resolve(entry)
    this.#endFlight(key, flight)
    if (outcome === 'revalidate' && key !== undefined) {
      const pending = this.#revalidating.get(key)
      pending?.resolve({ ok: entry !== undefined, status })
    }

    if (this.#statusHeader !== undefined) headers[this.#statusHeader] = outcome.toUpperCase()
    if (isNotModified(method, request.headers, status, headers)) {
      this.#stats.notModified++
      return { status: 304, headers: notModifiedHeaders(headers, this.#statusHeader), body: null, outcome }
    }
    return { status, headers, body, outcome }
  }

  /** The route did not finish (client gone, handler threw past the framework): waiters go to the origin. */
  abandon(state: ExchangeState): void {
    state.flight?.resolve(undefined)
    this.#endFlight(state.key, state.flight)
    if (state.outcome === 'revalidate' && state.key !== undefined) {
      this.#revalidating.get(state.key)?.resolve({ ok: false, status: undefined })
    }
  }

  async #maybeStore(
    state: ExchangeState,
    status: number,
    headers: ResponseHeaders,
    body: Uint8Array,
    tags: readonly string[],
  ): Promise<StoredResponse | undefined> {
    const key = state.key as string
    const decision = decideStorage(
      { method: 'GET', headers: state.source.request.headers },
      { status, headers },
      { keyed: this.#keyedSet(state.policy), perUser: state.perUser },
    )
    if (!decision.storable) {
      this.#count(decision.reason)
      // The origin now says "do not keep this": the old copy must not outlive that.
      if (state.outcome === 'revalidate' && !ERROR_STATUSES.has(status)) await this.#delete(key)
      return undefined
    }
    if (body.byteLength > this.#maxBodyBytes) {
      this.#count('too-large')
      return undefined
    }
    const urlTag = URL_TAG + normalizedPath(state.source.request.url)
    const allTags = [...new Set([...tags, urlTag])]
    // A tag invalidated while this response was being produced: it may predate the change.
    if (allTags.some((t) => (this.#invalidatedAt.get(t) ?? Number.NEGATIVE_INFINITY) >= state.startedAt)) {
      this.#count('invalidated')
      return undefined
    }
    const storedHeaders: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(headers)) {
      if (!NOT_STORED.has(name) && name !== this.#statusHeader) storedHeaders[name] = value
    }
    const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
    const utf8 = text.toString('utf8')
    const base64 = !Buffer.from(utf8, 'utf8').equals(text)
    const now = this.#clock()
    const entry: StoredResponse = {
      v: 1,
      status,
      headers: storedHeaders,
      body: base64 ? text.toString('base64') : utf8,
      base64,
      date: headerValue(headers, 'date') ?? new Date(now).toUTCString(),
      tags: allTags,
      storedAt: now,
      initialAgeMs: decision.initialAgeMs,
      freshMs: decision.freshMs,
      staleWhileRevalidateMs: decision.staleWhileRevalidateMs,
      staleIfErrorMs: decision.staleIfErrorMs,
    }
    const windowMs = decision.freshMs + Math.max(decision.staleWhileRevalidateMs, decision.staleIfErrorMs)
    try {
      // Kept a little longer than its last usable moment: the cache's TTL jitter must not cut
      // the stale windows short (freshness is judged from storedAt, not from the cache's TTL).
      await this.cache.set(key, entry, { ttl: Math.ceil(windowMs * 1.25) + 1000, tags: allTags })
    } catch (error) {
      this.#cacheError('set', error)
      return undefined
    }
    this.#bodies.set(entry, new Uint8Array(text))
    this.#stats.stored++
    this.#emit('stored', { key, tags: allTags })
    return entry
  }

  #serveStored(
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
      this.#stats.notModified++
      return { status: 304, headers: notModifiedHeaders(headers, this.#statusHeader), body: null, outcome }
    }
    const body = this.#bodyOf(entry)
    headers['content-length'] = String(body.byteLength)
    return { status: entry.status, headers, body, outcome }
  }

  /** The stored body as bytes, decoded once per stored object (the L1 hands out the same frozen object on every hit). */
  #bodyOf(entry: StoredResponse): Uint8Array {
    let body = this.#bodies.get(entry)
    if (body === undefined) {
      body = new Uint8Array(Buffer.from(entry.body, entry.base64 ? 'base64' : 'utf8'))
      this.#bodies.set(entry, body)
    }
    return body
  }

  #revalidateInBackground(
    key: string,
    revalidate: (replay: HttpRequest) => Promise<unknown>,
    request: HttpRequest,
  ): void {
    if (this.#revalidating.has(key)) return
    this.#stats.revalidations++
    const headers: Record<string, string | readonly string[]> = {}
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !NOT_REPLAYED.has(name)) headers[name] = value
    }
    headers[REVALIDATE_HEADER] = this.#token
    let timer: NodeJS.Timeout | undefined
    const done = new Promise<{ ok: boolean; status: number | undefined }>((resolve) => {
      this.#revalidating.set(key, { resolve })
      // The replay may never reach the route (another middleware answered it): do not wait forever.
      timer = setTimeout(
        () => resolve({ ok: false, status: undefined }),
        Math.max(this.#coalesceWaitMs, 1000),
      )
      timer.unref()
    })
    revalidate({ method: 'GET', url: request.url, headers }).catch((error: unknown) => {
      this.#cacheError('revalidate', error)
      this.#revalidating.get(key)?.resolve({ ok: false, status: undefined })
    })
    void done.then((result) => {
      clearTimeout(timer)
      this.#revalidating.delete(key)
      if (!result.ok) this.#stats.revalidationFailures++
      this.#emit('revalidated', { key, ok: result.ok, status: result.status })
    })
  }

  async #read(key: string): Promise<StoredResponse | undefined> {
    try {
      const value = await this.cache.get<StoredResponse>(key)
      return value !== undefined && value !== null && value.v === 1 ? value : undefined
    } catch (error) {
      this.#cacheError('get', error)
      return undefined
    }
  }

  async #delete(key: string): Promise<void> {
    try {
      await this.cache.delete(key)
    } catch (error) {
      this.#cacheError('delete', error)
    }
  }

  #wait(flight: Flight): Promise<StoredResponse | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), this.#coalesceWaitMs)
      timer.unref()
    })
    return Promise.race([flight.promise, timeout]).finally(() => clearTimeout(timer))
  }

  #endFlight(key: string | undefined, flight: Flight | undefined): void {
    if (key !== undefined && flight !== undefined && this.#flights.get(key) === flight)
      this.#flights.delete(key)
  }

  #keyedSet(policy: ResolvedPolicy<unknown>): ReadonlySet<string> {
    let set = this.#keyed.get(policy)
    if (set === undefined) {
      set = new Set([...policy.vary, ...this.#keyedHeaders])
      this.#keyed.set(policy, set)
    }
    return set
  }

  #isOwnToken(value: string): boolean {
    const a = Buffer.from(value)
    const b = Buffer.from(this.#token)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  #forgetOldInvalidations(now: number): void {
    if (this.#invalidatedAt.size < 1000) return
    for (const [tag, at] of this.#invalidatedAt)
      if (now - at > INVALIDATION_MEMORY_MS) this.#invalidatedAt.delete(tag)
  }

  #count(reason: UncacheableReason | 'too-large' | 'invalidated'): void {
    this.#stats.uncacheable[reason] = (this.#stats.uncacheable[reason] ?? 0) + 1
  }

  #cacheError(operation: string, error: unknown): void {
    this.#stats.cacheErrors++
    this.#emit('cache-error', { operation, error })
  }

  #emit<E extends keyof HttpCacheEvents>(name: E, event: HttpCacheEvents[E]): void {
    for (const listener of this.#listeners[name]) {
      try {
        ;(listener as Listener<E>)(event)
      } catch {
        // A listener's bug must not break a response.
      }
    }
  }
}

/** Everything an exchange carries between `begin` and `finish`. */
export interface ExchangeState {
  readonly policy: ResolvedPolicy<unknown>
  readonly source: RequestSource<unknown>
  readonly method: string
  readonly key: string | undefined
  readonly outcome: 'miss' | 'bypass' | 'revalidate'
  readonly fallback: Fallback | undefined
  readonly flight: Flight | undefined
  readonly perUser: boolean
  /** The request carried Authorization or Cookie. */
  readonly credentials: boolean
  readonly startedAt: number
}

/** One request on its way through the route: finish it with the route's output, or abandon it. Idempotent. */
export class Exchange {
  readonly #http: HttpCache
  readonly #state: ExchangeState
  #settled = false

  constructor(http: HttpCache, state: ExchangeState) {
    this.#http = http
    this.#state = state
  }

  /** Whether this request is this instance's own background revalidation (its response goes nowhere). */
  get revalidation(): boolean {
    return this.#state.outcome === 'revalidate'
  }

  finish(captured: CapturedResponse): Promise<OutgoingResponse> {
    if (this.#settled) throw new InvalidOptionError('This exchange was already finished or abandoned.')
    this.#settled = true
    return this.#http.finish(this.#state, captured).catch((error: unknown) => {
      this.#http.abandon(this.#state)
      throw error
    })
  }

  abandon(): void {
    if (this.#settled) return
    this.#settled = true
    this.#http.abandon(this.#state)
  }
}

function hasBody(headers: RequestHeaders): boolean {
  const length = headerValue(headers, 'content-length')
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined
}

function mergeVary(existing: string | undefined, names: readonly string[]): string {
  const all = tokens(existing)
  if (all.includes('*')) return '*'
  for (const name of names) if (!all.includes(name)) all.push(name)
  return all.join(', ')
}

/** The headers of a 304: those RFC 9110 §15.4.5 lists (plus Age, tags and the status header). */
function notModifiedHeaders(headers: ResponseHeaders, statusHeader: string | undefined): ResponseHeaders {
  const out: ResponseHeaders = {}
  for (const [name, value] of Object.entries(headers)) {
    if (NOT_MODIFIED_HEADERS.has(name) || name === statusHeader) out[name] = value
  }
  return out
}

/** A tag as one token of Surrogate-Key / Cache-Tag: whitespace, ',' and '%' percent-escaped. */
export function tagToken(tag: string): string {
  return tag.replace(/[\s,%]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0').toUpperCase()}`)
}
