import { stampText } from '../base/clock.js'

/**
 * What a shared tier stores for invalidation, besides values: per-key *tombstones* (the key was
 * deleted at time t, so a load that started before t must not write its result back) and per-tag
 * *markers* (the tag was invalidated at time t, so an entry created before t is gone or stale —
 * lazy invalidation, O(1) per tag whatever the number of tagged entries). Every operation touches
 * one key per call, so it works unchanged on a Redis Cluster.
 */
export interface InvalidationStore {
  /**
   * Replaces each key's value with a tombstone saying it was deleted at `at`, kept `keepMs`. Reads
   * see a miss. With `bump`, its markers are bumped too (`bump.keys[i]` is `keys[i]`'s where they align).
   */
  tombstone(keys: readonly string[], at: number, keepMs: number, bump?: MarkerBump): Promise<void>
  /**
   * Stores a value made at `since` unless the key holds something newer, atomically on the server:
   * a value created after `since`, or a tombstone dated after it — or at the same time for a
   * `'load'` (the default: a value a load that started at `since` computed; the lease check of
   * "Scaling Memcache", NSDI 2013). A write that reaches the server late (held by the network past
   * its deadline) thus never replaces a newer one. Resolves to whether it stored it. With `bump`,
   * the markers of what depended on the key are bumped after it, stored or not.
   */
  setLoaded(
    key: string,
    value: Uint8Array,
    ttlMs: number,
    since: number,
    kind?: 'load' | 'set',
    bump?: MarkerBump,
  ): Promise<boolean>
  /** The markers of `keys`, aligned; undefined where there is none (never used, expired, or evicted). */
  markers(keys: readonly string[]): Promise<(TagMarker | undefined)[]>
  /**
   * Makes each marker exist and live at least `ttlMs` more (Infinity: forever). A marker created
   * here records a deletion at `createdBefore`: if it was missing because it was evicted or lost,
   * entries created before that are unknown, so they read as misses (fail closed).
   */
  touchMarkers(keys: readonly string[], ttlMs: number, createdBefore: number): Promise<void>
  /**
   * Records an invalidation at `at` in each marker (keeping the later time). A missing marker is
   * created to live `ttlMs`, unless `onlyExisting` (nothing can depend on a marker nobody created).
   */
  bumpMarkers(
    keys: readonly string[],
    at: number,
    mode: InvalidationMode,
    ttlMs: number,
    onlyExisting?: boolean,
  ): Promise<void>
}

/**
 * The dependency markers a change of a key outdates, bumped with the change (in the same script
 * call where the tier can: one promise and one round trip per write, not two): each that exists
 * records a delete at `at`, as `bumpMarkers(keys, at, 'delete', …, true)` does. Their failure never
 * fails the change (nothing depends on a marker that could not be read): it goes to `failed`.
 */
export interface MarkerBump {
  readonly keys: readonly string[]
  readonly at: number
  readonly failed: (error: unknown) => void
}

/**
 * `change`'s outcome, once `bump`'s markers (only those that exist) are bumped beside it on
 * `store` — for a change and a bump that cannot share a write (other slots, no write batch). A
 * failed bump goes to `bump.failed` and never fails the change.
 */
export function bumpAlongside<T>(
  store: InvalidationStore,
  change: Promise<T>,
  bump: MarkerBump | undefined,
): Promise<T> {
  if (bump === undefined || bump.keys.length === 0) return change
  // Only existing markers: never created, so their time to live is never used.
  const bumped = store.bumpMarkers(bump.keys, bump.at, 'delete', 0, true).catch(bump.failed)
  return Promise.all([change, bumped]).then(([outcome]) => outcome)
}

/** `'delete'`: entries created before the invalidation are gone. `'expire'`: they are stale — never served as fresh, still usable by grace and fail-safe. */
export type InvalidationMode = 'delete' | 'expire'

/** When a tag was last invalidated in each mode (0 = never). */
export interface TagMarker {
  deletedAt: number
  expiredAt: number
}

/** Tombstones are stored as this ASCII prefix and the time: no envelope starts with '!'. */
export const TOMBSTONE_PREFIX = '!del:'
const TOMBSTONE_FIRST_BYTE = 0x21

/** What a tombstone dated `at` stores. */
export function tombstoneBytes(at: number): Buffer {
  return Buffer.from(TOMBSTONE_PREFIX + stampText(at), 'latin1')
}

/** Whether stored bytes are a tombstone (a miss to every reader). */
export function isTombstone(bytes: Uint8Array): boolean {
  return bytes[0] === TOMBSTONE_FIRST_BYTE && bytes[1] === 0x64 && bytes[2] === 0x65 && bytes[3] === 0x6c
}

/** The time in a tombstone's bytes. */
export function tombstoneTime(bytes: Uint8Array): number {
  return Number(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1', 5))
}

/** A marker's stored form, `"<deletedAt>,<expiredAt>"`. */
export function encodeMarker(marker: TagMarker): string {
  return `${marker.deletedAt},${marker.expiredAt}`
}

/** Parses a stored marker; undefined for anything malformed (treated as missing: fail closed). */
export function decodeMarker(text: string): TagMarker | undefined {
  const comma = text.indexOf(',')
  if (comma < 0) return undefined
  const deletedAt = Number(text.slice(0, comma))
  const expiredAt = Number(text.slice(comma + 1))
  if (!Number.isFinite(deletedAt) || !Number.isFinite(expiredAt)) return undefined
  return { deletedAt, expiredAt }
}

/** First byte and highest format version of a plain (unencrypted) entry envelope, as the write scripts read them. */
const ENVELOPE_FIRST_BYTE = 0xc5
const ENVELOPE_LAST_VERSION = 2

/**
 * Whether stored bytes are newer than a write made at `since` — what the write scripts check
 * before they replace a key (see SET_LOADED in tiers/redis/scripts.ts), for tiers that run no
 * script: a plain entry created after `since` (its envelope's created-at, float64 LE at offset 3),
 * or a tombstone dated after it — or at the same time, for a `load`. Bytes it cannot date (an
 * encrypted entry), or date {@link NEWER_HORIZON_MS} or more ahead of the write, are never newer.
 */
export function holdsNewer(bytes: Uint8Array, since: number, load: boolean): boolean {
  if (isTombstone(bytes)) {
    const at = tombstoneTime(bytes)
    return at - since < NEWER_HORIZON_MS && (at > since || (load && at === since))
  }
  if (bytes.length < 11 || bytes[0] !== ENVELOPE_FIRST_BYTE || (bytes[1] as number) > ENVELOPE_LAST_VERSION)
    return false
  const createdAt = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getFloat64(3, true)
  return createdAt > since && createdAt - since < NEWER_HORIZON_MS
}

/**
 * How far ahead of a write a stored time may be and still count as newer (a day): further than
 * any clock is off, it was forged — anyone who can write to Redis could plant an entry dated
 * Infinity, which would refuse every later write of the key — and the write replaces it.
 */
export const NEWER_HORIZON_MS = 86_400_000
