import type { PolicyName } from '../eviction/index.js'
import { Random } from '../simulation/random.js'
import { MemoryStore, MISS } from '../tiers/memory/memory-store.js'
import { scaledCapacity } from './replay.js'
import type { RetainedEvents } from './retained.js'

/** How the recommended configuration treats the reads of one signature and the writes to its type. */
export interface SignaturePlan {
  /** False for a don't-cache signature: its reads are not replayed (nor counted). */
  readonly cached: boolean
  readonly ttlMs: number
  /** The type's index: writes to it invalidate this signature's entries. */
  readonly type: number
  /** On a write to its entity: drop the key (`'delete'`), rewrite it (`'refresh'`, write-through), or nothing. */
  readonly onEntityWrite: 'delete' | 'refresh' | 'none'
  /** Entries carry the type's tag, invalidated on every write to the type. */
  readonly tagged: boolean
}

export interface ReplayConfig {
  readonly plans: readonly SignaturePlan[]
  /** L1 entries (scaled by the events' sampling rate); Infinity: unbounded (an L2 that keeps everything). */
  readonly size: number
  readonly policy: PolicyName
  /** Whether the events' times drive expiry; without times, entries never expire. */
  readonly timed: boolean
  /**
   * Whether an event's time is the log's (not an outlier far off the rest): the others leave the
   * clock where it was, so that one line dated decades off does not expire, or keep alive, what
   * is stored at it. Default: every time.
   */
  readonly timeWithin?: (time: number) => boolean
  /** ±fraction of every TTL, as `createCache`'s `jitter` (default 0.1). */
  readonly jitter: number
  /** Replays only the reads whose key hash has this low bit (for the error band); undefined: all. */
  readonly half?: 0 | 1
  /**
   * The cached reads of the whole log. On a key sample, the difference between the reads a sample
   * of that rate should hold and those it holds is counted as hits (SHARDS-adj): it comes from the
   * hottest keys, in or out of the sample by the luck of their hash, and those keys hit.
   */
  readonly totalReads?: number
}

export interface ReplayResult {
  readonly reads: number
  readonly hits: number
  readonly hitRatio: number
}

/**
 * The log's events replayed through the L1 that `createCache` runs ({@link MemoryStore}),
 * configured as recommended: each cached read is a `get` and, on a miss, a `set` with its
 * signature's TTL (jittered like the cache's) and tag, at the log's own time; each write deletes
 * (or, write-through, rewrites) the keys of the entity it names — those read earlier in the log:
 * the replay knows no other — and invalidates its type's tag.
 * On a key sample (SHARDS) the cache is scaled down by the sampling rate (miniature simulation):
 * TTLs and invalidations act per key, so they need no scaling.
 */
export function replayConfiguration(events: RetainedEvents, config: ReplayConfig): ReplayResult {
  const distinct = new Map<number, string>()
  const bounded = Number.isFinite(config.size)
  const store = new MemoryStore({
    maxEntries: bounded ? scaledCapacity(config.size, events.rate) : Math.max(1, events.length),
    maxBytes: Number.POSITIVE_INFINITY,
    policy: bounded ? config.policy : 'lru',
  })
  const random = new Random(7)
  const jitter = config.jitter
  const tags = new Map<number, readonly string[]>()
  const tagOf = (type: number): readonly string[] => {
    let tag = tags.get(type)
    if (tag === undefined) {
      tag = [`t${type}`]
      tags.set(type, tag)
    }
    return tag
  }
  const taggedTypes = new Set<number>()
  for (const plan of config.plans) if (plan.cached && plan.tagged) taggedTypes.add(plan.type)
  /** Keys of each (type, entity) read so far, with their signature, for invalidation on write. */
  const byEntity = new Map<number, { key: string; plan: SignaturePlan }[]>()
  const expiry = (now: number, ttlMs: number): number =>
    config.timed && Number.isFinite(ttlMs)
      ? now + ttlMs * (1 + (2 * random.next() - 1) * jitter)
      : Number.POSITIVE_INFINITY
  const within = config.timeWithin ?? (() => true)
  let now = 0
  let reads = 0
  let hits = 0
  for (let i = 0; i < events.length; i++) {
    const time = events.times[i] as number
    if (config.timed && !Number.isNaN(time) && within(time)) now = time
    const id = events.ids[i] as number
    const code = events.codes[i] as number
    if (id < 0) {
      const entity = events.hashes[i] as number
      if (entity !== 0) {
        const keys = byEntity.get(code * 4294967296 + entity)
        if (keys !== undefined) {
          for (const { key, plan } of keys) {
            if (plan.onEntityWrite === 'delete') store.delete(key)
            else store.set(key, 1, expiry(now, plan.ttlMs), 1, 0, plan.tagged ? tagOf(plan.type) : [], now)
          }
        }
      }
      if (taggedTypes.has(code)) store.deleteTagged(tagOf(code))
      continue
    }
    const plan = config.plans[code] as SignaturePlan
    if (!plan.cached) continue
    if (config.half !== undefined && ((events.hashes[i] as number) & 1) !== config.half) continue
    reads++
    let key = distinct.get(id)
    if (key === undefined) {
      key = `k${id}`
      distinct.set(id, key)
      const entity = events.entities[i] as number
      if (entity !== 0 && plan.onEntityWrite !== 'none') {
        const at = plan.type * 4294967296 + entity
        let keys = byEntity.get(at)
        if (keys === undefined) {
          keys = []
          byEntity.set(at, keys)
        }
        keys.push({ key, plan })
      }
    }
    if (store.get(key, now) !== MISS) hits++
    else store.set(key, 1, expiry(now, plan.ttlMs), 1, 0, plan.tagged ? tagOf(plan.type) : [], now)
  }
  if (events.rate < 1 && config.totalReads !== undefined && config.totalReads > 0) {
    const expected = config.totalReads * events.rate
    return { reads, hits, hitRatio: Math.min(1, Math.max(0, (hits + expected - reads) / expected)) }
  }
  return { reads, hits, hitRatio: reads === 0 ? 0 : hits / reads }
}

/**
 * The prediction's error band (± hit-ratio points, as a fraction): `modelError` — what replaying
 * the log cannot know (jitter draws, the real cache's own timing) — plus, on a key sample, about
 * two standard errors of the sampling: the sample split in two by a hash bit, each half replayed at
 * half the rate; the halves differ by about 1.6 standard errors of the whole on average.
 */
export function errorBand(
  events: RetainedEvents,
  config: ReplayConfig,
  modelError: number,
): { band: number; halves: readonly [number, number] | null } {
  if (events.rate >= 1) return { band: modelError, halves: null }
  // Each half is a key sample at half the rate: its cache is scaled down accordingly.
  const half = { ...events, rate: events.rate / 2 }
  const a = replayConfiguration(half, { ...config, half: 0 }).hitRatio
  const b = replayConfiguration(half, { ...config, half: 1 }).hitRatio
  return { band: modelError + 1.25 * Math.abs(a - b), halves: [a, b] }
}
