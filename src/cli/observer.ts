/**
 * The cache `diagnose` and `dashboard --redis` watch a namespace with: no L1, only listening and
 * asking Redis. Both must fail the same way when Redis is not there — one line naming the URL and
 * what to do, exit 1 — rather than hang on a server that never answers or print a client's
 * internals (issue: `dashboard` against a black hole waited forever).
 */
import { within } from '../base/deadline.js'
import { type Cache, createCache } from '../core/cache.js'
import type { CacheOptions } from '../core/option-types.js'
import { StrataError } from '../errors.js'
import { createRedisTier } from '../tiers/redis/create.js'
import { redactUrl } from './redis-url.js'

/** How long a command waits for Redis to answer (and for its subscriptions) before saying why it did not. */
export const OBSERVER_TIMEOUT_MS = 3_000

/** Redis did not answer a command's observer: the message names the URL and what to check. Exit code 1. */
export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError'
}

export interface Observer {
  readonly cache: Cache
  /** Closes the cache, then the connection it was given. */
  close(): Promise<void>
}

/**
 * Opens a cache of `namespace` on `url` (already checked by `parseRedisUrl`) and waits until Redis
 * answers and the bus listens; rejects with a {@link RedisUnreachableError} after
 * {@link OBSERVER_TIMEOUT_MS} otherwise.
 *
 * The connection is opened here and handed to the cache as its `l2.tier`: a cache that opens its
 * own connection warns once through `process.emitWarning` when it cannot connect (right for a
 * service, where nobody else would tell), which on a terminal printed a Node warning before the
 * command's own line. Given the tier, the cache stays quiet and this function says it once.
 */
export async function openObserver(
  url: string,
  namespace: string,
  options: Pick<CacheOptions, 'bus' | 'lock' | 'observability'> = {},
): Promise<Observer> {
  const tier = createRedisTier({ redis: url }, { timeoutMs: 500, batchSize: 100, onError: () => {} })
  const cache = createCache({ namespace, l1: false, l2: { tier }, ...options })
  const observer: Observer = {
    cache,
    close: async () => {
      await cache.close()
      await tier.close()
    },
  }
  try {
    await cache.ready({ timeout: OBSERVER_TIMEOUT_MS })
  } catch (error) {
    await observer.close()
    throw unreachable(url, error)
  }
  return observer
}

/**
 * `operation` (a subscription, a first read) within {@link OBSERVER_TIMEOUT_MS}: Redis answered a
 * PING but may still stop answering, and the command must not hang then either.
 */
export function withinObserverTimeout<T>(url: string, what: string, operation: Promise<T>): Promise<T> {
  return within(
    operation.catch((error: unknown) => {
      throw unreachable(url, error)
    }),
    OBSERVER_TIMEOUT_MS,
    () =>
      new RedisUnreachableError(
        `Redis at ${redactUrl(url)} did not answer ${what} within ${OBSERVER_TIMEOUT_MS / 1000} s: check --redis (host, port, password, TLS) and that the server is up.`,
      ),
  )
}

function unreachable(url: string, error: unknown): RedisUnreachableError {
  const reason = error instanceof Error ? error.message : String(error)
  // The library's advice names its option (l2.redis); here the user typed --redis.
  const said = error instanceof StrataError ? reason.replaceAll('l2.redis', '--redis') : reason
  return new RedisUnreachableError(`Redis at ${redactUrl(url)}: ${said}`, { cause: error })
}
