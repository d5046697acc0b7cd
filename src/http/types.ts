import type { Cache, Duration, WaitUntil } from '../index.js'
import type { RequestHeaders, ResponseHeaders } from './headers.js'
import type { Timing, UncacheableReason } from './semantics.js'

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
  /**
   * What a request's own `Cache-Control: no-cache` (or `Pragma: no-cache`) and `max-age` do.
   * `'obey'` (default, as RFC 9111 §5.2.1 describes them): the route runs and its response replaces
   * the stored one. `'ignore'`: the stored response is served as if they were absent, as Varnish,
   * nginx and most CDNs do by default, so no client can make the route run by asking; note that
   * `fetch()` adds `no-cache` to every request with `If-None-Match` or `If-Modified-Since`. A
   * request's `no-store` is obeyed either way (nothing of its exchange is stored).
   */
  requestDirectives?: 'obey' | 'ignore'
  /** Milliseconds since the epoch; inject a fake to test expiry without sleeping. Default `Date.now`. */
  clock?: () => number
  /**
   * Gets each background revalidation (stale-while-revalidate), which runs after the stale
   * response was sent: Vercel's `waitUntil` on serverless runtimes. Per request, an adapter's
   * own hook wins (Hono passes `c.executionCtx.waitUntil` on Cloudflare). Default: none.
   */
  waitUntil?: WaitUntil
}

/** A request as the core sees it: method, path + query, Node-style lowercase headers. */
export interface HttpRequest {
  readonly method: string
  readonly url: string
  readonly headers: RequestHeaders
  /**
   * The scheme and host the app sees (`https://example.com`), when the adapter knows them from
   * the request's full URL (a fetch `Request`, which a request line in absolute form sets apart
   * from the Host header); the key then uses it in place of the Host header.
   */
  readonly origin?: string
}

/** A response as the route produced it (the adapter buffered it). Header names lowercase. */
export interface CapturedResponse {
  readonly status: number
  readonly headers: ResponseHeaders
  /** The whole body, or with `partial` its first bytes (past maxBodyBytes). */
  readonly body: Uint8Array
  /**
   * The body grew past maxBodyBytes and the adapter streams the rest instead of buffering it: no
   * ETag is computed, no 304 is answered from it, nothing is stored. When the core answers with
   * this very `body`, the adapter sends it followed by the rest.
   */
  readonly partial?: boolean
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
  /** This request's runtime hook for work after the response (wins over the HttpCache's `waitUntil`). */
  readonly waitUntil?: WaitUntil | undefined
}

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
  uncacheable: Partial<Record<UncacheableReason | 'too-large' | 'invalidated' | 'tags', number>>
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
