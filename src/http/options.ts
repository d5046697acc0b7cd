import { resolveWaitUntil } from '../base/background.js'
import { describeValue } from '../base/describe.js'
import { refuseUnknown } from '../base/option-names.js'
import { type Cache, InvalidOptionError, parseDuration, type WaitUntil } from '../index.js'
import { HTTP_DEFAULTS } from './defaults.js'
import type { HttpCacheOptions } from './types.js'

/** {@link HttpCacheOptions} validated once, defaults applied ({@link HTTP_DEFAULTS}). */
export interface ResolvedHttpCacheOptions {
  readonly cache: Cache
  readonly prefix: string
  /** Lower-cased; undefined when turned off. */
  readonly statusHeader: string | undefined
  readonly surrogateKey: boolean
  readonly cacheTag: boolean
  readonly purge: ((tags: readonly string[]) => unknown) | undefined
  /** Lower-cased. */
  readonly keyedHeaders: readonly string[]
  readonly maxBodyBytes: number
  readonly coalesceWaitMs: number
  /** Whether a request's no-cache / max-age can send it to the route. */
  readonly obeyRequestDirectives: boolean
  readonly clock: () => number
  readonly waitUntil: WaitUntil | undefined
}

/** The names `HttpCache` accepts; typed against the options so the two cannot drift apart. */
const OPTION_NAMES = {
  cache: true,
  prefix: true,
  statusHeader: true,
  tagHeaders: true,
  purge: true,
  keyedHeaders: true,
  maxBodyBytes: true,
  coalesceWait: true,
  requestDirectives: true,
  clock: true,
  waitUntil: true,
} as const satisfies Record<keyof HttpCacheOptions, true>
const TAG_HEADER_NAMES = { surrogateKey: true, cacheTag: true } as const satisfies Record<
  keyof Exclude<HttpCacheOptions['tagHeaders'], false | undefined>,
  true
>

/**
 * Validates the options of an `HttpCache`, each with a message that says what to pass instead;
 * an unknown name (`tll`) is refused with the nearest valid one.
 */
export function resolveHttpCacheOptions(options: HttpCacheOptions): ResolvedHttpCacheOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('The HTTP cache needs { cache }: a stratacache instance from createCache().')
  }
  refuseUnknown(options, OPTION_NAMES, 'HttpCache', '', 'docs/http.md')
  if (typeof options.cache?.getOrSet !== 'function') {
    throw new InvalidOptionError('The HTTP cache needs { cache }: a stratacache instance from createCache().')
  }
  const prefix = options.prefix ?? HTTP_DEFAULTS.prefix
  if (typeof prefix !== 'string' || !/^[a-z][a-z0-9_-]*$/.test(prefix)) {
    throw new InvalidOptionError(`prefix ${describeValue(prefix)} must be a lowercase name like 'http'.`)
  }
  const status = options.statusHeader ?? HTTP_DEFAULTS.statusHeader
  if (status !== false && (typeof status !== 'string' || !/^[A-Za-z0-9-]+$/.test(status))) {
    throw new InvalidOptionError('statusHeader must be a header name or false.')
  }
  const tagHeaders = options.tagHeaders ?? HTTP_DEFAULTS.tagHeaders
  if (typeof tagHeaders === 'object' && tagHeaders !== null) {
    refuseUnknown(tagHeaders, TAG_HEADER_NAMES, 'HttpCache', 'tagHeaders.', 'docs/http.md')
  }
  if (options.purge !== undefined && typeof options.purge !== 'function') {
    throw new InvalidOptionError('purge must be a function (tags) => Promise that purges them at your CDN.')
  }
  const keyed = options.keyedHeaders ?? HTTP_DEFAULTS.keyedHeaders
  if (!Array.isArray(keyed) || keyed.some((h) => typeof h !== 'string' || h === '')) {
    throw new InvalidOptionError('keyedHeaders must be an array of header names.')
  }
  const maxBodyBytes = options.maxBodyBytes ?? HTTP_DEFAULTS.maxBodyBytes
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new InvalidOptionError('maxBodyBytes must be an integer ≥ 0.')
  }
  const coalesceWaitMs =
    options.coalesceWait === undefined
      ? HTTP_DEFAULTS.coalesceWaitMs
      : parseDuration(options.coalesceWait, 'coalesceWait')
  const requestDirectives = options.requestDirectives ?? HTTP_DEFAULTS.requestDirectives
  if (requestDirectives !== 'obey' && requestDirectives !== 'ignore') {
    throw new InvalidOptionError(
      `requestDirectives must be 'obey' or 'ignore'; got ${describeValue(requestDirectives)}.`,
    )
  }
  const clock = options.clock ?? Date.now
  if (typeof clock !== 'function') throw new InvalidOptionError('clock must be a function.')
  if (options.waitUntil !== undefined) resolveWaitUntil(options.waitUntil)
  return {
    cache: options.cache,
    prefix,
    statusHeader: status === false ? undefined : status.toLowerCase(),
    surrogateKey: tagHeaders !== false && tagHeaders.surrogateKey !== false,
    cacheTag: tagHeaders !== false && tagHeaders.cacheTag !== false,
    purge: options.purge,
    keyedHeaders: keyed.map((h) => h.toLowerCase()),
    maxBodyBytes,
    coalesceWaitMs,
    obeyRequestDirectives: requestDirectives === 'obey',
    clock,
    waitUntil: options.waitUntil,
  }
}
