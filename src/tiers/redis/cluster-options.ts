import { InvalidOptionError } from '../../errors.js'

/**
 * `l2.redis` for a Redis Cluster that stratacache opens (and closes) itself: the URLs of some of
 * its nodes (`redis://` or `rediss://`, all alike; credentials in the URLs apply to every node).
 * Three are enough to discover the cluster even when one is down.
 */
export interface RedisClusterUrls {
  cluster: readonly string[]
}

/** One startup node, parsed from its URL. */
export interface ClusterNodeAddress {
  host: string
  port: number
  tls: boolean
  username: string | undefined
  password: string | undefined
}

/** True for `{ cluster: [...] }` (not a client: an ioredis client has a `cluster()` method). */
export function isClusterUrls(value: unknown): value is RedisClusterUrls {
  return (
    typeof value === 'object' &&
    value !== null &&
    'cluster' in value &&
    typeof (value as { cluster: unknown }).cluster !== 'function'
  )
}

/** Validates `{ cluster: [...] }` and parses its URLs; throws {@link InvalidOptionError} with the reason. */
export function parseClusterUrls(value: RedisClusterUrls): ClusterNodeAddress[] {
  const extra = Object.keys(value).filter((k) => k !== 'cluster')
  if (extra.length > 0) {
    throw new InvalidOptionError(
      `l2.redis for a cluster takes only \`cluster\` (an array of node URLs, credentials inside); got also ${extra.map((k) => `\`${k}\``).join(', ')}.`,
    )
  }
  const urls = value.cluster
  if (!Array.isArray(urls) || urls.length === 0) {
    throw new InvalidOptionError(
      "l2.redis.cluster must be a non-empty array of node URLs, e.g. ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'].",
    )
  }
  const nodes = urls.map((url, i) => parseNodeUrl(url, i))
  const first = nodes[0] as ClusterNodeAddress
  for (let i = 1; i < nodes.length; i++) {
    const node = nodes[i] as ClusterNodeAddress
    if (node.tls !== first.tls) {
      throw new InvalidOptionError(
        'l2.redis.cluster mixes redis:// and rediss:// URLs: every node of a cluster is reached the same way.',
      )
    }
    if (node.username !== first.username || node.password !== first.password) {
      throw new InvalidOptionError(
        'l2.redis.cluster URLs carry different credentials: one user and password apply to every node of the cluster.',
      )
    }
  }
  return nodes
}

function parseNodeUrl(url: unknown, i: number): ClusterNodeAddress {
  const what = `l2.redis.cluster[${i}]`
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) {
    throw new InvalidOptionError(
      `${what} must be a redis:// or rediss:// URL; got ${typeof url === 'string' ? `a string starting '${url.slice(0, 8)}'` : typeof url}.`,
    )
  }
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch (cause) {
    throw new InvalidOptionError(`${what} is not a valid URL.`, { cause })
  }
  if (parsed.hostname === '') throw new InvalidOptionError(`${what} has no host.`)
  const db = parsed.pathname.replace(/^\//, '')
  if (db !== '' && db !== '0') {
    throw new InvalidOptionError(`${what} selects database ${db}: a Redis Cluster has only database 0.`)
  }
  const port = parsed.port === '' ? 6379 : Number(parsed.port)
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port,
    tls: parsed.protocol === 'rediss:',
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
  }
}
