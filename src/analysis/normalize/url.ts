import { mix32 } from '../../base/fnv.js'
import { hashKey } from '../../eviction/policy.js'
import { detach } from '../detach.js'
import type { Operation } from '../event.js'
import type { Access, NormalizedAccess, Shape } from './access.js'
import { placeholderFor } from './placeholders.js'

const STATIC_EXT =
  /\.(css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|woff2?|ttf|otf|eot|mp4|webm|mp3|pdf|txt|xml|wasm)$/i
/** Parameters that never change a response: tracking and cache-busting. Dropped from keys. */
const IGNORED_PARAM = /^(utm_\w+|fbclid|gclid|msclkid|_|cb|_ts)$/i
const PREFIX = /^(api|rest|v\d+(\.\d+)?|graphql|public|internal)$/i
const COUNTER_SEGMENT = /^(views?|likes?|hits|clicks|counters?|increment|incr|impressions)$/i

function opOfMethod(method: string): Operation {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case '':
      return 'read'
    case 'POST':
    case 'PUT':
    case 'PATCH':
    case 'DELETE':
      return 'write'
    default:
      return 'other'
  }
}

/** A URL's path and query string (scheme, host and fragment dropped). */
export function splitUrl(url: string): { path: string; query: string } {
  let target = url
  const scheme = /^https?:\/\/[^/]+/i.exec(target)
  if (scheme !== null) target = target.slice(scheme[0].length) || '/'
  const hash = target.indexOf('#')
  if (hash !== -1) target = target.slice(0, hash)
  const q = target.indexOf('?')
  return { path: q === -1 ? target : target.slice(0, q), query: q === -1 ? '' : target.slice(q + 1) }
}

export function isStaticPath(path: string): boolean {
  return STATIC_EXT.test(path)
}

/** A path segment, percent-decoded when it can be. */
export function decodeSegment(segment: string): string {
  if (!segment.includes('%')) return segment
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** Whether a decoded segment is a prefix of routes (`api`, `v2`), never a resource nor a value. */
export function isRoutePrefix(decoded: string): boolean {
  return PREFIX.test(decoded)
}

/**
 * A request → its route (`/api/products/:id`, query parameters by name with values as `:v`), the
 * resource it reads or changes (the last literal path segment: `products`), the entity (the id
 * after it), and the key a cache would use (path and sorted parameters, tracking parameters
 * dropped). Static files whose names carry a content hash (`app.3f9a8b7c.js`) are one route.
 */
export function normalizeUrl(
  url: string,
  method: string,
  isValue?: (position: number, segments: readonly string[]) => boolean,
): Access {
  const { path, query } = splitUrl(url)
  const op = opOfMethod(method)

  const segments = path.split('/')
  const isStatic = isStaticPath(path)
  let resource = ''
  let lastIsPlaceholder = false
  let entity = ''
  let counter = false
  const routeParts: string[] = []
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as string
    if (segment === '') {
      routeParts.push('')
      continue
    }
    let decoded = segment
    if (segment.includes('%')) {
      try {
        decoded = decodeURIComponent(segment)
      } catch {}
    }
    let placeholder = placeholderFor(decoded)
    if (placeholder === undefined && isStatic && i === segments.length - 1) {
      // app.3f9a8b7c.js → app.:hash.js
      const parts = decoded.split('.')
      const named = parts.map((part, k) =>
        k > 0 && k < parts.length - 1 && /^[0-9a-f]{6,}$/i.test(part) ? ':hash' : part,
      )
      routeParts.push(named.join('.'))
      lastIsPlaceholder = false
      continue
    }
    if (placeholder !== undefined) {
      routeParts.push(placeholder)
      lastIsPlaceholder = true
      entity = decoded
      continue
    }
    if (!isStatic && isValue?.(i, segments) === true) {
      // A position learned to hold values (a user name, a slug): see UrlPatterns.
      routeParts.push(':v')
      lastIsPlaceholder = true
      entity = decoded
      continue
    }
    placeholder = undefined
    routeParts.push(segment)
    lastIsPlaceholder = false
    if (!PREFIX.test(decoded)) {
      if (COUNTER_SEGMENT.test(decoded) && resource !== '') counter = true
      else resource = decoded.toLowerCase()
    }
  }
  let route = routeParts.join('/') || '/'
  let keyQuery = ''
  if (query !== '') {
    const pairs = query
      .split('&')
      .filter((pair) => pair !== '')
      .map((pair) => {
        const eq = pair.indexOf('=')
        return eq === -1 ? [pair, ''] : [pair.slice(0, eq), pair.slice(eq + 1)]
      })
      .filter(([name]) => !IGNORED_PARAM.test(name as string))
      .sort((a, b) =>
        (a[0] as string) < (b[0] as string) ? -1 : (a[0] as string) > (b[0] as string) ? 1 : 0,
      )
    if (pairs.length > 0) {
      route += `?${pairs.map(([name]) => `${name}=:v`).join('&')}`
      keyQuery = `?${pairs.map(([name, value]) => `${name}=${value}`).join('&')}`
    }
  }
  let shape: Shape
  if (isStatic) {
    shape = 'static'
    resource = 'static'
    entity = path
  } else if (counter) shape = 'counter'
  else if (lastIsPlaceholder && keyQuery === '') shape = 'entity'
  else {
    shape = 'list'
    if (!lastIsPlaceholder) entity = ''
  }
  if (resource === '') resource = path === '/' || path === '' ? '(root)' : '(unknown)'
  const signature = op === 'read' || op === 'other' ? route : `${method} ${route}`
  return {
    op,
    signature,
    type: resource,
    key: path + keyQuery,
    entity: shape === 'list' ? '' : entity,
    shape,
  }
}

