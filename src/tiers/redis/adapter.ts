/**
 * The few Redis commands the L2 needs, behind one small interface so that node-redis and ioredis
 * (or a user's own client) plug in the same way. Values travel as Buffers, never strings, so
 * binary envelopes survive. Adapters add no deadline: {@link RedisTier} enforces its own.
 */
export interface RedisAdapter {
  readonly client: 'redis' | 'ioredis' | string
  get(key: string): Promise<Buffer | null>
  mget(keys: readonly string[]): Promise<(Buffer | null)[]>
  /** SET key value [PX ttl]; `ttlMs` Infinity = no expiry. */
  set(key: string, value: Buffer, ttlMs: number): Promise<void>
  /** Several SETs in one round trip (a pipeline, not a transaction). */
  setMany(entries: readonly { key: string; value: Buffer; ttlMs: number }[]): Promise<void>
  unlink(keys: readonly string[]): Promise<number>
  scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }>
  /** Closes the connection; `force` drops it without waiting for replies. */
  close(force: boolean): Promise<void>
}

/** Redis takes PX as a positive integer; sub-millisecond TTLs round up so they still expire. */
export function pxOf(ttlMs: number): number | undefined {
  return Number.isFinite(ttlMs) ? Math.max(1, Math.ceil(ttlMs)) : undefined
}
