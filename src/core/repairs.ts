import { tombstoneBytes } from '../invalidation/store.js'
import type { RemoteTier } from '../tiers/tier.js'
import type { Telemetry } from './telemetry.js'

/** Keys whose L2 copy must be deleted once the L2 answers again; past this many, the oldest are dropped (counted). */
const MAX_PENDING_REPAIRS = 100_000
/**
 * Changes to replay (invalidations, clears, pattern deletions) past which the queue becomes one
 * clear of the namespace: it dominates every one of them, where dropping any would be silent.
 */
const MAX_PENDING_CHANGES = 10_000
const REPAIR_CHUNK = 500
/** The queued change that stands for all of them once there were too many. */
const CLEAR_ALL = 'clear all'

/** A change the L2 missed, run on it once it answers. */
type Replay = (tier: RemoteTier) => Promise<unknown>

interface RepairDeps {
  telemetry: Telemetry
  /** How long a repair's tombstone is kept (as a delete's). */
  tombstoneMs: number
  /** Tells the other instances (over `tier`'s bus) that repaired keys changed. */
  onRepaired: (tier: RemoteTier, keys: readonly string[]) => Promise<void>
  /** Deletes every entry of the namespace (all versions): what the changes become past their bound. */
  clearAll: Replay
}

/**
 * What the L2 missed while it failed, made good once it answers: the copies a failed write or
 * delete left outdated (deleted, never replayed) and the invalidations, clears and pattern
 * deletions it did not record (replayed: markers only move forward, deleting costs a miss).
 */
export class Repairs {
  readonly #deps: RepairDeps
  /**
   * Storage key → cache key and the time of the failed change, in queue order: copies outdated
   * because a write or delete failed.
   */
  readonly #keys = new Map<string, { key: string; at: number }>()
  /**
   * Changes to replay by what they change (`id`), in queue order: the same change queued again
   * (the same tags invalidated, the same pattern deleted) supersedes the queued one, a later
   * time over an earlier — markers only move forward. Bounded (see MAX_PENDING_CHANGES).
   */
  readonly #changes = new Map<string, Replay>()
  #running = false

  constructor(deps: RepairDeps) {
    this.#deps = deps
  }

  /** Whether the L2 copy of `storageKey` is outdated (a write or delete of it failed): never read it back. */
  outdated(storageKey: string): boolean {
    return this.#keys.size > 0 && this.#keys.has(storageKey)
  }

  /** Queues the deletion, as of `at` (the failed change's time), of the keys' L2 copies. */
  queueKeys(keys: readonly { storageKey: string; key: string }[], at: number): void {
    const counters = this.#deps.telemetry.counters
    for (const { storageKey, key } of keys) {
      const queued = this.#keys.get(storageKey)
      this.#keys.delete(storageKey)
      this.#keys.set(storageKey, { key, at: Math.max(at, queued?.at ?? at) })
    }
    counters.l2RepairsQueued += keys.length
    while (this.#keys.size > MAX_PENDING_REPAIRS) {
      this.#keys.delete(this.#keys.keys().next().value as string)
      counters.l2RepairsDropped++
    }
  }

  /** Queues a change to replay on the L2 once it answers, superseding a queued one with the same `id`. */
  queueChange(id: string, replay: Replay): void {
    this.#deps.telemetry.counters.l2RepairsQueued++
    const changes = this.#changes
    // A clear of the namespace is queued: it will delete whatever this change would.
    if (changes.has(CLEAR_ALL)) return
    changes.delete(id)
    changes.set(id, replay)
    this.#bound()
  }

  /** A write of `storageKey` reached `tier`: its copy there is current again; pending repairs can run. */
  written(storageKey: string, tier: RemoteTier): void {
    if (this.#keys.size === 0 && this.#changes.size === 0) return
    this.#keys.delete(storageKey)
    if (this.#keys.size > 0 || this.#changes.size > 0) this.run(tier).catch(() => {})
  }

  /** Changes whose replay failed, queued again ahead of those queued meanwhile (which supersede them). */
  #requeue(failed: readonly (readonly [string, Replay])[]): void {
    const later = new Map(this.#changes)
    if (later.has(CLEAR_ALL)) return
    this.#changes.clear()
    for (const [id, replay] of failed) if (!later.has(id)) this.#changes.set(id, replay)
    for (const [id, replay] of later) this.#changes.set(id, replay)
    this.#bound()
  }

  /** Past MAX_PENDING_CHANGES, the queue becomes one clear of the namespace (the others counted as dropped). */
  #bound(): void {
    const changes = this.#changes
    if (changes.size <= MAX_PENDING_CHANGES) return
    this.#deps.telemetry.counters.l2RepairsDropped += changes.size
    changes.clear()
    changes.set(CLEAR_ALL, this.#deps.clearAll)
  }

  /**
   * Makes good on `tier` what is queued (the breaker runs this before it closes). Keys are
   * deleted, never replayed: a value written meanwhile by another instance is newer than anything
   * this one could replay.
   */
  async run(tier: RemoteTier): Promise<void> {
    if (this.#running || (this.#keys.size === 0 && this.#changes.size === 0)) return
    this.#running = true
    const { telemetry, tombstoneMs, onRepaired } = this.#deps
    try {
      // The invalidations, clears and pattern deletions the L2 missed, and the keys' copies, all
      // at once: they are all deletions or marker bumps, so their order does not matter, and each
      // round trip costs a busy event loop a turn (seconds: issue 24's recovery). Keys queued
      // meanwhile (writes failing fast while the breaker is half-open) wait for the next repair:
      // chasing them kept a busy process's breaker half-open for good.
      const changes = [...this.#changes]
      this.#changes.clear()
      const replayed = Promise.all(changes.map(([, replay]) => replay(tier))).then(
        () => {
          telemetry.counters.l2Repairs += changes.length
        },
        (error: unknown) => {
          this.#requeue(changes)
          throw error
        },
      )
      const pending = [...this.#keys]
      const chunks: (typeof pending)[] = []
      for (let i = 0; i < pending.length; i += REPAIR_CHUNK) chunks.push(pending.slice(i, i + REPAIR_CHUNK))
      const store = tier.invalidation
      const deleted = chunks.map(async (chunk) => {
        let repaired = chunk.map(([, { key }]) => key)
        // As of the failed change (a tombstone dated then, fenced as every write is): a value
        // another instance wrote after it stays, and is not announced as deleted. Without
        // tombstones, deleted whatever it holds.
        if (store === undefined) await tier.delete(chunk.map(([storageKey]) => storageKey))
        else {
          const stored = await Promise.all(
            chunk.map(([storageKey, { at }]) =>
              store.setLoaded(storageKey, tombstoneBytes(at), tombstoneMs, at, 'set'),
            ),
          )
          repaired = repaired.filter((_, i) => stored[i])
        }
        for (const [storageKey] of chunk) this.#keys.delete(storageKey)
        telemetry.counters.l2Repairs += chunk.length
        // Instances that could not hear us meanwhile drop their copies now (the bus goes over
        // the same Redis; published directly: the breaker is still half-open during a repair).
        // Not awaited: the breaker need not stay half-open for one more round trip.
        if (repaired.length > 0)
          onRepaired(tier, repaired).catch((error: unknown) => telemetry.l2Failure(error, 'publish'))
      })
      await Promise.all([replayed, ...deleted])
    } finally {
      this.#running = false
    }
  }
}
