import { randomUUID } from 'node:crypto'
import type { CacheClock } from '../base/clock.js'
import { type BusChange, BusCodec, type BusCodecOptions, coalesce } from '../invalidation/messages.js'
import type { RemoteTier } from '../tiers/tier.js'
import type { Flights } from './flights.js'
import { isHeartbeat } from './heartbeat.js'
import type { LocalTier } from './local-tier.js'
import type { RemoteAccess } from './remote-tier.js'
import type { TagState } from './tag-state.js'
import type { Telemetry } from './telemetry.js'
import { TrackingLink, type TrackingLinkOptions } from './tracking-link.js'

/** The security counter a dropped bus message adds to (a malformed one only counts as dropped). */
const BUS_DROP_COUNTER = {
  oversized: 'busOversized',
  unauthenticated: 'busUnauthenticated',
  replayed: 'busReplayed',
  expired: 'busExpired',
} as const

/**
 * This instance's messages it has not heard back yet, at most (see {@link BusLink}'s `#ownEcho`):
 * a tick sends one; more than a few unheard means they were lost (not sent, or sent while the
 * subscription was down), and the oldest are forgotten.
 */
const MAX_UNHEARD = 32

/** Applies a change another instance announced to this instance's state. */
export type ChangeApplier = (change: BusChange) => void

/** The changes of this tick, published together once it ends. */
interface Outbox {
  changes: BusChange[]
  /** Writes the changes announce, when the bus does not order a publish after them by itself. */
  after: Promise<unknown>[]
  done: Promise<void>
  resolve: () => void
}

interface BusLinkOptions {
  /** `!bus:<scope>`: every instance of this namespace (and tenant) listens here. */
  channel: string
  secret: BusCodecOptions['secret']
  maxAgeMs: number
  /** Whether to subscribe at all (the `bus` option). */
  listen: boolean
  /** `l2.invalidation: 'tracking'`: also hear Redis's own reports of changed keys (see {@link TrackingLink}). */
  tracking?: TrackingLinkOptions | false
}

/**
 * This instance on the invalidation bus: publishes its changes (signed, numbered) and applies the
 * others', ignoring its own echoes and refusing malformed, forged, replayed or expired messages.
 * When the bus was down, nothing heard before is trusted: the L1 is dropped and loads in flight
 * are not stored.
 */
export class BusLink {
  /** This instance's id on the bus (its own messages are ignored). */
  readonly source = randomUUID()
  readonly #codec: BusCodec
  readonly #options: BusLinkOptions
  readonly #remote: RemoteAccess
  readonly #telemetry: Telemetry
  readonly #tags: TagState
  readonly #local: LocalTier
  readonly #flights: Flights
  readonly #clock: CacheClock
  #apply: ChangeApplier = () => {}
  #closed = false
  /** Why the bus could not subscribe, for ready(). */
  #error: unknown
  #subscribed: Promise<(() => Promise<void>) | undefined> | undefined
  #unsubscribe: (() => Promise<void>) | undefined
  #outbox: Outbox | undefined
  #tracking: TrackingLink | undefined
  /** The bytes of this instance's messages not heard back yet, oldest first (see {@link #ownEcho}). */
  readonly #unheard: Buffer[] = []

  constructor(
    options: BusLinkOptions,
    parts: {
      remote: RemoteAccess
      telemetry: Telemetry
      tags: TagState
      local: LocalTier
      flights: Flights
      clock: CacheClock
    },
  ) {
    this.#options = options
    this.#codec = new BusCodec({ secret: options.secret, maxAgeMs: options.maxAgeMs })
    this.#remote = parts.remote
    this.#telemetry = parts.telemetry
    this.#tags = parts.tags
    this.#local = parts.local
    this.#flights = parts.flights
    this.#clock = parts.clock
  }

