import { timerMs } from '../base/clock.js'
import { describeValue } from '../base/describe.js'
import { Emitter } from '../base/emitter.js'
import { SingleFlight } from '../coordination/single-flight.js'
import { type Cache, type InvalidationEvent, InvalidOptionError, TooManyTagsError } from '../index.js'
import { HTTP_DEFAULTS } from './defaults.js'
import { HttpPurgeError } from './errors.js'
import { computeEtag, isNotModified } from './etag.js'
import { Exchange, type ExchangeState, type Fallback, type Flight, newFlight, type Step } from './exchange.js'
import { headerValue, type RequestHeaders, type ResponseHeaders } from './headers.js'
import { HitForPass, passes } from './hit-for-pass.js'
import { RecentInvalidations } from './invalidations.js'
import { purgeTarget, requestKey, URL_TAG, urlTag } from './key.js'
import { type ResolvedHttpCacheOptions, resolveHttpCacheOptions } from './options.js'
import type { ResolvedPolicy } from './policy.js'
import { BackgroundRevalidations, REVALIDATE_HEADER } from './revalidation.js'
import {
  decideStorage,
  requestAllowsStored,
  requestCacheControl,
  STORABLE_STATUSES,
  type UncacheableReason,
  usability,
} from './semantics.js'
import { mergeVary, notModifiedHeaders, StoredResponses, tagToken } from './stored.js'
import type {
  CapturedResponse,
  HttpCacheEvents,
  HttpCacheOptions,
  HttpCacheStats,
  Outcome,
  OutgoingResponse,
  RequestSource,
  StoredResponse,
} from './types.js'

type Listener<E extends keyof HttpCacheEvents> = (event: HttpCacheEvents[E]) => void

/** Methods that do not change the resource (RFC 9110 §9.2.1): any other invalidates its URL. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** Errors that let a stored response stand in (RFC 5861 §4). */
const ERROR_STATUSES = new Set([500, 502, 503, 504])

/**
 * Whether `body` is the whole representation, as the ETag is computed from: always for a GET; for
 * a HEAD only when the framework handed it over (Fastify and Hono do; Express's `res.send` does
 * under its adapter, a route that ends a HEAD itself may not), so a HEAD that ran the route
 * carries the GET's ETag (RFC 9110 §9.3.2) and never one of an empty body.
 */
function hasWholeBody(method: string, body: Uint8Array, headers: ResponseHeaders): boolean {
  if (method === 'GET') return true
  if (method !== 'HEAD' || body.byteLength === 0) return false
  const length = headerValue(headers, 'content-length')
  return length === undefined || Number(length) === body.byteLength
}

/**
 * The framework-free HTTP layer: one instance per app, shared by its routes. Adapters call
 * {@link begin} with a route's resolved policy; it answers from the cache (hit, stale, 304) or
 * hands back an {@link Exchange} whose `finish` turns the route's buffered output into the
 * response to send (headers, ETag, 304, stale-if-error) and stores it when allowed. Identical
 * GETs in flight share one origin call (the core's {@link SingleFlight}); events go through the
 * core's {@link Emitter}.
 */
