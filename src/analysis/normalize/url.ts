import type { Operation } from '../event.js'
import type { Access, Shape } from './access.js'
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

/**
 * A request → its route (`/api/products/:id`, query parameters by name with values as `:v`), the
 * resource it reads or changes (the last literal path segment: `products`), the entity (the id
 * after it), and the key a cache would use (path and sorted parameters, tracking parameters
 * dropped). Static files whose names carry a content hash (`app.3f9a8b7c.js`) are one route.
 */
export function normalizeUrl(url: string, method: string): Access {
  let target = url
  const scheme = /^https?:\/\/[^/]+/i.exec(target)
  if (scheme !== null) target = target.slice(scheme[0].length) || '/'
  const hash = target.indexOf('#')
  if (hash !== -1) target = target.slice(0, hash)
  const q = target.indexOf('?')
  const path = q === -1 ? target : target.slice(0, q)
  const query = q === -1 ? '' : target.slice(q + 1)
  const op = opOfMethod(method)

  const segments = path.split('/')
  const isStatic = STATIC_EXT.test(path)
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
