import type { Duration } from '../base/duration.js'
import { adaptiveTtl } from './adaptive.js'

/**
 * TTL presets from the reference scenarios (docs/ttl.md): how stale each kind of data may be
 * before users notice. Use them instead of magic numbers; any {@link Duration} works too.
 */
export const ttl = {
  /** Product catalog: changes daily at most; 1–4 h of staleness is acceptable. */
  productCatalog: '4h',
  /** Session data: must expire with the session. */
  session: '30m',
  /** Rate-limit windows: the window length. */
  rateLimitWindow: '1h',
  /** External API responses (weather, geocoding): upstream changes hourly. */
  externalApi: '45m',
  /** User profiles: updated infrequently, invalidated on write. */
  userProfile: '1h',
  /** Search results. */
  searchResults: '1h',
  /** Reference data (countries, currencies, categories). */
  referenceData: '24h',
  /** Shopping carts and live inventory: short, user-specific or volatile. */
  shortLived: '1m',
  /** Immutable or append-only data (order history): rely on explicit invalidation. */
  immutable: Number.POSITIVE_INFINITY,
  /** A TTL that grows with read frequency, between `min` and `max`. */
  adaptive: adaptiveTtl,
} as const satisfies Record<string, Duration | typeof adaptiveTtl>
