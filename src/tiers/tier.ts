import type { LockService } from '../coordination/lock.js'
import type { Bus } from '../invalidation/bus.js'
import type { InvalidationStore } from '../invalidation/store.js'
import type { KeyTracking } from '../invalidation/tracking.js'

/** A key of a many-key read that was not read (its node failed): neither present nor absent. */
export const UNREAD: unique symbol = Symbol('stratacache.unread')
export type Unread = typeof UNREAD

/**
 * A shared, byte-oriented tier (the L2): Redis in production, {@link MemoryRemoteTier} in unit
 * tests. Keys are full storage keys (namespace and version included). The core never sees a
 * Redis command; it only calls this.
 */
export interface RemoteTier {
  /** A short name for metrics and errors ('redis', 'memory'). */
  readonly name: string
  /** The stored bytes, or undefined (absent, expired, or a tombstone). */
  get(key: string): Promise<Uint8Array | undefined>
  /** One round trip for all keys (MGET or pipeline); the result is aligned with `keys`. */
  getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]>
  /**
   * As {@link getMany}, for a tier whose keys live on several nodes (a Redis Cluster): a key whose
   * node failed while others answered is {@link UNREAD} instead of undefined, so that it counts as
   * a failed read rather than as a miss (undefined means the tier said "absent"). Rejects when no
   * node answered. Optional: a tier without it has no partial reads (its getMany fails whole).
   */
  getManyOrUnread?(keys: readonly string[]): Promise<(Uint8Array | undefined | Unread)[]>
  /** Stores `value`; `ttlMs` is Infinity for no expiry. */
  set(key: string, value: Uint8Array, ttlMs: number): Promise<void>
  setMany(entries: readonly RemoteEntry[]): Promise<void>
  /** Deletes the keys; resolves to how many existed. */
  delete(keys: readonly string[]): Promise<number>
  /**
   * Deletes every key that starts with the literal `prefix` (glob characters in it are escaped)
   * and whose remainder matches the glob `pattern` (default `'*'`: everything). Resolves to how
   * many it deleted.
   */
  deleteByPrefix(prefix: string, pattern?: string): Promise<number>
  /** One cheap round trip that proves the tier answers (the circuit breaker's probe). */
  ping(): Promise<void>
  /** Per-key locks shared by every process using this tier (distributed single-flight), if the tier offers them. */
  readonly locks?: LockService
  /** Tombstones and tag markers (invalidation that is never wrong), if the tier offers them. */
  readonly invalidation?: InvalidationStore
  /** The channel instances use to tell each other what changed, if the tier offers one. */
  readonly bus?: Bus
  /** Redis client tracking: changes of keys under a prefix, whoever made them, if the tier offers it. */
  readonly tracking?: KeyTracking
  /** Raw commands for durable logs (Redis Streams: the write-behind log), if the tier offers them. */
  readonly streams?: StreamCommands
  /** Memory and eviction figures for `cache.health()` (Redis `INFO memory` and `INFO stats`), if the tier has them. */
  info?(): Promise<RemoteInfo>
  /** Releases what the tier opened (never a client the user passed in). */
  close(): Promise<void>
}

/** What the shared tier says of its memory. */
export interface RemoteInfo {
  /** Bytes in use (Redis `used_memory`). */
  usedMemory: number
  /** The limit, 0 for none (Redis `maxmemory`). */
  maxMemory: number
  /** What happens at the limit (Redis `maxmemory-policy`). */
  maxMemoryPolicy: string
  /** Keys evicted since the server started (Redis `evicted_keys`). */
  evictedKeys: number
}

export interface RemoteEntry {
  key: string
  value: Uint8Array
  ttlMs: number
}

/**
 * Raw Redis commands on the tier's own connection, each under the tier's per-call deadline: what
 * the write-behind log (Redis Streams) needs. Bulk-string replies come back as Buffers.
 */
export interface StreamCommands {
  /**
   * True on a Redis Cluster: every call goes to the master of its routing key's slot (the keys of
   * one call must share it), and nothing else (the cache's entries) can be written with it.
   */
  readonly routed?: boolean
  /** One command, e.g. `['XLEN', key]`; `key` routes it on a cluster (every key it names must share its slot). */
  call(args: readonly (string | Buffer)[], key?: string): Promise<unknown>
  /**
   * A Lua script over `keys` (all in one hash slot; routed by the first): EVALSHA, then EVAL when
   * the server does not have it cached.
   */
  eval(
    script: { readonly lua: string; readonly sha: string },
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ): Promise<unknown>
}
