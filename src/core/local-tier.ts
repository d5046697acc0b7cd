import { parseDuration } from '../base/duration.js'
import { InvalidOptionError } from '../errors.js'
import type { PolicyName } from '../eviction/index.js'
import {
  ATTENTION,
  CLONE_ON_READ,
  EAGER,
  type EntryView,
  MemoryStore,
  MISS,
} from '../tiers/memory/memory-store.js'
import type { Decoded } from './entry-codec.js'
import { deepFreeze, type Isolation } from './isolation.js'
import type { Resilience } from './options.js'
import type { TagState } from './tag-state.js'
import type { Telemetry } from './telemetry.js'

export { ATTENTION, EAGER, type EntryView, MISS }

/**
 * XFetch's exponential draw −ln(U) is truncated at this many factory durations: entries enter
 * their refresh window this long before expiry (times δ·β), and a draw beyond it has a
 * probability of e^−12 ≈ 6·10⁻⁶ — the hit path compares one number until then.
 */
export const XFETCH_SPAN = 12

/** A value written by this instance, as the local tier needs it. */
export interface LocalWrite {
  now: number
  /** When the value was created (a loaded value: when its load started). */
  createdAt: number
  /** The entry's TTL (jittered), and its grace after it. */
  ttlMs: number
  graceMs: number
  /** Encoded size in bytes. */
  size: number
  tags: readonly string[]
  /** How long the factory took (0 for a set): XFetch's δ. */
  loadMs: number
  sliding: boolean
  maxTtl: EntryMaxTtl
}

type EntryMaxTtl = Parameters<typeof parseDuration>[0] | undefined

/** The options of the in-process tier, resolved. */
export interface LocalTierOptions {
  maxEntries: number
  maxBytes: number
  ttlMs: number
  isolation: Isolation
  policy: PolicyName
}

/**
 * The in-process tier as the cache uses it: reads, and stores that apply the isolation policy,
 * the L1's own TTL cap, soft expiry (the refresh window) and sliding expiry. `NoLocalTier` stands
 * in when the cache has no L1.
 */
export interface LocalTier {
  /** A value, MISS, or ATTENTION (stale within grace, or in its refresh window: see {@link inspect}). */
  lookup(key: string, now: number): unknown
  /** A fresh value or MISS. */
  get(key: string, now: number): unknown
  inspect(key: string, now: number): EntryView | undefined
  /** A read this tier could not answer: counted (and classified) as an L1 miss. */
  missed(key: string): void
  /** Keeps a value read from the L2; returns what callers receive. */
  backfill(key: string, found: Decoded, res: Resilience, now: number): unknown
  /** Keeps a value this instance wrote. */
  keep(key: string, value: unknown, write: LocalWrite, res: Resilience): void
  delete(key: string): void
  deleteTagged(tags: readonly string[]): void
  expireTagged(tags: readonly string[], now: number): void
  /** Deletes the keys matching `match`; returns how many. */
  deleteMatching(match: RegExp): number
  clear(): void
  refreshUntil(key: string, until: number): void
  tagsOf(key: string): readonly string[]
  readonly usage: LocalUsage | undefined
  readonly evictions: number
  readonly expirations: number
  /**
   * Whether {@link backfill} keeps what the L2 returned (false without an L1): only then must an
   * L2 read watch for the changes that would overtake it (see `Loader.read`).
   */
  readonly keepsReads: boolean
}

export interface LocalUsage {
  entries: number
  bytes: number
  maxEntries: number
  maxBytes: number
}

/** What the store keeps for one entry (every time absolute, in ms). */
interface LocalRecord {
  value: unknown
  now: number
  createdAt: number
  /** Physical expiry in the L1: fresh time plus grace (or the sliding cap). */
  expiresAt: number
  size: number
  tags: readonly string[]
  slideMs: number
  maxExpiresAt: number
  freshUntil: number
  softAt: number
  eager: boolean
}

export class MemoryLocalTier implements LocalTier {
  readonly keepsReads = true
  readonly #store: MemoryStore
  readonly #options: LocalTierOptions
  readonly #tags: TagState
  readonly #telemetry: Telemetry

