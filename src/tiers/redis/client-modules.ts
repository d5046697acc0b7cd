import { createRequire } from 'node:module'
import { InvalidOptionError } from '../../errors.js'

const INSTALL: Record<'ioredis' | 'redis', string> = {
  ioredis:
    "l2.client 'ioredis' needs the ioredis package: run `npm install ioredis` (or choose l2.client 'redis').",
  redis:
    "l2.client 'redis' needs the node-redis package: run `npm install redis` (or choose l2.client 'ioredis').",
}

/**
 * TLS settings for the connections stratacache opens itself from `rediss://` URLs (`l2.tls`).
 * The server's certificate is always verified (Node's defaults); these only say against what.
 */
export interface TlsOptions {
  /** PEM certificate(s) of the CA that signed the server's certificate (a private CA). Default: Node's bundled CAs. */
  ca?: string | Buffer | readonly (string | Buffer)[]
  /** Client certificate (PEM), when the server checks clients (`tls-auth-clients yes`). */
  cert?: string | Buffer
  /** Client private key (PEM), with `cert`. */
  key?: string | Buffer
  /** The name the server's certificate must carry, when it is not the URL's host. */
  servername?: string
}

/** The TLS settings of the client being opened right now (see {@link withTls}). */
let opening: TlsOptions | undefined

/**
 * Runs `open` (which constructs an adapter, synchronously) so that every Redis client it creates
 * through {@link requireClient} gets `tls` merged into its TLS options. The adapters stay unaware
 * of TLS: they only ask for `rediss://` (`tls: true` / `tls: {}`), and this adds the CA and
 * client certificate to that. Synchronous, so no other construction can interleave.
 */
export function withTls<T>(tls: TlsOptions | undefined, open: () => T): T {
  if (tls === undefined) return open()
  opening = tls
  try {
    return open()
  } finally {
    opening = undefined
  }
}

/** Loads a Redis client package (an optional peer), or says how to install it. */
export function requireClient<T>(name: 'ioredis' | 'redis'): T {
  let mod: T
  try {
    mod = createRequire(import.meta.url)(name) as T
  } catch (cause) {
    throw new InvalidOptionError(INSTALL[name], { cause })
  }
  if (opening === undefined) return mod
  return (name === 'ioredis' ? ioredisWithTls(mod, opening) : nodeRedisWithTls(mod, opening)) as T
}

/** The longest wait between two reconnect attempts. */
export const MAX_RECONNECT_DELAY_MS = 500

/**
 * Delay before reconnect attempt `attempt`: exponential from 50 ms, capped at
 * {@link MAX_RECONNECT_DELAY_MS}, forever (the L1 serves meanwhile). The cap is what recovery
 * waits for after Redis answers again, before anything can even probe it: 2 s made it most of
 * the 5 s of issue 24. An attempt on a host that refuses costs one SYN; on a host that does not
 * answer, the connect timeout (≥ 10 s) spaces the attempts anyway.
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** attempt, MAX_RECONNECT_DELAY_MS)
}

type Options = Record<string, unknown>

function tlsOf(existing: unknown, tls: TlsOptions): Options | undefined {
  // Only connections that asked for TLS (a rediss:// URL) get it.
  if (existing === undefined || existing === false) return undefined
  return { ...(typeof existing === 'object' && existing !== null ? existing : {}), ...tls }
}

/** ioredis: `new Redis(url, options)` and `new Cluster(nodes, { redisOptions })`, with the settings merged. */
function ioredisWithTls(mod: unknown, tls: TlsOptions): unknown {
  const Redis = ((mod as { default?: unknown }).default ?? mod) as new (...args: unknown[]) => unknown
  const Cluster = (Redis as unknown as { Cluster?: new (...args: unknown[]) => unknown }).Cluster
  const redis: unknown = new Proxy(Redis, {
    construct(target, args: unknown[]): object {
      const [source, options = {}] = args as [unknown, Options | undefined]
      const merged = tlsOf(
        (options as Options).tls ??
          (typeof source === 'string' && source.startsWith('rediss:') ? true : undefined),
        tls,
      )
      return Reflect.construct(target, [
        source,
        merged === undefined ? options : { ...options, tls: merged },
      ]) as object
    },
    get(target, property, receiver) {
      if (property === 'default') return redis
      if (property === 'Cluster' && Cluster !== undefined) return cluster
      return Reflect.get(target, property, receiver)
    },
  })
  const cluster: unknown =
    Cluster === undefined
      ? undefined
      : new Proxy(Cluster, {
          construct(target, args: unknown[]): object {
            const [nodes, options = {}] = args as [unknown, Options | undefined]
            const redisOptions = ((options as Options).redisOptions ?? {}) as Options
            const merged = tlsOf(redisOptions.tls, tls)
            return Reflect.construct(target, [
              nodes,
              merged === undefined ? options : { ...options, redisOptions: { ...redisOptions, tls: merged } },
            ]) as object
          },
        })
  return redis
}

/** node-redis: `createClient({ url, socket })` and `createCluster({ rootNodes, defaults })`. */
function nodeRedisWithTls(mod: unknown, tls: TlsOptions): unknown {
  const lib = mod as Options
  const socket = (options: Options | undefined, url?: unknown): Options | undefined => {
    const current = (options ?? {}) as Options
    const wantsTls = current.tls === true || (typeof url === 'string' && url.startsWith('rediss:'))
    return wantsTls ? { ...current, tls: true, ...tls } : options
  }
  return new Proxy(lib, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (property === 'createClient' && typeof value === 'function') {
        return (options: Options = {}) =>
          value.call(target, {
            ...options,
            socket: socket(options.socket as Options | undefined, options.url),
          })
      }
      if (property === 'createCluster' && typeof value === 'function') {
        return (options: Options = {}) => {
          const defaults = (options.defaults ?? {}) as Options
          const rootNodes = ((options.rootNodes ?? []) as Options[]).map((node) => ({
            ...node,
            socket: socket(node.socket as Options | undefined, node.url),
          }))
          return value.call(target, {
            ...options,
            rootNodes,
            defaults: { ...defaults, socket: socket(defaults.socket as Options | undefined) },
          })
        }
      }
      return value
    },
  })
}
