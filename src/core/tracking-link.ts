import type { CacheClock } from '../base/clock.js'
import { InvalidOptionError } from '../errors.js'
import type { BusChange } from '../invalidation/messages.js'
import type { KeyTracking } from '../invalidation/tracking.js'
import { globToRegExp } from '../keys/glob.js'
import { escapeGlob, HASH_MARKER } from '../keys/key.js'
import type { RemoteTier } from '../tiers/tier.js'
import { emitInvalidation } from './events.js'
import type { Flights } from './flights.js'
import type { LocalTier } from './local-tier.js'
import type { Telemetry } from './telemetry.js'

interface TrackingParts {
  local: LocalTier
  flights: Flights
  telemetry: Telemetry
  clock: CacheClock
}

export interface TrackingLinkOptions {
  /** `<scope>:<version>:`: the storage keys of this cache's entries (tag markers and locks are not tracked). */
  prefix: string
  version: string
}

/**
 * `l2.invalidation: 'tracking'`: Redis reports every change of a key under this cache's entry
 * prefix, whoever made it (another program, `redis-cli`), and the change is applied like a
 * delete heard on the bus: the L1 copy dropped, loads that started before it not stored, the
 * `invalidate` event emitted. The bus still carries tags, clears, patterns and the heartbeat.
 * When the tracking was down (either connection lost), the L1 is dropped once it is back, as
 * after a bus resync: changes made meanwhile were not reported.
 */
export class TrackingLink {
  readonly #options: TrackingLinkOptions
  readonly #tracking: KeyTracking
  readonly #parts: TrackingParts
  readonly #apply: (change: BusChange) => void
  #started: Promise<boolean> | undefined
  #error: unknown
  #stop: (() => Promise<void>) | undefined
  #closed = false
  #wasDown = false

  /** Throws when the tier cannot track keys (a custom `l2.tier` without `tracking`). */
  constructor(
    options: TrackingLinkOptions,
    tier: RemoteTier | undefined,
    parts: TrackingParts,
    apply: (change: BusChange) => void,
  ) {
    const tracking = tier?.tracking
    if (tracking === undefined)
      throw new InvalidOptionError(
        `l2.invalidation 'tracking' needs a tier with client tracking (the built-in Redis tier of a single Redis); the ${tier?.name ?? 'missing'} tier has none: use l2.invalidation 'bus'.`,
      )
    this.#options = options
    this.#tracking = tracking
    this.#parts = parts
    this.#apply = apply
  }

  start(): void {
    this.#started = this.#tracking
      .track(this.#options.prefix, {
        onKeys: (keys) => this.#onKeys(keys),
        onState: (state) => this.#onState(state),
      })
      .then(
        (stop) => {
          this.#stop = stop
          return true
        },
        (error: unknown) => {
          this.#error = error
          this.#parts.telemetry.l2Failure(error, 'client tracking')
          return false
        },
      )
  }

  /** Settles once the tracking is in place, or names why it is not. */
  async started(): Promise<{ ok: true } | { ok: false; error: unknown }> {
    if (this.#started === undefined || (await this.#started)) return { ok: true }
    return { ok: false, error: this.#error }
  }

  async close(): Promise<void> {
    this.#closed = true
    await this.#stop?.().catch(() => {})
  }

  /**
   * A changed key is dropped from the L1 and its loads in flight are not stored — but it is not
   * a delete: it may be a newer value (another instance's `set`), so nothing is remembered about
   * when it changed, and its dependents are the bus's business (a stratacache writer announces
   * them there). Keys changed by other programs therefore drop only their own L1 copies.
   */
  #onKeys(keys: readonly string[] | null): void {
    if (this.#closed) return
    const { clock, flights, local, telemetry } = this.#parts
    const at = clock.stamp()
    if (keys === null) {
      // FLUSHDB / FLUSHALL: everything went, tag markers included.
      this.#apply({ op: 'clear', at })
      return
    }
    const { prefix, version } = this.#options
    const dropped: string[] = []
    for (const storageKey of keys) {
      const key = storageKey.slice(prefix.length)
      const hashed = key.indexOf(HASH_MARKER)
      if (hashed >= 0) {
        // A key too long for Redis was stored hashed (shortenKey): every entry it may be is dropped.
        const match = globToRegExp(`${escapeGlob(key.slice(0, hashed))}*`)
        flights.overtakeAll(at, match)
        local.deleteMatching(match)
        continue
      }
      flights.overtake(key, at)
      local.delete(key)
      dropped.push(key)
    }
    if (dropped.length > 0)
      emitInvalidation(telemetry.events, { op: 'delete', at, version, keys: dropped }, 'remote')
  }

  /**
   * 'up' (the tracking is in place, first or again): the L1 is dropped and the loads in flight
   * are not stored — what they read may have changed before the tracking was there to say so.
   */
  #onState(state: 'up' | 'down'): void {
    if (state === 'down') {
      this.#wasDown = true
      return
    }
    const { flights, local, telemetry } = this.#parts
    flights.overtakeAll()
    local.clear()
    if (this.#wasDown) telemetry.counters.busResyncs++
    this.#wasDown = false
  }
}
