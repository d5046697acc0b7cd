import type { EncodedValue } from '../serialization/serializer.js'
import type { CacheEntryWrite } from './log.js'

/** What a write-behind updates besides the log: the cache (`Cache` satisfies it). */
export interface WriteBehindCache {
  set(key: string, value: unknown): Promise<void>
  delete(key: string): Promise<void>
}

/**
 * The cache's side of a set whose L2 entry the log writes in its append (a log that
 * `writesCache`): one round trip for the log, the L2 and, after it, one bus message per batch.
 */
export interface CacheStaging {
  /** The cache's longest key: the write-behind refuses a longer one at the call, as the cache does. */
  readonly maxKeyLength: number
  /**
   * Stores the L1 entry now; returns the L2 entry to write, or undefined when this set needs the
   * ordinary path. `encoded` is the value as the log's serializer wrote it: the cache takes those
   * bytes as its payload when its own serializer writes the same (no second encoding).
   */
  stageSet(key: string, value: unknown, encoded: EncodedValue): StagedSet | undefined
  /** The append failed: the L1 entry staged for `key` must not stay. */
  unstage(key: string): void
  /** The entries are in the L2: tell the other instances (one message for all). */
  announce(keys: readonly string[], at: number): Promise<void>
}

export interface StagedSet {
  /** The L2 entry to write (undefined: nothing goes to the L2, e.g. a TTL of 0). */
  readonly entry: CacheEntryWrite | undefined
  /** When the set happened (the cache's clock): what the markers and the bus message carry. */
  readonly at: number
  /** Dependency markers to bump where they exist. */
  readonly markers: readonly string[]
}
