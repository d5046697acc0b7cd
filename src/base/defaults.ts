/**
 * Every default of stratacache, in one table: the cache's options, the input limits, the alert
 * thresholds and the HTTP layer's. docs/options.md and docs/http.md list them.
 *
 * Why here, at the bottom (src/base): every layer may import base/, none may import upward. The
 * core resolves `createCache`'s options, but the HTTP layer (above the core), the key limits and
 * the health thresholds (mechanisms, below the core) have defaults too; a table in core/ could
 * not be read by the mechanisms, one in http/ not by the core. Data only, no imports, so reading
 * it costs nothing and ties no layer to another. Durations are in milliseconds (`…Ms`), except
 * the HTTP route policy's, in whole seconds as HTTP counts them (`…Seconds`).
 */

/**
 * Request headers that commonly change what an app renders (absolute URLs, redirects, the method
 * or path a framework acts on) but that no route declares: web cache poisoning (S12) works by
 * sending one of them to a cache that leaves it out of its key. They are always keyed when
 * present, so a request carrying `X-Forwarded-Host: evil` can only ever fill, and be served, an
 * entry of its own. Behind a proxy that sets them on every request the cache works as usual.
 */
const KEYED_HEADERS: readonly string[] = Object.freeze([
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

export const DEFAULTS = Object.freeze({
  // ── createCache: keys and values ──
  /** `namespace`: prefix of every key, `<namespace>:<version>:<key>`. */
  namespace: 'cache',
  /** `version`: bump to make everything written under the old one unreachable. */
  version: 'v1',
  /** `ttl` (1 hour). */
  ttlMs: 3_600_000,
  /** `jitter`: ±10% on every finite TTL. */
  jitter: 0.1,
  /** `serializer`. */
  serializer: 'json',
  /** `maxValueBytes` (8 MiB). */
  maxValueBytes: 8 * 1024 * 1024,
  /** `maxKeyBytes`: storage keys longer than this (UTF-8 bytes) are hashed. */
  maxKeyBytes: 250,

  // ── l1 ──
  /** `l1.maxEntries` when neither `maxEntries` nor `maxBytes` is given. */
  l1MaxEntries: 10_000,
  /** `l1.isolation`. */
  isolation: 'freeze',
  /** `l1.policy` (evidence: docs/eviction.md). */
  l1Policy: 'w-tinylfu',

  // ── l2 ──
  /** `l2.timeout`: deadline of every Redis call. */
  l2TimeoutMs: 500,
  /** `l2.batchSize`: most keys per coalesced MGET. */
  l2BatchSize: 100,
  /** `l2.compressAbove`: off. */
  l2CompressAbove: Number.POSITIVE_INFINITY,
  /** `l2.writeErrors`. */
  l2WriteErrors: 'suppress',
  /** `l2.invalidation`: the bus only (client tracking is opt-in). */
  l2Invalidation: 'bus',
  /** `l2.breaker.threshold`: consecutive failures that open the breaker. */
  breakerThreshold: 5,
  /** `l2.breaker.breakDuration`. */
  breakerDurationMs: 5_000,

  // ── resilience (cache-wide or per call) ──
  /** `grace`: off. */
  graceMs: 0,
  /** `failSafeBackoff`. */
  failSafeBackoffMs: 30_000,
  /** `timeout.soft`: with a stale value at hand, return it at once. */
  softTimeoutMs: 0,
  /** `timeout.hard`: none. */
  hardTimeoutMs: Number.POSITIVE_INFINITY,
  /** `earlyRefresh` (XFetch β). */
  earlyRefreshBeta: 1,
  /** `eagerRefresh`: off. */
  eagerRefresh: 0,

  // ── lock, bus ──
  /** `lock.ttl`. */
  lockTtlMs: 5_000,
  /** `lock.wait` when there is no hard timeout (else lock TTL + `timeout.hard`). */
  lockWaitMs: 30_000,
  /** `bus`: on when the L2 offers one. */
  bus: true,
  /** `bus.maxAge`: oldest message accepted. */
  busMaxAgeMs: 300_000,
  /** `bus.heartbeat`: how often each instance publishes a heartbeat (the staleness bound). */
  busHeartbeatMs: 1000,
  /** `bus.maxSilence`: silence after which the L1 is unverified (at least twice the heartbeat). */
  busMaxSilenceMs: 5000,

  // ── observability ──
  observability: Object.freeze({
    /** `observability.latency`. */
    latency: true,
    /** `observability.hitSampling`: one L1 hit timed in this many. */
    hitSampling: 64,
    /** `observability.recentReads`. */
    recentReads: 65_536,
    /** `observability.window` of health()'s rates and alerts. */
    windowMs: 60_000,
    /** `observability.publish.interval` when publishing is on (publishing is off by default). */
    publishIntervalMs: 2_000,
  }),
  /** `observability.alerts`: the seed's thresholds. */
  alerts: Object.freeze({
    hitRatioBelow: 0.7,
    minReads: 100,
    memoryAbove: 0.9,
    evictionsPerSecondAbove: 10,
    /** Seconds (5 ms). */
    p99Above: 0.005,
  }),

  // ── input limits (checked before any work or I/O) ──
  limits: Object.freeze({
    /** `maxKeyLength`: longest cache key, in UTF-16 code units (a 1 MiB key would sit in the L1's map and be hashed on every call). */
    maxKeyLength: 4096,
    /** `maxTags`: most tags on one entry (its own plus one per `dependsOn` key). */
    maxTags: 100,
    /** Longest tag, in UTF-16 code units. */
    maxTagLength: 1024,
    /** Longest glob given to `deleteMatching`. */
    maxPatternLength: 1024,
    /** Most `*` in one glob: Redis matches each against the rest recursively (CVE-2022-36021 was this). */
    maxPatternWildcards: 16,
    /** Longest tenant id. */
    maxTenantLength: 256,
  }),

  // ── the HTTP layer (stratacache/http): HttpCache options, then a route policy's ──
  http: Object.freeze({
    /** `prefix`: first segment of every response's cache key. */
    prefix: 'http',
    /** `statusHeader`: the response header telling what the cache did. */
    statusHeader: 'x-cache',
    /** `tagHeaders`: the route's tags as `Surrogate-Key` and as `Cache-Tag`. */
    tagHeaders: Object.freeze({ surrogateKey: true, cacheTag: true }),
    /** `keyedHeaders`: request headers keyed whenever present. */
    keyedHeaders: KEYED_HEADERS,
    /** `maxBodyBytes`: larger bodies are sent but not stored (1 MiB). */
    maxBodyBytes: 1_048_576,
    /** `coalesceWait`: how long a request waits for an identical one in flight. */
    coalesceWaitMs: 10_000,
    /** `requestDirectives`: a request's no-cache / max-age sends it to the route ('obey', RFC 9111). */
    requestDirectives: 'obey',
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
  }),
} as const)
