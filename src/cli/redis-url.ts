import { UsageError } from './args.js'

/**
 * A `--redis` value, checked before anything connects: a typo must be a usage error (exit 2) that
 * names the flag the user typed, not a connection failure or the library's `l2.redis`.
 */
export function parseRedisUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(
      `--redis must be a URL like redis://127.0.0.1:6379; got '${hideCredentials(value)}'.`,
    )
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`--redis must start with redis:// or rediss://; got '${redactUrl(value)}'.`)
  }
  return value
}

/** `value` without what comes before its last '@' (a user and password), for a value that is not a URL. */
function hideCredentials(value: string): string {
  const at = value.lastIndexOf('@')
  if (at === -1) return value
  const scheme = /^[a-z][a-z0-9+.-]*:?\/\//i.exec(value)?.[0] ?? ''
  return `${scheme}***${value.slice(at)}`
}

/** Redacts a password in a Redis URL before printing it (it must never reach a terminal log). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return url
  }
}