/** Most digit segments a path may have to be templated (longer ones take the general path). */
const MAX_DIGIT_SEGMENTS = 8
/** Templates kept per method; the map is dropped when it reaches this (bounded memory). */
const TEMPLATE_LIMIT = 20_000

/** How an access follows from a path of its template: everything but the key and the entity is shared. */
interface UrlTemplate {
  readonly op: Operation
  readonly signature: string
  readonly type: string
  readonly shape: Shape
  /** -1: no entity; -2: the whole path; k ≥ 0: the k-th all-digit segment; -3: `entity` below. */
  readonly entityDigits: number
  readonly entity: string
  /** hashKey(entity) when the entity is a constant. */
  readonly entityHash: number
}

/** FNV-1a step (base/fnv.ts's loop, fused into the skeleton's pass) and finaliser: together, {@link hashKey} of the characters fed. */
// An int32 literal (0x811c9dc5 | 0): past 2^31 it made the hash loop run in float64 (see base/fnv.ts).
const FNV_OFFSET = -2128831035
const FNV_PRIME = 0x01000193
function finish(h: number): number {
  return mix32(h) >>> 0
}

/**
 * {@link normalizeUrl} for a stream of requests, most of which are paths like `/api/users/18310`:
 * a path without query, fragment or escapes is reduced to its skeleton — its all-digit segments
 * replaced by `0` — and the route, resource, shape and operation are computed once per skeleton
 * and method. An all-digit segment is always an `:id` whatever its digits, and nothing else in
 * normalizeUrl looks at them, so every path of a skeleton normalises the same way except for its
 * key (the path) and entity (one of those segments, or a constant). The one pass over the path
 * that finds the skeleton also hashes the key and the digit segments (hashKey, fused).
 *
 * The key and entity returned are slices of `url` (no copy per request): whoever keeps one copies
 * it (see detach.ts). Template strings are copies.
 */
export class UrlNormalizer {
  readonly #templates = new Map<string, Map<string, UrlTemplate>>()
  /** The route of a URL without a template (the learned value positions, when given). */
  readonly #normalizeUrl: (url: string, method: string) => Access
  readonly #patterns: { readonly version: number } | undefined
  #patternsVersion = 0

  constructor(patterns?: {
    readonly version: number
    normalize(url: string, method: string): Access
  }) {
    this.#patterns = patterns
    this.#normalizeUrl =
      patterns === undefined ? normalizeUrl : (url, method) => patterns.normalize(url, method)
  }
  /** Start and end of each all-digit segment of the path being normalised. */
  readonly #digits = new Int32Array(2 * MAX_DIGIT_SEGMENTS)
  /** FNV state of each all-digit segment (before finishing). */
  readonly #digitHashes = new Int32Array(MAX_DIGIT_SEGMENTS)
  #count = 0
  #keyHash = 0

