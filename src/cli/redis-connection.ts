/**
 * The Redis connection of the commands that talk to one (diagnose, dashboard --redis, rotate-keys,
 * writebehind). Each either hears from Redis within a stated deadline or prints one line naming
 * the server as host:port (never the user or password of the URL), what happened and what to try
 * — not the library's option names (`l2.timeout`) or error codes (`E_L2_TIMEOUT`). After such a
 * failure the connection is dropped at once: a polite QUIT to a server that answers nothing waited
 * out a deadline of its own (rotate-keys took 10 s to report a 5 s deadline).
 */
import { StrataError } from '../errors.js'
import type { RedisAdapter } from '../tiers/redis/adapter.js'
import {
  type ConnectionReport,
  connectionErrorCode,
  describeConnectionError,
  untilAnswering,
} from '../tiers/redis/connection.js'
import { createRedisTier } from '../tiers/redis/create.js'
import type { RedisTier } from '../tiers/redis/redis-tier.js'

/** Redis could not be reached or stopped answering: the message says where and what to try. Exit code 1. */
export class RedisUnreachableError extends Error {
  override name = 'RedisUnreachableError'
}

/** Where a `--redis` URL points (already checked by `parseRedisUrl`), with Redis's defaults; never its user or password. */
function addressOf(url: string): { hostname: string; port: number; tls: boolean } | undefined {
  try {
    const parsed = new URL(url)
    return {
      hostname: parsed.hostname || '127.0.0.1',
      port: parsed.port === '' ? 6379 : Number(parsed.port),
      tls: parsed.protocol === 'rediss:',
    }
  } catch {
    return undefined
  }
}

/** `host:port` of a `--redis` URL: never its user or password. */
export function redisEndpoint(url: string): string {
  const address = addressOf(url)
  return address === undefined ? 'the --redis address' : `${address.hostname}:${address.port}`
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`

/** What to run to see for oneself whether that Redis answers. */
function pingHint(url: string): string {
  const address = addressOf(url)
  if (address === undefined) return 'redis-cli ping'
  // redis-cli takes an IPv6 address without the URL's brackets.
  const host = address.hostname.replace(/^\[(.*)\]$/, '$1')
  return `redis-cli -h ${host} -p ${address.port}${address.tls ? ' --tls' : ''} ping`
}

/**
 * The line for a Redis that accepted the connection (or is still being connected to) but did not
 * answer `what` within `withinMs`.
 */
export function noAnswerMessage(url: string, what: string, withinMs: number): string {
  return (
    `Redis at ${redisEndpoint(url)} did not answer ${what} within ${seconds(withinMs)}: nothing came back ` +
    '(a server that is paused, overloaded or behind a firewall, or something other than Redis on that port). ' +
    `Check the host and port in --redis and that redis-server is up and answering (${pingHint(url)}).`
  )
}

/** The line for a connection that failed with `cause` (refused, unknown host, wrong password…). */
export function connectionFailedMessage(url: string, cause: unknown): string {
  const at = `Redis at ${redisEndpoint(url)}`
  const said = describeConnectionError(cause)
  switch (connectionErrorCode(cause)) {
    case 'ECONNREFUSED':
      return `${at} refused the connection (${said}): nothing listens there. Check the port in --redis and that redis-server is running.`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${at}: the host name does not resolve (${said}). Check the host in --redis.`
    case 'WRONGPASS':
      return `${at} refused the user name or password of --redis (${said}). Check them (redis://USER:PASSWORD@host:port).`
    case 'NOAUTH':
      return `${at} requires a password (${said}): give it in --redis (redis://:PASSWORD@host:port).`
    default:
      return `${at}: ${said}. Check --redis (host, port, password; rediss:// and --ca for TLS) and that redis-server is up.`
  }
}

/** A deadline the library reported (`E_L2_TIMEOUT`), rather than something the connection said. */
function isTimeout(error: unknown): boolean {
  return error instanceof StrataError && error.code === 'E_L2_TIMEOUT'
}

/** A call to Redis that failed with `error`: a missed deadline, or what the error says. */
export function callFailure(
  url: string,
  error: unknown,
  what: string,
  withinMs: number,
): RedisUnreachableError {
  return new RedisUnreachableError(
    isTimeout(error) ? noAnswerMessage(url, what, withinMs) : connectionFailedMessage(url, error),
    { cause: error },
  )
}

/**
 * `error`, thrown by a call to Redis, as the line to print: what the connection last reported if
 * it reported something (a refused port, a wrong password, a reset), else — for a missed deadline
 * — that Redis did not answer `what` within `withinMs`, followed by `then` (what to do next).
 * Other errors (a command Redis refused, a bug) come back as they are.
 */
