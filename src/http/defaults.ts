import { DEFAULTS } from '../base/defaults.js'

/**
 * The HTTP layer's defaults (docs/http.md lists them): the `HttpCache` options, then a route
 * policy's. They are a section of stratacache's one defaults table (`DEFAULTS.http`,
 * src/base/defaults.ts), which the core's own defaults share; exported here under their
 * established names.
 */
export const HTTP_DEFAULTS = DEFAULTS.http

/**
 * Request headers that commonly change what an app renders but that no route declares: always
 * keyed when present, so a poisoned request (S12) can only fill, and be served, an entry of its
 * own. The reasoning is beside the list in src/base/defaults.ts.
 */
export const DEFAULT_KEYED_HEADERS: readonly string[] = DEFAULTS.http.keyedHeaders
