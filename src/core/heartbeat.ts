import { randomBytes } from 'node:crypto'
import { type CacheClock, timerMs } from '../base/clock.js'
import type { Bus } from '../invalidation/bus.js'
import type { EntryView } from '../tiers/memory/memory-store.js'
import type { Abortable } from './entry-context.js'
import type { Flights } from './flights.js'
import { ATTENTION, type LocalTier, MemoryLocalTier, MISS, NoLocalTier } from './local-tier.js'
import type { ResolvedOptions } from './options.js'
import type { TagState } from './tag-state.js'
import type { Telemetry } from './telemetry.js'

/**
 * A heartbeat on the bus channel: a first byte no bus message starts with (0xB5 for v2, '{' for
 * v1), 'hb', then the sender's nonce and the beat's number. Another instance's beat says only "the
 * bus delivers" (any message heard counts too); the sender's own, heard back, says how late the
 * bus delivers — a subscription that delivers everything seconds late is no fresher than a silent
 * one. On the bus channel itself, so the ACL a deployment already grants (`&!bus:<namespace>`)
 * covers it.
 */
const HEARTBEAT_MAGIC = 0xb6
const BEAT_PREFIX = [HEARTBEAT_MAGIC, 0x68, 0x62] as const
/** The beat of earlier releases: the prefix alone (still a heartbeat here, heard as anyone's). */
const LEGACY_BEAT_BYTES = BEAT_PREFIX.length
const NONCE_BYTES = 8
/** Prefix, nonce, the beat's number (float64: never wraps). */
const BEAT_BYTES = BEAT_PREFIX.length + NONCE_BYTES + 8
/**
 * Own beats sent and not heard back, at most: only the oldest matters (how late the bus is), so
 * past this, beats are sent without being remembered (a black-holed bus is silent long before).
 */
const MAX_PENDING_BEATS = 64

/** Whether bus bytes are a heartbeat (the bus link skips them unread and uncounted). */
export function isHeartbeat(bytes: Uint8Array): boolean {
  return (
    bytes[0] === HEARTBEAT_MAGIC &&
    (bytes.byteLength === BEAT_BYTES || bytes.byteLength === LEGACY_BEAT_BYTES)
  )
}

/** An own beat on its way: its number, and when it was sent (real timer, and the cache's clock). */
interface PendingBeat {
  seq: number
  at: number
  stamp: number
}

export interface BusWatchOptions {
  /** How often this instance publishes a heartbeat on the bus (and checks what it heard). */
  heartbeatMs: number
  /** Silence after which the L1 is unverified: reads go to the L2 or the origin. */
  maxSilenceMs: number
}

/**
 * The staleness bound of the L1 (issue 18). Pub/sub says nothing when it stops delivering — a
 * partition, a dropped NAT entry, a subscriber connection that died silently — and an L1 that
 * hears no invalidations would serve what it holds until its TTL. So every instance publishes a
 * heartbeat every `heartbeatMs` and listens to everyone's (its own included: it crosses the same
 * connections as an invalidation). After `maxSilenceMs` without hearing one, the L1 is
 * *unverified*: every read goes to the L2 (or the origin), and an L1 value is used only as a
 * stale one — by the fail-safe rules, when the L2 and the origin both fail. Hearing again
 * resynchronises as a reconnect does: the L1 is dropped, loads in flight are disowned, tag
 * markers are read afresh.
 *
 * Silence is judged with the injected clock (`now - lastHeard ≥ maxSilence`, or now past an own
 * beat sent maxSilence ago and not heard back) AND real time: a missed beat of the real timer,
 * nothing heard for maxSilence of real time (an event loop held that long reads its sockets only
 * after it serves), or an own beat not back after maxSilence of real time (a bus that delivers
 * late). So a test's manual clock jumping ahead while the bus delivers is not silence.
 */
