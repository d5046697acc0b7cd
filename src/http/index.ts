/**
 * `stratacache/http`: the framework-free HTTP layer. Route policy → Cache-Control / Vary /
 * ETag / Surrogate-Key headers; storability by RFC 9111 for a shared cache (stricter where
 * documented); conditional requests (304); a response cache on a stratacache instance with
 * stale-while-revalidate, stale-if-error, single-flight and tags. Framework adapters:
 * `stratacache/http/express`, `stratacache/http/fastify`, `stratacache/http/hono`. Guide: docs/http.md.
 */

export { DEFAULT_KEYED_HEADERS, HTTP_DEFAULTS } from './defaults.js'
export { HttpPurgeError } from './errors.js'
export { computeEtag, isNotModified, parseEntityTags, weakMatch } from './etag.js'
export { Exchange, type Step } from './exchange.js'
export {
  type CacheControl,
  headerValue,
  parseCacheControl,
  type RequestHeaders,
  type ResponseHeaders,
} from './headers.js'
export { normalizeUrl, requestKey } from './key.js'
export { type HttpCachePolicy, type ResolvedPolicy, resolvePolicy } from './policy.js'
export { HttpCache } from './response-cache.js'
export { REVALIDATE_HEADER } from './revalidation.js'
export {
  decideStorage,
  freshnessLifetime,
  STORABLE_STATUSES,
  type StorageContext,
  type StoreDecision,
  type Timing,
  type UncacheableReason,
  type Usability,
  usability,
} from './semantics.js'
export { tagToken } from './stored.js'
export type {
  CapturedResponse,
  HttpCacheEvents,
  HttpCacheOptions,
  HttpCacheStats,
  HttpRequest,
  Outcome,
  OutgoingResponse,
  RequestSource,
  StoredResponse,
} from './types.js'
