/**
 * Request headers that commonly change what an app renders (absolute URLs, redirects, the method
 * or path a framework acts on) but that no route declares: web cache poisoning (S12) works by
 * sending one of them to a cache that leaves it out of its key. They are always keyed when
 * present, so a request carrying `X-Forwarded-Host: evil` can only ever fill, and be served, an
 * entry of its own. Behind a proxy that sets them on every request the cache works as usual.
 */
export const DEFAULT_KEYED_HEADERS: readonly string[] = Object.freeze([
  'forwarded',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-scheme',
  'x-forwarded-port',
  'x-forwarded-prefix',
  'x-forwarded-server',
  'x-host',
  'x-original-url',
  'x-rewrite-url',
  'x-original-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
])

/**
 * Every default of the HTTP layer, in one place (docs/http.md lists them): the `HttpCache`
 * options, then a route policy's. Durations in milliseconds. No imports, so a global defaults
 * table can include it as is.
 */
export const HTTP_DEFAULTS = Object.freeze({
  /** `prefix`: first segment of every response's cache key. */
  prefix: 'http',
  /** `statusHeader`: the response header telling what the cache did. */
  statusHeader: 'x-cache',
  /** `tagHeaders`: the route's tags as `Surrogate-Key` and as `Cache-Tag`. */
  tagHeaders: Object.freeze({ surrogateKey: true, cacheTag: true }),
  /** `keyedHeaders`: request headers keyed whenever present. */
  keyedHeaders: DEFAULT_KEYED_HEADERS,
  /** `maxBodyBytes`: larger bodies are sent but not stored (1 MiB). */
  maxBodyBytes: 1_048_576,
  /** `coalesceWait`: how long a request waits for an identical one in flight. */
  coalesceWaitMs: 10_000,
  /** How long a local tag invalidation is remembered, so a response produced across it is not stored. */
  invalidationMemoryMs: 60_000,
  /** Route policy: `maxAge`, `staleWhileRevalidate` and `staleIfError` (seconds, as HTTP counts them). */
  maxAgeSeconds: 0,
  staleWhileRevalidateSeconds: 0,
  staleIfErrorSeconds: 0,
  /** Route policy: `etag`. */
  etag: 'strong',
  /** Route policy: `store` (the server-side cache keeps the route's responses). */
  store: true,
} as const)