export class BusWatch {
  readonly #options: BusWatchOptions
  readonly #clock: CacheClock
  readonly #telemetry: Telemetry
  #parts: { local: LocalTier; tags: TagState; flights: Flights } | undefined
  #bus: Bus | undefined
  #channel = ''
  /** Injected-clock time of the last heartbeat (or any message on the channel) heard. */
  #lastHeard: number
  /** performance.now() of the same. */
  #lastHeardAt = performance.now()
  /**
   * `maxSilence` after the last thing heard, or after the oldest own beat not heard back if
   * earlier: before it, the L1 is verified whatever the timer says.
   */
  #verifiedUntil: number
  /** Tells this instance's beats from the others'. */
  readonly #nonce = randomBytes(NONCE_BYTES)
  #seq = 0
  /** Own beats sent (the publish did not fail) and not heard back yet, oldest first. */
  readonly #pending: PendingBeat[] = []
  /** A beat of the timer passed without hearing anything since the one before. */
  #deaf = false
  #heardSinceBeat = false
  /** Silence was reported (counted, health): hearing again resynchronises. */
  #silent = false
  #timer: NodeJS.Timeout | undefined
  /** performance.now() of the last beat (a late one does not count as a missed beat). */
  #lastBeatAt = performance.now()
  #unsubscribe: (() => Promise<void>) | undefined
  #closed = false

  constructor(options: BusWatchOptions, clock: CacheClock, telemetry: Telemetry) {
    this.#options = options
    this.#clock = clock
    this.#telemetry = telemetry
    this.#lastHeard = clock.now()
    this.#verifiedUntil = this.#lastHeard + options.maxSilenceMs
    telemetry.busSilentMs = () => this.silentForMs()
  }

  /** Whether the L1 is unverified at `now` (the read path's check: two comparisons). */
  silent(now: number): boolean {
    return now >= this.#verifiedUntil && (this.#deaf || this.#late(performance.now()))
  }

  /**
   * Whether real time says the bus is behind at `at` (performance.now()): nothing heard for
   * maxSilence — the event loop was held, what arrived meanwhile is still unread — or an own beat
   * sent maxSilence ago is not back — the bus delivers, but that late.
   */
  #late(at: number): boolean {
    const maxSilence = this.#options.maxSilenceMs
    if (at - this.#lastHeardAt >= maxSilence) return true
    const oldest = this.#pending[0]
    return oldest !== undefined && at - oldest.at >= maxSilence
  }

