import { describeValue } from '../../base/describe.js'
import { InvalidOptionError } from '../../errors.js'
import type { TrackingListener } from '../../invalidation/tracking.js'
import type { LuaScript } from './scripts.js'

/**
 * The few Redis commands the L2 needs, behind one small interface so that node-redis and ioredis
 * (or a user's own client) plug in the same way. Values travel as Buffers, never strings, so
 * binary envelopes survive. Adapters add no deadline: {@link RedisTier} enforces its own.
 */
export interface RedisAdapter {
  readonly client: 'redis' | 'ioredis' | string
  /** True when every command goes over one connection, so the server runs them in the order they were issued. */
  readonly ordered?: boolean
  get(key: string): Promise<Buffer | null>
  mget(keys: readonly string[]): Promise<(Buffer | null)[]>
  /** SET key value [PX ttl]; `ttlMs` Infinity = no expiry. */
  set(key: string, value: Buffer, ttlMs: number): Promise<void>
  /** Several SETs in one round trip (a pipeline, not a transaction). */
  setMany(entries: readonly { key: string; value: Buffer; ttlMs: number }[]): Promise<void>
  unlink(keys: readonly string[]): Promise<number>
  scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }>
  /**
   * PING: one cheap round trip that proves the server answers (the circuit breaker's probe).
   * Optional so that adapters written before it keep working; {@link RedisTier} then probes with a
   * GET of {@link PING_FALLBACK_KEY} instead (implement `ping` if an ACL keeps you from reading it).
   */
  ping?(): Promise<void>
  /**
   * SET key value NX [PX ttl]: stores `value` only if `key` does not exist; true when it did.
   * `ttlMs` Infinity = no expiry. This and the two compare-and-* methods are the lock primitives:
   * an adapter without all three gives a {@link RedisTier} without `locks`.
   */
  setIfAbsent?(key: string, value: string, ttlMs: number): Promise<boolean>
  /** Deletes `key` if its value is `token`, atomically on the server (Lua); true when it did. */
  compareAndDelete?(key: string, token: string): Promise<boolean>
  /**
   * Sets `key` to expire `ttlMs` from now if its value is `token`, atomically on the server (Lua);
   * true when it did. `ttlMs` Infinity removes the expiry.
   */
  compareAndExpire?(key: string, token: string, ttlMs: number): Promise<boolean>
  /**
   * Runs a single-key Lua script: EVALSHA, then EVAL when the server does not have it (NOSCRIPT).
   * Invalidation (tombstones, tag markers) needs it: an adapter without it gives a
   * {@link RedisTier} without `invalidation`.
   */
  evalScript?(script: LuaScript, key: string, args: readonly (string | Buffer)[]): Promise<unknown>
  /**
   * Runs a Lua script over many keys (one Redis only): EVALSHA, then EVAL on NOSCRIPT. With
   * `ordered`, the tier sends the writes of one tick through it as one call (see `WriteQueue`);
   * without it, each write is its own command.
   */
  evalScriptKeys?(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ): Promise<unknown>
  /**
   * Calls `send`, whose commands leave in one socket write where the client can (ioredis writes
   * each command at once, one system call each; node-redis already gathers a tick's commands).
   * The tier sends each tick's writes, locks and reads through it. Order and replies are
   * unchanged. Optional: without it the commands leave as the client sends them.
   */
  together?(send: () => void): void
  /** PUBLISH channel message. With {@link subscribe}, the invalidation bus. */
  publish?(channel: string, message: Buffer): Promise<void>
  /**
   * Subscribes on a dedicated connection (opened on first use, closed with the adapter).
   * `onState('down')` when the subscriber connection drops (messages may be lost), `'up'` once
   * subscribed again. Resolves to the function that unsubscribes.
   */
  subscribe?(
    channel: string,
    onMessage: (message: Buffer) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>>
  /**
   * Client tracking (`l2.invalidation: 'tracking'`): Redis reports to `listener` every change of a
   * key starting with `prefix`, except those made over this adapter's own command connection
   * (`CLIENT TRACKING ON REDIRECT <subscriber> BCAST PREFIX … NOLOOP`). See KeyTracking.
   */
  track?(prefix: string, listener: TrackingListener): Promise<() => Promise<void>>
  /**
   * Sends one raw command on the adapter's connection (bulk strings as Buffers), e.g. XADD or
   * XREADGROUP. The write-behind log needs it: an adapter without it gives a {@link RedisTier}
   * without `streams`.
   */
  command?(args: readonly (string | Buffer)[]): Promise<unknown>
  /** Closes the connection; `force` drops it without waiting for replies. */
  close(force: boolean): Promise<void>
}

/** The key {@link RedisTier.ping} reads when the adapter has no `ping` (it never needs to exist). */
export const PING_FALLBACK_KEY = 'stratacache:ping'

/**
 * The largest PX sent: 2^53 - 1 ms (285,000 years). A longer finite TTL (an `s-maxage` of 20
 * digits, a TTL of `1e22`) would go out as '1e+22', which Redis refuses as not an integer: every
 * write of the key would fail. Capped, it is as good as no expiry, and Redis takes it (now + PX
 * stays far below its 2^63 limit).
 */
export const MAX_PX = Number.MAX_SAFE_INTEGER

/**
 * A TTL as Redis takes PX: a positive integer (sub-millisecond TTLs round up so they still
 * expire, a zero or negative one, -Infinity included, lives 1 ms), at most {@link MAX_PX};
 * undefined, no expiry, for Infinity only. NaN (or anything that is not a number) is refused
 * with an E_INVALID_OPTION naming `operation`: read as "not finite", it used to mean no expiry,
 * so a TTL computed from a missing value kept its key for good.
 */
export function pxOf(ttlMs: number, operation = 'a Redis write'): number | undefined {
  if (ttlMs === Number.POSITIVE_INFINITY) return undefined
  if (typeof ttlMs !== 'number' || Number.isNaN(ttlMs)) {
    throw new InvalidOptionError(
      `${operation}: the TTL is ${describeValue(ttlMs)}, not a number of milliseconds, so nothing was written (it is never taken as "no expiry"). Pass a TTL in ms (Infinity for no expiry); a NaN usually comes from arithmetic on a missing value.`,
    )
  }
  return Math.min(MAX_PX, Math.max(1, Math.ceil(ttlMs)))
}