  /** Subscribes (when the L2 has a bus and `bus` is on), applying what others announce with `apply`. */
  start(apply: ChangeApplier): void {
    this.#apply = apply
    const tracking = this.#options.tracking
    if (tracking) {
      const parts = {
        local: this.#local,
        flights: this.#flights,
        telemetry: this.#telemetry,
        clock: this.#clock,
      }
      this.#tracking = new TrackingLink(tracking, this.#remote.direct, parts, apply)
      this.#tracking.start()
    }
    const bus = this.#remote.bus
    if (!this.#options.listen || bus === undefined) return
    this.#subscribed = bus
      .subscribe(
        this.#options.channel,
        (message) => this.#onMessage(message),
        (state) => this.#onState(state),
      )
      .then(
        (unsubscribe) => {
          this.#tags.hearing()
          this.#unsubscribe = unsubscribe
          return unsubscribe
        },
        (error: unknown) => {
          this.#error = error
          this.#telemetry.l2Failure(error, 'subscribe')
          return undefined
        },
      )
  }

  /** Settles once this instance hears the bus (at once without one), or names why it could not subscribe. */
  async subscribed(): Promise<{ ok: true } | { ok: false; error: unknown }> {
    const tracked = await this.#tracking?.started()
    if (tracked?.ok === false) return tracked
    if (this.#subscribed === undefined) return { ok: true }
    return (await this.#subscribed) === undefined ? { ok: false, error: this.#error } : { ok: true }
  }

  /**
   * Announces `change` to the other instances. The changes of one tick leave together, as one
   * message (see {@link coalesce}), once the tick ends. `after`: the L2 write the change
   * announces. A bus that sends a publish after the writes issued before it, over the same
   * connection (one Redis), needs nothing more: Redis applies the write before the message goes
   * out, so an instance that hears it and reads the key gets the new value. On any other bus the
   * message waits for the tick's writes to settle. Never rejects: a failed publish is counted.
   */
  publish(change: BusChange, after?: Promise<unknown>): Promise<void> {
    if (this.#remote.bus === undefined || !this.#options.listen) return Promise.resolve()
    let outbox = this.#outbox
    if (outbox === undefined) {
      let resolve = () => {}
      const done = new Promise<void>((r) => {
        resolve = r
      })
      const created: Outbox = { changes: [], after: [], done, resolve }
      outbox = created
      this.#outbox = created
      process.nextTick(() => void this.#send(created))
    }
    outbox.changes.push(change)
    if (after !== undefined && !this.#remote.ordersPublishWithWrites) outbox.after.push(after)
    return outbox.done
  }

  async #send(outbox: Outbox): Promise<void> {
    if (this.#outbox === outbox) this.#outbox = undefined
    try {
      if (outbox.after.length > 0) await Promise.allSettled(outbox.after)
      const bus = this.#remote.bus
      if (bus === undefined) return
      await Promise.all(
        coalesce(this.source, outbox.changes).map(async (message) => {
          const counters = this.#telemetry.counters
          // Counted once handed to the connection (a caller that does not wait for the reply sees
          // it counted), uncounted if it fails.
          counters.busPublished++
          const bytes = this.#codec.encode(message)
          if (this.#unheard.push(bytes) > MAX_UNHEARD) this.#unheard.shift()
          try {
            await bus.publish(this.#options.channel, bytes)
          } catch (error) {
            counters.busPublished--
            const at = this.#unheard.indexOf(bytes)
            if (at >= 0) this.#unheard.splice(at, 1)
            this.#telemetry.l2Failure(error, 'publish')
          }
        }),
      )
    } finally {
      outbox.resolve()
    }
  }

  /** Tells the others that repaired keys changed, directly on `tier` (its breaker is still half-open). */
  async publishRepaired(tier: RemoteTier, keys: readonly string[], version: string): Promise<void> {
    const bus = tier.bus
    if (bus === undefined) return
    const change: BusChange = { op: 'delete', at: this.#clock.stamp(), version, keys: [...keys] }
    // In several messages when long keys would make one over the size every receiver refuses.
    await Promise.all(
      coalesce(this.source, [change]).map((message) =>
        bus
          .publish(this.#options.channel, this.#codec.encode(message))
          .catch((error: unknown) => this.#telemetry.l2Failure(error, 'publish')),
      ),
    )
  }

  /**
   * Not awaiting a subscription still in progress, nor the UNSUBSCRIBE's reply (Redis may be
   * unreachable): the call updates the client's list at once, and closing the tier ends the
   * connection. Awaited, a reply that never came hung close() — node-redis queues the command
   * for a connection that may never return, when Redis went away just before.
   */
  async close(): Promise<void> {
    this.#closed = true
    await this.#tracking?.close()
    this.#unsubscribe?.().catch(() => {})
  }

  #onMessage(bytes: Uint8Array): void {
    // Heard by the BusWatch (the staleness bound); nothing to apply or count here.
    if (isHeartbeat(bytes) || this.#ownEcho(bytes)) return
    const { message, dropped } = this.#codec.decode(bytes)
    const counters = this.#telemetry.counters
    if (message === undefined) {
      counters.busMessagesDropped++
      if (dropped !== 'malformed') this.#telemetry.security[BUS_DROP_COUNTER[dropped]]++
      return
    }
    if (message.source === this.source || this.#closed) return
    // A change dated far ahead would hide every entry until then (a forged 'clear' freezing the
    // cache): no sender's clock is trusted further ahead than the bus's maxAge.
    const latest = this.#clock.stamp() + this.#options.maxAgeMs
    counters.busMessages++
    const changes: readonly BusChange[] = message.op === 'batch' ? message.changes : [message]
    for (const change of changes) {
      change.at = Math.min(change.at, latest)
      if ((change.op === 'delete' || change.op === 'tags') && change.ats !== undefined)
        change.ats = change.ats.map((t) => Math.min(t, latest))
      this.#telemetry.events.emit('bus-message', { type: change.op })
      this.#apply(change)
    }
  }

  /**
   * Whether `bytes` are one of this instance's messages coming back: compared byte for byte with
   * what it sent, not decoded — the echo of every write would otherwise cost a JSON parse (1.3 µs
   * for a one-key delete) and, with a secret, an HMAC check (4.5 µs in all). The subscription
   * delivers one connection's messages in order, so the sent messages before the one heard back
   * will not come (the write batch did not send them: every write of theirs was refused) and are
   * forgotten. Bytes equal to a message of ours are ours whoever sent them: replayed, they would
   * be ignored all the same (same source).
   */
  #ownEcho(bytes: Uint8Array): boolean {
    const unheard = this.#unheard
    for (let i = 0; i < unheard.length; i++) {
      if ((unheard[i] as Buffer).equals(bytes)) {
        unheard.splice(0, i + 1)
        return true
      }
    }
    return false
  }

  /**
   * The bus went down (messages may be lost from now on) or came back. While it is down, nothing
   * remembered about tags is trusted (markers are read from the L2). When it is back, the L1 is
   * dropped — it may hold values invalidated while we could not hear it — and loads in flight
   * are not stored.
   */
  #onState(state: 'up' | 'down'): void {
    // What was sent while the subscription was down never comes back.
    this.#unheard.length = 0
    if (state === 'down') {
      this.#tags.busState(false)
      return
    }
    this.#tags.busState(true)
    this.#flights.overtakeAll()
    this.#local.clear()
    this.#telemetry.counters.busResyncs++
  }
}