  constructor(options: LocalTierOptions, tags: TagState, telemetry: Telemetry) {
    this.#options = options
    this.#tags = tags
    this.#telemetry = telemetry
    this.#store = new MemoryStore({
      maxEntries: options.maxEntries,
      maxBytes: options.maxBytes,
      policy: options.policy,
    })
    this.#store.onRemoved = (key, cause) => telemetry.onL1Removed(key, cause)
  }

  lookup(key: string, now: number): unknown {
    return this.#store.lookup(key, now)
  }

  get(key: string, now: number): unknown {
    return this.#store.get(key, now)
  }

  inspect(key: string, now: number): EntryView | undefined {
    return this.#store.inspect(key, now)
  }

  missed(key: string): void {
    this.#telemetry.l1Missed(key)
  }

  backfill(key: string, found: Decoded, res: Resilience, now: number): unknown {
    const freshUntil = Math.min(found.expiresAt, now + this.#options.ttlMs)
    const expiresAt = freshUntil + res.graceMs
    return this.#keep(key, {
      value: found.value,
      now,
      createdAt: found.createdAt,
      expiresAt,
      size: found.size,
      tags: found.tags,
      slideMs: 0,
      maxExpiresAt: expiresAt,
      freshUntil,
      softAt: softAt(found.createdAt, freshUntil, found.loadMs, res),
      eager: res.eagerRefresh > 0,
    })
  }

  keep(key: string, value: unknown, write: LocalWrite, res: Resilience): void {
    const { now, ttlMs } = write
    const l1TtlMs = this.#options.ttlMs
    const freshUntil = Math.min(now + ttlMs, now + l1TtlMs)
    const expiresAt = freshUntil + write.graceMs
    if (!write.sliding) {
      this.#keep(key, {
        value,
        now,
        createdAt: write.createdAt,
        expiresAt,
        size: write.size,
        tags: write.tags,
        slideMs: 0,
        maxExpiresAt: expiresAt,
        freshUntil,
        softAt: softAt(now, freshUntil, write.loadMs, res),
        eager: res.eagerRefresh > 0,
      })
      return
    }
    const maxExpiresAt = Math.min(now + assertSlidingCap(write.maxTtl), now + l1TtlMs)
    const slidingExpiry = Math.min(freshUntil, maxExpiresAt)
    this.#keep(key, {
      value,
      now,
      createdAt: write.createdAt,
      expiresAt: slidingExpiry,
      size: write.size,
      tags: write.tags,
      slideMs: Math.min(ttlMs, l1TtlMs),
      maxExpiresAt,
      freshUntil: slidingExpiry,
      softAt: slidingExpiry,
      eager: false,
    })
  }

  /** Puts a value in the L1 under the isolation policy; returns what callers should receive. */
  #keep(key: string, r: LocalRecord): unknown {
    let fresh = r.freshUntil
    if (this.#tags.deletedSince(key, r.createdAt)) {
      this.#store.delete(key)
      return r.value
    }
    if (r.tags.length > 0) {
      // An invalidation this instance already knows of, later than the value's creation.
      const state = this.#tags.known(r.tags, r.createdAt)
      if (state === 'gone') {
        this.#store.delete(key)
        return r.value
      }
      if (state === 'stale') fresh = Math.min(r.freshUntil, r.now)
    }
    let stored = r.value
    let cloneOnRead = false
    const isolation = this.#options.isolation
    if (isolation === 'freeze') cloneOnRead = !deepFreeze(r.value)
    else if (isolation === 'clone') {
      stored = structuredClone(r.value)
      cloneOnRead = true
    }
    this.#store.set(
      key,
      stored,
      r.expiresAt,
      r.size,
      (cloneOnRead ? CLONE_ON_READ : 0) | (r.eager ? EAGER : 0),
      r.tags,
      r.now,
      r.slideMs,
      r.maxExpiresAt,
      fresh,
      Math.min(r.softAt, fresh),
    )
    return r.value
  }

  delete(key: string): void {
    this.#store.delete(key)
  }

  deleteTagged(tags: readonly string[]): void {
    this.#store.deleteTagged(tags)
  }

  expireTagged(tags: readonly string[], now: number): void {
    this.#store.expireTagged(tags, now)
  }

  deleteMatching(match: RegExp): number {
    const matching = [...this.#store.keys()].filter((k) => match.test(k))
    for (const key of matching) this.#store.delete(key)
    return matching.length
  }

  clear(): void {
    this.#store.clear()
  }

  refreshUntil(key: string, until: number): void {
    this.#store.refreshUntil(key, until)
  }

  tagsOf(key: string): readonly string[] {
    return this.#store.tagsOf(key) ?? []
  }

  get usage(): LocalUsage {
    return {
      entries: this.#store.size,
      bytes: this.#store.bytes,
      maxEntries: this.#options.maxEntries,
      maxBytes: this.#options.maxBytes,
    }
  }

  get evictions(): number {
    return this.#store.evictions
  }

  get expirations(): number {
    return this.#store.expirations
  }
}

/** No L1: nothing is kept, every read misses (uncounted: there is no L1 to miss). */
export class NoLocalTier implements LocalTier {
  readonly keepsReads = false
  readonly usage = undefined
  readonly evictions = 0
  readonly expirations = 0
  lookup(): unknown {
    return MISS
  }
  get(): unknown {
    return MISS
  }
  inspect(): undefined {
    return undefined
  }
  missed(): void {}
  backfill(_key: string, found: Decoded): unknown {
    return found.value
  }
  keep(): void {}
  delete(): void {}
  deleteTagged(): void {}
  expireTagged(): void {}
  deleteMatching(): number {
    return 0
  }
  clear(): void {}
  refreshUntil(): void {}
  tagsOf(): readonly string[] {
    return []
  }
}

/** `sliding: true` needs `maxTtl`, the hard cap of the entry's life: its milliseconds, or a refusal. */
export function assertSlidingCap(maxTtl: EntryMaxTtl): number {
  if (maxTtl === undefined) {
    throw new InvalidOptionError(
      'sliding: true needs maxTtl, the hard cap of the entry’s life (e.g. maxTtl: "1h").',
    )
  }
  return parseDuration(maxTtl, 'maxTtl')
}

/**
 * When an entry's refresh window opens: at the eager fraction of its TTL, or δ·β·XFETCH_SPAN
 * before its fresh time ends (XFetch), or never (its fresh time).
 */
function softAt(createdAt: number, freshUntil: number, loadMs: number, res: Resilience): number {
  if (res.eagerRefresh > 0) return createdAt + (freshUntil - createdAt) * res.eagerRefresh
  if (res.earlyRefreshBeta > 0 && loadMs > 0) {
    return Math.max(createdAt, freshUntil - loadMs * res.earlyRefreshBeta * XFETCH_SPAN)
  }
  return freshUntil
}