  /** `#verifiedUntil` from what was heard and what is still on its way. */
  #verify(): void {
    const oldest = this.#pending[0]
    const since = oldest === undefined ? this.#lastHeard : Math.min(this.#lastHeard, oldest.stamp)
    this.#verifiedUntil = since + this.#options.maxSilenceMs
  }

  /**
   * How long the L1 has not been verified, when silent (for health()); 0 otherwise: since the last
   * thing heard, or, on a bus that delivers late, since the oldest own beat not heard back (what
   * is heard then is recent, but says nothing newer than that).
   */
  silentForMs(): number {
    const now = this.#clock.now()
    return this.silent(now) ? now - this.#verifiedUntil + this.#options.maxSilenceMs : 0
  }

  /** The L1 as reads see it: unverified while the bus is silent. */
  guard(local: LocalTier): LocalTier {
    return new WatchedLocalTier(local, this)
  }

  /** Starts beating and listening on the bus channel `!bus:<scope>` (nothing without a bus). */
  start(
    bus: Bus | undefined,
    channel: string,
    parts: { local: LocalTier; tags: TagState; flights: Flights },
  ): void {
    if (bus === undefined) return
    this.#bus = bus
    this.#channel = channel
    this.#parts = parts
    this.#heard()
    bus
      .subscribe(
        channel,
        (bytes) => this.#heard(bytes),
        (state) => {
          // Beats sent while the subscription was down never come back.
          this.#pending.length = 0
          if (state === 'up') this.#heard()
        },
      )
      .then(
        (unsubscribe) => {
          if (this.#closed) void unsubscribe().catch(() => {})
          else this.#unsubscribe = unsubscribe
        },
        // The bus link reports a failed subscription (ready()); silence follows from it here.
        () => {},
      )
    this.#lastBeatAt = performance.now()
    this.#timer = setInterval(() => this.#beat(), timerMs(this.#options.heartbeatMs))
    this.#timer.unref()
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await this.#unsubscribe?.().catch(() => {})
  }

  #beat(): void {
    // A beat that fires late means the event loop was busy: the heartbeats it held back are still
    // unread, so this turn proves nothing (a long synchronous task is not a silent network).
    const at = performance.now()
    const late = at - this.#lastBeatAt > 1.5 * this.#options.heartbeatMs
    this.#lastBeatAt = at
    if (!this.#heardSinceBeat && !late) this.#deaf = true
    this.#heardSinceBeat = false
    const now = this.#clock.now()
    // Real time says the bus is behind: so be it whatever the cache's clock says (stopped, or set
    // back: its `now` would stay before #verifiedUntil).
    if (this.#late(at)) this.#verifiedUntil = Math.min(this.#verifiedUntil, now)
    if (!this.#silent && this.silent(now)) {
      this.#silent = true
      // Remembered tag markers are not trusted either: they are read from the L2 meanwhile.
      this.#parts?.tags.busState(false)
      this.#telemetry.counters.busSilences++
    }
    const bus = this.#bus
    if (bus === undefined) return
    const beat = this.#nextBeat(at, now)
    bus.publish(this.#channel, beat.bytes).catch(() => {
      // Not hearing our own beat is the signal; the failure itself is the L2's to report. A beat
      // Redis did not take will not come back: it says nothing about how late the bus is.
      const sent = this.#pending.findIndex((p) => p.seq === beat.seq)
      if (sent >= 0) this.#pending.splice(sent, 1)
    })
  }

  #nextBeat(at: number, stamp: number): { seq: number; bytes: Buffer } {
    const seq = ++this.#seq
    const bytes = Buffer.allocUnsafe(BEAT_BYTES)
    bytes.set(BEAT_PREFIX, 0)
    this.#nonce.copy(bytes, BEAT_PREFIX.length)
    bytes.writeDoubleBE(seq, BEAT_PREFIX.length + NONCE_BYTES)
    if (this.#pending.length < MAX_PENDING_BEATS) this.#pending.push({ seq, at, stamp })
    if (this.#pending.length === 1) this.#verify()
    return { seq, bytes }
  }

  /** An own beat heard back: it and those before it (one connection delivers in order) are no longer on their way. */
  #ownBeat(bytes: Uint8Array): void {
    if (bytes.byteLength !== BEAT_BYTES || bytes[0] !== HEARTBEAT_MAGIC) return
    const nonce = Buffer.from(bytes.buffer, bytes.byteOffset + BEAT_PREFIX.length, NONCE_BYTES)
    if (!nonce.equals(this.#nonce)) return
    const seq = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).readDoubleBE(
      BEAT_PREFIX.length + NONCE_BYTES,
    )
    let heard = 0
    while (heard < this.#pending.length && (this.#pending[heard] as PendingBeat).seq <= seq) heard++
    this.#pending.splice(0, heard)
  }

  #heard(bytes?: Uint8Array): void {
    const now = this.#clock.now()
    const wasSilent = this.#silent || this.silent(now)
    this.#lastHeard = now
    this.#lastHeardAt = performance.now()
    if (bytes !== undefined) this.#ownBeat(bytes)
    this.#verify()
    this.#heardSinceBeat = true
    this.#deaf = false
    // Still silent (what is heard is late: an own beat sent maxSilence ago is not back): no
    // resync yet — it comes once the bus delivers in time again.
    if (!wasSilent || this.silent(now)) return
    this.#silent = false
    const parts = this.#parts
    if (parts === undefined) return
    // What the L1 holds may have been invalidated while we could not hear: as after a reconnect.
    parts.tags.busState(true)
    parts.flights.overtakeAll()
    parts.local.clear()
    this.#telemetry.counters.busResyncs++
  }
}

/**
 * The watch of a cache whose L1 can hear a bus (an L1, an L2 and `bus` on); undefined otherwise.
 * The staleness bound: an L1 that does not hear the bus is unverified (docs/invalidation.md).
 */
export function busWatchFor(
  options: {
    bus: boolean
    l1: unknown
    l2: unknown
    security: { busHeartbeatMs: number; busMaxSilenceMs: number }
  },
  clock: CacheClock,
  telemetry: Telemetry,
  lifecycle: { controllers: Set<Abortable> },
): BusWatch | undefined {
  if (!options.bus || options.l1 === false || options.l2 === false) return undefined
  const { busHeartbeatMs: heartbeatMs, busMaxSilenceMs: maxSilenceMs } = options.security
  const watch = new BusWatch({ heartbeatMs, maxSilenceMs }, clock, telemetry)
  // Stopped when the cache closes (it aborts every controller of its lifecycle).
  const stop = new AbortController()
  stop.signal.addEventListener('abort', () => void watch.close(), { once: true })
  lifecycle.controllers.add(stop)
  return watch
}

/** The cache's L1, behind its bus watch when it has one ({@link busWatchFor}). */
export function localTierOf(
  options: ResolvedOptions,
  tags: TagState,
  telemetry: Telemetry,
  clock: CacheClock,
  lifecycle: { controllers: Set<Abortable> },
): { local: LocalTier; watch: BusWatch | undefined } {
  const l1 = options.l1 ? new MemoryLocalTier(options.l1, tags, telemetry) : new NoLocalTier()
  const watch = busWatchFor(options, clock, telemetry, lifecycle)
  return { local: watch?.guard(l1) ?? l1, watch }
}

/** The L1 behind a {@link BusWatch}: while the bus is silent, nothing in it reads as fresh. */
class WatchedLocalTier implements LocalTier {
  readonly #inner: LocalTier
  readonly #watch: BusWatch

  constructor(inner: LocalTier, watch: BusWatch) {
    this.#inner = inner
    this.#watch = watch
  }

  get keepsReads(): boolean {
    return this.#inner.keepsReads
  }

  lookup(key: string, now: number): unknown {
    const value = this.#inner.lookup(key, now)
    // A held value goes the stale way (ATTENTION → inspect): refreshed from the L2 or the origin,
    // served only by the fail-safe rules when both fail.
    return value === MISS || !this.#watch.silent(now) ? value : ATTENTION
  }

  get(key: string, now: number): unknown {
    return this.#watch.silent(now) ? MISS : this.#inner.get(key, now)
  }

  inspect(key: string, now: number): EntryView | undefined {
    const view = this.#inner.inspect(key, now)
    if (view === undefined || !this.#watch.silent(now)) return view
    const until = Math.min(view.freshUntil, now)
    return { ...view, freshUntil: until, softAt: Math.min(view.softAt, until), unverified: true }
  }

  missed(key: string): void {
    this.#inner.missed(key)
  }
  backfill(...args: Parameters<LocalTier['backfill']>): unknown {
    return this.#inner.backfill(...args)
  }
  keep(...args: Parameters<LocalTier['keep']>): void {
    this.#inner.keep(...args)
  }
  delete(key: string): void {
    this.#inner.delete(key)
  }
  deleteTagged(tags: readonly string[]): void {
    this.#inner.deleteTagged(tags)
  }
  expireTagged(tags: readonly string[], now: number): void {
    this.#inner.expireTagged(tags, now)
  }
  deleteMatching(match: RegExp): number {
    return this.#inner.deleteMatching(match)
  }
  clear(): void {
    this.#inner.clear()
  }
  refreshUntil(key: string, until: number): void {
    this.#inner.refreshUntil(key, until)
  }
  tagsOf(key: string): readonly string[] {
    return this.#inner.tagsOf(key)
  }
  get usage() {
    return this.#inner.usage
  }
  get evictions(): number {
    return this.#inner.evictions
  }
  get expirations(): number {
    return this.#inner.expirations
  }
}