  /** normalizeUrl(url, method) through a template, or undefined for a URL that is not a plain path. */
  normalize(url: string, method: string): NormalizedAccess | undefined {
    this.#checkPatterns()
    const skeleton = this.#skeleton(url)
    if (skeleton === undefined) return undefined
    let templates = this.#templates.get(method)
    if (templates === undefined) {
      templates = new Map()
      this.#templates.set(detach(method), templates)
    }
    let template = templates.get(skeleton)
    if (template === undefined) {
      const access = this.#normalizeUrl(url, method)
      this.#checkPatterns()
      template = this.#template(access, url)
      if (template === undefined) return undefined
      if (templates.size >= TEMPLATE_LIMIT) templates.clear()
      templates.set(detach(skeleton), template)
    }
    const keyHash = finish(this.#keyHash)
    let entity = template.entity
    let entityHash = template.entityHash
    if (template.entityDigits === -2) {
      entity = url
      entityHash = keyHash
    } else if (template.entityDigits >= 0) {
      const k = template.entityDigits
      entity = url.slice(this.#digits[2 * k] as number, this.#digits[2 * k + 1] as number)
      entityHash = finish(this.#digitHashes[k] as number)
    }
    return {
      op: template.op,
      signature: template.signature,
      type: template.type,
      key: url,
      entity,
      shape: template.shape,
      keyHash,
      entityHash,
    }
  }

  /** A position was found to hold values (here or by another caller of the patterns): the templates made before may be wrong now. */
  #checkPatterns(): void {
    if (this.#patterns === undefined || this.#patterns.version === this.#patternsVersion) return
    this.#patternsVersion = this.#patterns.version
    for (const t of this.#templates.values()) t.clear()
  }

  /**
   * The path with its all-digit segments replaced by `0` (the path itself when it has none), and
   * their offsets in #digits; undefined when the URL is not a plain path (no leading `/`, or a
   * `?`, `#` or `%`, or too many digit segments).
   */
  #skeleton(url: string): string | undefined {
    const n = url.length
    if (n === 0 || url.charCodeAt(0) !== 47) return undefined
    const digits = this.#digits
    let count = 0
    let segment = 1
    let allDigits = true
    let h = Math.imul(FNV_OFFSET ^ 47, FNV_PRIME)
    let segmentHash = FNV_OFFSET
    for (let i = 1; i < n; i++) {
      const c = url.charCodeAt(i)
      h = Math.imul(h ^ c, FNV_PRIME)
      if (c === 47) {
        if (allDigits && i > segment) {
          if (count === MAX_DIGIT_SEGMENTS) return undefined
          digits[2 * count] = segment
          digits[2 * count + 1] = i
          this.#digitHashes[count] = segmentHash
          count++
        }
        segment = i + 1
        allDigits = true
        segmentHash = FNV_OFFSET
        continue
      }
      if (c === 63 || c === 35 || c === 37) return undefined // ? # %
      if (c < 48 || c > 57) allDigits = false
      segmentHash = Math.imul(segmentHash ^ c, FNV_PRIME)
    }
    if (allDigits && n > segment) {
      if (count === MAX_DIGIT_SEGMENTS) return undefined
      digits[2 * count] = segment
      digits[2 * count + 1] = n
      this.#digitHashes[count] = segmentHash
      count++
    }
    this.#count = count
    this.#keyHash = h
    if (count === 0) return url
    let skeleton = url.slice(0, digits[0] as number)
    for (let k = 0; k < count; k++) {
      const next = k + 1 < count ? (digits[2 * k + 2] as number) : n
      skeleton += `0${url.slice(digits[2 * k + 1] as number, next)}`
    }
    return skeleton
  }

  /**
   * The template of `access` = normalizeUrl(url), whose digit segments are in #digits; undefined
   * when the access does not have the expected form (then the caller normalises the long way).
   */
  #template(access: Access, url: string): UrlTemplate | undefined {
    if (access.key !== url) return undefined
    const base = {
      op: access.op,
      signature: detach(access.signature),
      type: detach(access.type),
      shape: access.shape,
    }
    if (access.entity === '') return { ...base, entityDigits: -1, entity: '', entityHash: 0 }
    if (access.shape === 'static') {
      return access.entity === url ? { ...base, entityDigits: -2, entity: '', entityHash: 0 } : undefined
    }
    // The entity is the last segment that is a value (normalizeUrl's placeholderFor): find it.
    const segments = url.split('/')
    let offset = url.length + 1
    for (let i = segments.length - 1; i >= 0; i--) {
      const segment = segments[i] as string
      offset -= segment.length + 1
      if (placeholderFor(segment) === undefined) continue
      if (segment !== access.entity) return undefined
      for (let k = 0; k < this.#count; k++) {
        if (this.#digits[2 * k] === offset && this.#digits[2 * k + 1] === offset + segment.length)
          return { ...base, entityDigits: k, entity: '', entityHash: 0 }
      }
      return { ...base, entityDigits: -3, entity: detach(segment), entityHash: hashKey(segment) }
    }
    return undefined
  }
}
