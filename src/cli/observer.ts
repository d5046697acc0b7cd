/**
 * The cache `diagnose` and `dashboard --redis` watch a namespace with: no L1, only listening and
 * asking Redis. Both must fail the same way when Redis is not there — one line naming host:port
 * and what to do, exit 1 — rather than hang on a server that never answers or print a client's
 * internals (issue: `dashboard` against a black hole waited forever), and drop the connection at
 * once then (a QUIT would wait for an answer too).
 */
import { within } from '../base/deadline.js'
import { type Cache, createCache } from '../core/cache.js'
import type { CacheOptions } from '../core/option-types.js'
import { createRedisTier } from '../tiers/redis/create.js'
import {
  callFailure,
  closeTierNow,
  noAnswerMessage,
  notReadyFailure,
  RedisUnreachableError,
} from './redis-connection.js'

export { RedisUnreachableError } from './redis-connection.js'

/** How long a command waits for Redis to answer (and for its subscriptions) before saying why it did not. */
export const OBSERVER_TIMEOUT_MS = 3_000
/** The deadline of each of the observer's Redis calls (a PING, INFO for health()). */
export const OBSERVER_CALL_TIMEOUT_MS = 500

export interface Observer {
  readonly cache: Cache
  /**
   * Closes the cache, then the connection it was given (with a QUIT); `{ now: true }`, after Redis
   * failed to answer: drops the connection first, so closing waits for nothing.
   */
  close(options?: { now?: boolean }): Promise<void>
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
  const tier = createRedisTier(
    { redis: url },
    {
      timeoutMs: OBSERVER_CALL_TIMEOUT_MS,
      batchSize: 100,
      onError: () => {},
    },
  )
  const cache = createCache({ namespace, l1: false, l2: { tier }, ...options })
  const observer: Observer = {
    cache,
    close: async (options = {}) => {
      if (options.now === true) await closeTierNow(tier)
      await cache.close()
      await tier.close()
    },
  }
  try {
    await cache.ready({ timeout: OBSERVER_TIMEOUT_MS })
  } catch (error) {
    const failure = notReadyFailure(url, error, {
      what: 'PING',
      withinMs: OBSERVER_TIMEOUT_MS,
      connection: tier.connection,
    })
    await observer.close({ now: true })
    throw failure
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
      throw callFailure(url, error, what, OBSERVER_TIMEOUT_MS)
    }),
    OBSERVER_TIMEOUT_MS,
    () => new RedisUnreachableError(noAnswerMessage(url, what, OBSERVER_TIMEOUT_MS)),
  )
}