export class HttpCache {
  readonly cache: Cache
  readonly #options: ResolvedHttpCacheOptions
  readonly #clock: () => number
  /** Identical GETs in flight: the leader's response, shared with those that arrive meanwhile. */
  readonly #flights = new SingleFlight<StoredResponse | undefined>()
  /** Keys whose last response could not be stored: their requests do not wait for one another. */
  readonly #passes = new HitForPass()
  readonly #revalidations: BackgroundRevalidations
  readonly #invalidations = new RecentInvalidations(HTTP_DEFAULTS.invalidationMemoryMs)
  readonly #stored: StoredResponses
  readonly #keyed = new WeakMap<object, ReadonlySet<string>>()
  readonly #tagsByContext = new WeakMap<object, string[]>()
  /** The tag arrays of this instance's own invalidateTags calls in progress, and their purge once started. */
  readonly #ownCalls = new WeakMap<readonly string[], Promise<unknown> | undefined>()
  readonly #events = new Emitter<HttpCacheEvents>()
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
    this.#options = resolveHttpCacheOptions(options)
    this.cache = this.#options.cache
    this.#clock = this.#options.clock
    this.#stored = new StoredResponses(this.#options.statusHeader)
    this.#revalidations = new BackgroundRevalidations({
      waitMs: Math.max(this.#options.coalesceWaitMs, 1000),
      onError: (error) => this.#cacheError('revalidate', error),
      onDone: (key, result) => {
        if (!result.ok) this.#stats.revalidationFailures++
        this.#events.emit('revalidated', { key, ok: result.ok, status: result.status })
      },
    })
    this.cache.on('invalidate', (event) => this.#heard(event))
  }

  /**
   * Every invalidation the cache makes or hears: tags and clears are remembered (a page produced
   * since is not stored), and the CDN is purged of the tags this instance invalidated — once per
   * invalidation, whichever API made it (the others hear it with origin 'remote' and do not purge).
   */
  #heard(event: InvalidationEvent): void {
    if (event.kind === 'clear') this.#invalidations.cleared(event.at)
    if (event.kind !== 'tags') return
    this.#invalidations.note(event.tags, event.at)
    const purge = this.#options.purge
    if (event.origin !== 'local' || purge === undefined) return
    // URL tags are this layer's own (purgeUrl); a CDN never saw them.
    const tags = event.tags.filter((t) => !t.startsWith(URL_TAG))
    if (tags.length === 0) return
    const purging = Promise.resolve()
      .then(() => purge(tags))
      .then(
        () => undefined,
        (error: unknown) => ({ error }),
      )
    if (this.#ownCalls.has(event.tags)) {
      this.#ownCalls.set(event.tags, purging)
      return
    }
    void purging.then((failed) => {
      if (failed !== undefined) this.#cacheError('purge', failed.error)
    })
  }

  on<E extends keyof HttpCacheEvents>(name: E, listener: Listener<E>): this {
    this.#events.on(name, listener)
    return this
  }

  off<E extends keyof HttpCacheEvents>(name: E, listener: Listener<E>): this {
    this.#events.off(name, listener)
    return this
  }

  /** The largest body stored (the `maxBodyBytes` option): adapters stream a longer one through. */
  get maxBodyBytes(): number {
    return this.#options.maxBodyBytes
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
    // The purge is started by the cache's 'invalidate' event (#heard), as for cache.invalidateTags;
    // this call waits for it and reports its failure.
    if (!Array.isArray(tags)) {
      throw new InvalidOptionError(
        `invalidateTags(tags): the tags must be an array of strings; got ${describeValue(tags)}.`,
      )
    }
    // This call's own array: the cache's event carries it back, and two calls with one array
    // (a constant list) must not take each other's purge (one failure was reported to neither).
    const own = [...tags]
    this.#ownCalls.set(own, undefined)
    let purging: Promise<unknown> | undefined
    try {
      await this.cache.invalidateTags(own)
    } finally {
      purging = this.#ownCalls.get(own)
      this.#ownCalls.delete(own)
    }
    const failed = (await purging) as { error: unknown } | undefined
    if (failed === undefined) return
    throw new HttpPurgeError(
      `The CDN purge hook failed for ${tags.length} tag(s); stratacache already dropped them. Retry the purge.`,
      tags,
      { cause: failed.error },
    )
  }

  /**
   * Drops every stored variant of a path (all query strings, Vary values, users and hosts): `url`
   * is the path (`/products/42`) or a full http(s) URL; anything else rejects with
   * E_INVALID_OPTION ({@link purgeTarget}). Local only: CDNs purge URLs through their own API.
   */
  async purgeUrl(url: string): Promise<void> {
    await this.cache.invalidateTags([urlTag(purgeTarget(url))])
  }

  /**
   * First half of a request: the response to send now (fresh or stale hit, 304), or an
   * {@link Exchange} when the route must run.
   *
   * The request's own directives (RFC 9111 §5.2.1) are obeyed (unless `requestDirectives:
   * 'ignore'`): `no-cache` (or `Pragma: no-cache` without Cache-Control) and a `max-age` the stored
   * response is older than send it to the route,
   * as a miss: its response replaces the stored one, and the stored one stands in if the route
   * fails, within stale-if-error (or while fresh). Identical requests in flight still share one
   * route call, so a burst of reloads runs the route once at a time. `no-store` lets a stored
   * response be used but keeps this exchange's out of the cache: not stored, and not handed to
   * identical requests waiting on it (they do not wait on it).
   */
  async begin<Req>(policy: ResolvedPolicy<Req>, source: RequestSource<Req>): Promise<Step> {
    this.#stats.requests++
    const { request } = source
    // An empty target was read as '/': an unsafe method on it dropped the home page's copies.
    if (typeof request.url !== 'string' || request.url === '') {
      throw new InvalidOptionError(
        `begin(policy, source): source.request.url must be the request target as sent ('/path?query'); got ${describeValue(request.url)}.`,
      )
    }
    const method = request.method.toUpperCase()
    const headers = request.headers
    const revalidation = this.#revalidations.isOwn(headerValue(headers, REVALIDATE_HEADER))

    const bypass = (): Step => {
      this.#stats.bypassed++
      return this.#origin(policy, source, method, undefined, 'bypass', undefined, undefined, undefined)
    }
    if (method !== 'GET' && method !== 'HEAD') return bypass()
    // A GET with a body ("fat GET") may be answered from its body, which is not keyed.
    if (hasBody(headers)) return bypass()
    if (!policy.store || policy.noStore || (policy.private && policy.user === undefined)) return bypass()
    const credentials = headers.authorization !== undefined || headers.cookie !== undefined
    // null: an anonymous visitor of a per-user route (see requestKey).
    let user: string | null | undefined
    if (policy.user !== undefined) {
      user = null
      if (credentials) {
        const id: unknown = policy.user(source.context)
        if (id === undefined) return bypass()
        if (typeof id !== 'string') {
          throw new InvalidOptionError('policy.user must return a string (the user id) or undefined.')
        }
        user = id
      }
    } else if (credentials) {
      return bypass()
    }
    const key = requestKey(
      this.#options.prefix,
      'GET',
      request.url,
      headers,
      policy.vary,
      this.#options.keyedHeaders,
      policy.user === undefined ? undefined : user,
      request.origin,
    )
    // With its user: a per-user entry's refresh is judged as that user's (private, credentials),
    // not as a shared response, which would be refused and the entry deleted.
    if (revalidation)
      return this.#origin(policy, source, method, key, 'revalidate', undefined, undefined, user)

    const requestCc = requestCacheControl(headers)
    const stored = await this.#read(key)
    const now = this.#clock()
    let fallback: Fallback | undefined
    if (stored !== undefined) {
      const use = usability(stored, now)
      const allowed = !this.#options.obeyRequestDirectives || requestAllowsStored(requestCc, stored, now)
      if (use === 'fresh' && allowed) {
        this.#stats.hits++
        return this.#respond(stored, method, headers, 'hit', now)
      }
      if (use === 'stale-while-revalidate' && allowed && source.revalidate !== undefined) {
        this.#stats.staleServed++
        const waitUntil = source.waitUntil ?? this.#options.waitUntil
        if (this.#revalidations.start(key, source.revalidate, source.request, waitUntil))
          this.#stats.revalidations++
        return this.#respond(stored, method, headers, 'stale', now)
      }
      // Past freshness (or refused by the request): the route runs, and the stored response stands
      // in if it fails, while fresh or within stale-if-error (or within stale-while-revalidate when
      // that could not run in the background).
      const until =
        stored.storedAt -
        stored.initialAgeMs +
        stored.freshMs +
        Math.max(stored.staleIfErrorMs, use === 'stale-while-revalidate' ? stored.staleWhileRevalidateMs : 0)
      if (use !== 'expired') fallback = { entry: stored, until }
    }

    // The last response for this key could not be stored: nothing to wait for (hit-for-pass).
    if (this.#passes.has(key, now)) {
      this.#stats.misses++
      return this.#origin(policy, source, method, key, 'miss', fallback, undefined, user)
    }
    // Identical GETs in flight share one origin call; HEAD never leads (it stores nothing), nor
    // does a no-store request (its response may be kept by no one, waiters included), nor a Range
    // request (Range is not keyed: plain GETs waited for its 206, then ran the route after it).
    const inFlight = this.#flights.get(key)
    if (inFlight !== undefined) {
      const entry = await this.#wait(inFlight)
      if (entry !== undefined) {
        this.#stats.coalesced++
        const outcome = entry === fallback?.entry ? 'stale-if-error' : 'coalesced'
        return this.#respond(entry, method, headers, outcome, this.#clock())
      }
      this.#stats.misses++
      return this.#origin(policy, source, method, key, 'miss', fallback, undefined, user)
    }
    this.#stats.misses++
    let leader: Flight | undefined
    if (method === 'GET' && !requestCc.has('no-store') && headers.range === undefined) {
      leader = newFlight()
      this.#flights.track(key, leader.promise)
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
    user: string | null | undefined,
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
        // The cache's clock, as its invalidations are dated: what the route reads comes after this.
        startedAt: this.cache.stamp(),
      }),
    }
  }

  /** Second half: turns the route's output into the response to send, storing it when allowed. */
  async finish(state: ExchangeState, captured: CapturedResponse): Promise<OutgoingResponse> {
    const { policy, source, method, key, outcome, fallback, flight } = state
    const { statusHeader } = this.#options
    const request = source.request
    const headers: ResponseHeaders = { ...captured.headers }
    const status = captured.status
    const body = captured.body
    const shareable = STORABLE_STATUSES.has(status)
    if (shareable && headers['cache-control'] === undefined) {
      headers['cache-control'] =
        // A response to a request with credentials may be personal: no shared cache (a CDN
        // included, which RFC 9111 §3.5 would let store it under s-maxage) may keep it. Nor one
        // that sets a cookie: a CDN that stores it would hand the cookie (a session) to everyone.
        policy.user !== undefined || state.credentials || headers['set-cookie'] !== undefined
          ? policy.privateCacheControl
          : policy.sharedCacheControl
    }
    if (policy.varyHeader !== undefined) headers.vary = mergeVary(headerValue(headers, 'vary'), policy.vary)
    const partial = captured.partial === true
    if (
      policy.etag !== false &&
      status === 200 &&
      headers.etag === undefined &&
      !partial &&
      hasWholeBody(method, body, headers)
    ) {
      headers.etag = computeEtag(body, policy.etag === 'weak')
    }
    const tags = [
      ...routeTags(policy.tags(source.context)),
      ...(this.#tagsByContext.get(source.context as object) ?? []),
    ]
    const cc = headerValue(headers, 'cache-control') ?? ''
    if (tags.length > 0 && shareable && !/\b(private|no-store)\b/i.test(cc)) {
      if (this.#options.surrogateKey) headers['surrogate-key'] = tags.map(tagToken).join(' ')
      if (this.#options.cacheTag) headers['cache-tag'] = tags.map(tagToken).join(',')
    }

    // The origin failed and a stored response may stand in (stale-if-error, RFC 5861 §4).
    if (ERROR_STATUSES.has(status) && fallback !== undefined && outcome !== 'revalidate') {
      const now = this.#clock()
      if (now < fallback.until) {
        this.#stats.staleIfError++
        flight?.resolve(fallback.entry)
        return this.#serve(fallback.entry, method, request.headers, 'stale-if-error', now)
      }
    }

    // A non-error answer to an unsafe method may have changed the resource: its stored responses
    // go (RFC 9111 §4.4), before this answer is sent, so the client's next GET sees the change.
    if (!SAFE_METHODS.has(method) && status >= 200 && status < 400) {
      await this.#invalidate([urlTag(request.url)])
    }

    let entry: StoredResponse | undefined
    if (key !== undefined && outcome !== 'bypass' && method === 'GET') {
      entry = await this.#maybeStore(state, status, headers, body, tags)
    }
    flight?.resolve(entry)
    if (outcome === 'revalidate' && key !== undefined) {
      this.#revalidations.settle(key, { ok: entry !== undefined, status })
    }

    if (statusHeader !== undefined) headers[statusHeader] = outcome.toUpperCase()
    if (!partial && isNotModified(method, request.headers, status, headers)) {
      this.#stats.notModified++
      return { status: 304, headers: notModifiedHeaders(headers), body: null, outcome }
    }
    return { status, headers, body, outcome }
  }

  /** The route did not finish (client gone, handler threw past the framework): waiters go to the origin. */
  abandon(state: ExchangeState): void {
    state.flight?.resolve(undefined)
    if (state.outcome === 'revalidate' && state.key !== undefined) {
      this.#revalidations.settle(state.key, { ok: false, status: undefined })
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
      { keyed: this.#keyedSet(state.policy), perUser: state.perUser, now: this.#clock() },
    )
    if (!decision.storable) {
      this.#count(decision.reason)
      if (passes(decision.reason, status)) this.#passes.mark(key, this.#clock())
      // The origin now says "do not keep this": the old copy must not outlive that, whether a
      // background refresh or a request the stored copy did not answer (past freshness, a reload)
      // heard it; it was served on until it expired. Not for what belongs to this request alone
      // (its no-store, its credentials, a 206/304/412/416 answering its range or conditions:
      // passes() leaves them all out) nor an error, which the copy may stand in for.
      const replaced =
        state.outcome === 'revalidate' || (state.fallback !== undefined && passes(decision.reason, status))
      if (replaced && !ERROR_STATUSES.has(status)) await this.#delete(key)
      return undefined
    }
    if (body.byteLength > this.#options.maxBodyBytes) {
      this.#count('too-large')
      this.#passes.mark(key, this.#clock())
      return undefined
    }
    this.#passes.clear(key)
    const allTags = [...new Set([...tags, urlTag(state.source.request.url)])]
    // A tag invalidated while this response was being produced: it may predate the change.
    if (this.#invalidations.any(allTags, state.startedAt)) {
      this.#count('invalidated')
      return undefined
    }
    const entry = this.#stored.create(status, headers, body, decision, allTags, this.#clock())
    const windowMs = decision.freshMs + Math.max(decision.staleWhileRevalidateMs, decision.staleIfErrorMs)
    try {
      // Kept a little longer than its last usable moment: the cache's TTL jitter must not cut
      // the stale windows short (freshness is judged from storedAt, not from the cache's TTL).
      // Dated from when the route started: an invalidation of one of its tags made since, on any
      // instance (heard later, or only in the L2's markers), wins over this copy.
      await this.cache.set(key, entry, {
        ttl: Math.ceil(windowMs * 1.25) + 1000,
        tags: allTags,
        startedAt: state.startedAt,
      })
    } catch (error) {
      // Over the cache's tag limits (maxTags counts the URL tag too): uncacheable as configured.
      if (error instanceof TooManyTagsError) this.#count('tags')
      this.#cacheError('set', error)
      return undefined
    }
    this.#stats.stored++
    this.#events.emit('stored', { key, tags: allTags })
    return entry
  }

  /** A stored response as the step to take: respond with it now. */
  #respond(
    entry: StoredResponse,
    method: string,
    headers: RequestHeaders,
    outcome: Outcome,
    now: number,
  ): Step {
    return { kind: 'respond', response: this.#serve(entry, method, headers, outcome, now) }
  }

  #serve(
    entry: StoredResponse,
    method: string,
    headers: RequestHeaders,
    outcome: Outcome,
    now: number,
  ): OutgoingResponse {
    const response = this.#stored.serve(entry, method, headers, outcome, now)
    if (response.status === 304) this.#stats.notModified++
    return response
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

  async #invalidate(tags: readonly string[]): Promise<void> {
    try {
      await this.cache.invalidateTags(tags)
    } catch (error) {
      this.#cacheError('invalidate', error)
    }
  }

  async #delete(key: string): Promise<void> {
    try {
      await this.cache.delete(key)
    } catch (error) {
      this.#cacheError('delete', error)
    }
  }

  /** The flight's response, or undefined after `coalesceWait` (the request then goes to the origin itself). */
  #wait(flight: Promise<StoredResponse | undefined>): Promise<StoredResponse | undefined> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), timerMs(this.#options.coalesceWaitMs))
      timer.unref()
    })
    return Promise.race([flight, timeout]).finally(() => clearTimeout(timer))
  }

  #keyedSet(policy: ResolvedPolicy<unknown>): ReadonlySet<string> {
    let set = this.#keyed.get(policy)
    if (set === undefined) {
      set = new Set([...policy.vary, ...this.#options.keyedHeaders])
      this.#keyed.set(policy, set)
    }
    return set
  }

  #count(reason: UncacheableReason | 'too-large' | 'invalidated' | 'tags'): void {
    this.#stats.uncacheable[reason] = (this.#stats.uncacheable[reason] ?? 0) + 1
  }

  #cacheError(operation: string, error: unknown): void {
    this.#stats.cacheErrors++
    this.#events.emit('cache-error', { operation, error })
  }
}

/**
 * What a policy's tags function returned, checked: it is built from the request (`[req.query.id]`
 * may be undefined or an array), and a non-string reached tagToken as a TypeError, an empty one
 * the cache as a failed set; refused here as the policy's array is when the route is declared.
 */
function routeTags(tags: unknown): readonly string[] {
  const bad = (t: unknown): boolean => typeof t !== 'string' || t === ''
  if (Array.isArray(tags) && !tags.some(bad)) return tags
  const got = Array.isArray(tags) ? `an array holding ${describeValue(tags.find(bad))}` : describeValue(tags)
  throw new InvalidOptionError(
    `policy.tags(request) must return an array of non-empty strings (build each from a value every request has, e.g. \`product:\${req.params.id}\`); got ${got}.`,
  )
}

function hasBody(headers: RequestHeaders): boolean {
  const length = headerValue(headers, 'content-length')
  return (length !== undefined && length !== '0') || headers['transfer-encoding'] !== undefined
}