export function redisFailure(
  url: string,
  error: unknown,
  options: { what: string; withinMs: number; connection: ConnectionReport; then?: string },
): unknown {
  if (error instanceof RedisUnreachableError) return error
  const then = options.then === undefined ? '' : ` ${options.then}`
  const reported = options.connection.cause
  if (reported !== undefined) {
    return new RedisUnreachableError(`${connectionFailedMessage(url, reported)}${then}`, { cause: error })
  }
  if (isTimeout(error)) {
    return new RedisUnreachableError(`${noAnswerMessage(url, options.what, options.withinMs)}${then}`, {
      cause: error,
    })
  }
  return error
}

/**
 * The error `ready()` (or {@link untilAnswering}) rejected with, as the line to print: the
 * connection's own error when it reported one (or Redis refused the PING: NOAUTH…), else that
 * nothing answered `what` within `withinMs`.
 */
export function notReadyFailure(
  url: string,
  error: unknown,
  options: { what: string; withinMs: number; connection: ConnectionReport },
): RedisUnreachableError {
  if (error instanceof RedisUnreachableError) return error
  // ready() wraps the connection's cause, or the last PING's failure, in an E_L2 of its own.
  const wrapped = error instanceof StrataError && error.code === 'E_L2' ? error.cause : error
  const cause = options.connection.cause ?? (isTimeout(wrapped) ? undefined : wrapped)
  return new RedisUnreachableError(
    cause === undefined
      ? noAnswerMessage(url, options.what, options.withinMs)
      : connectionFailedMessage(url, cause),
    { cause: error },
  )
}

/** Drops the connections of `tier` without a QUIT (which would wait for an answer), then closes the tier. */
export async function closeTierNow(tier: { adapter: RedisAdapter; close(): Promise<void> }): Promise<void> {
  try {
    await tier.adapter.close(true)
  } catch {
    // Already closed.
  }
  try {
    // Nothing left to wait for: the connections are gone, so QUIT fails at once.
    await tier.close()
  } catch {
    // The process is leaving.
  }
}

export interface CliRedis {
  readonly tier: RedisTier
  /**
   * `operation` (calls on this connection), with a failure to reach Redis turned into a
   * {@link RedisUnreachableError} saying `what` was not answered, then `then` (what to do next);
   * the connection is dropped at once.
   */
  run<T>(what: string, operation: () => Promise<T>, then?: string): Promise<T>
  /** QUIT when Redis has answered everything; `{ now: true }` (after a failure): drop the connections. */
  close(options?: { now?: boolean }): Promise<void>
}

export interface CliRedisOptions {
  readonly client?: 'ioredis' | 'redis' | undefined
  readonly tls?: { ca: string } | undefined
  /** Each Redis call's deadline, and the deadline of the first PING. */
  readonly timeoutMs: number
  readonly batchSize?: number
}

/**
 * Connects to `url` and waits (at most `timeoutMs`) for Redis to answer a PING; rejects with a
 * {@link RedisUnreachableError}, the connection dropped, otherwise.
 */
export async function connectRedis(url: string, options: CliRedisOptions): Promise<CliRedis> {
  const tier = createRedisTier(
    {
      redis: url,
      ...(options.client === undefined ? {} : { client: options.client }),
      ...(options.tls === undefined ? {} : { tls: options.tls }),
    },
    { timeoutMs: options.timeoutMs, batchSize: options.batchSize ?? 100, onError: () => {} },
  )
  let closing: Promise<void> | undefined
  const close = (now: boolean): Promise<void> => {
    closing ??= now ? closeTierNow(tier) : tier.close().catch(() => closeTierNow(tier))
    return closing
  }
  try {
    await untilAnswering({
      ping: () => tier.ping(),
      subscribed: Promise.resolve({ ok: true }),
      report: tier.connection,
      timeoutMs: options.timeoutMs,
    })
  } catch (error) {
    const failure = notReadyFailure(url, error, {
      what: 'PING',
      withinMs: options.timeoutMs,
      connection: tier.connection,
    })
    await close(true)
    throw failure
  }
  return {
    tier,
    run: async (what, operation, then) => {
      try {
        return await operation()
      } catch (error) {
        const failure = redisFailure(url, error, {
          what,
          withinMs: options.timeoutMs,
          connection: tier.connection,
          ...(then === undefined ? {} : { then }),
        })
        if (failure instanceof RedisUnreachableError) await close(true)
        throw failure
      }
    },
    close: (closeOptions = {}) => close(closeOptions.now === true),
  }
}
