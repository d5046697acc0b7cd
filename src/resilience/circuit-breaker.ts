import { type Clock, type ClockTimers, timersOf } from '../base/clock.js'
import { describeValue } from '../base/describe.js'
import type { LockService } from '../coordination/lock.js'
import { ClosedError, InvalidOptionError, L2TimeoutError, L2UnavailableError } from '../errors.js'
import type { Bus } from '../invalidation/bus.js'
import type { InvalidationStore } from '../invalidation/store.js'
import type { RemoteEntry, RemoteInfo, RemoteTier } from '../tiers/tier.js'

const DEFAULT_PROBE_TIMEOUT_MS = 10_000
/**
 * After a probe that a reconnection started fails, the next one comes this soon (then twice as
 * late after each further failure, up to the break): the client is connected, so Redis is likely
 * up and the probe met a slow answer (a busy event loop, a loaded Redis replaying the repairs).
 * A full break there kept a breaker with a one-minute break open for that minute.
 */
const REPROBE_FIRST_MS = 1_000

/** 'closed': calls pass; 'open': calls fail fast; 'half-open': a background probe is running (calls still fail fast). */
export type CircuitState = 'closed' | 'open' | 'half-open'

export interface CircuitBreakerOptions {
  /** Consecutive failed calls that open the breaker (an integer ≥ 1). A success resets the count. */
  failureThreshold: number
  /** How long the breaker stays open before a background probe, in ms (finite, > 0). */
  breakDurationMs: number
  /**
   * Deadline of a probe (PING, then `onRecover`), in ms (finite, > 0; default 10,000): one not
   * settled by then has failed. A backstop against a probe that never settles — the calls it
   * makes have their own deadlines — so generous: on a busy event loop each round trip costs a
   * turn, and a turn can last seconds.
   */
  probeTimeoutMs?: number
  /**
   * Time source, in ms. The probe is scheduled `breakDurationMs` after the break starts, and its
   * own timeout `probeTimeoutMs` after it starts, on the clock's timers when it has them (a
   * test's fake clock: advancing it fires them), else the system's; in addition, a call arriving
   * while open once `clock()` has passed the end of the break starts the probe at once (the call
   * itself still fails fast), and {@link CircuitBreakerTier.probeNow} (the client reconnected)
   * starts it at once.
   */
  clock: Clock
  /** Called on every change of state, synchronously. What it throws is ignored. */
  onStateChange?: (state: CircuitState) => void
  /**
   * Part of every probe (e.g. to replay the deletes that failed during the outage): the breaker
   * closes once the PING and this have succeeded. After the PING answered, for the probes of the
   * break's timer; together with the PING for a probe {@link CircuitBreakerTier.probeNow} started
   * (a new connection): each round trip costs a turn of the event loop, and a busy loop's turns
   * last seconds (issue 24). The breaker is still half-open meanwhile and rejects calls made
   * through it: use {@link CircuitBreakerTier.inner}. If it throws or rejects, the probe failed
   * and the breaker opens for another `breakDurationMs` (shorter after a reconnection: see
   * {@link CircuitBreakerTier.probeNow}); so does one still running at the probe's deadline (the
   * next probe calls it again: it should make progress each time, and tolerate a Redis that does
   * not answer yet).
   */
  onRecover?: () => Promise<void>
}

/**
 * A circuit breaker around any {@link RemoteTier}. Closed, calls pass through, and
 * `failureThreshold` consecutive rejections (except {@link ClosedError}) open it. Open, every call
 * rejects at once with {@link L2UnavailableError}, so no caller waits on a dead Redis; after
 * `breakDurationMs` — or as soon as {@link probeNow} says the client reconnected — a background
 * probe (`inner.ping()` and `onRecover`; never a user's call) runs while the state is 'half-open'.
 * If both succeed the breaker closes; otherwise — or if they have not settled within
 * `probeTimeoutMs` — it opens for another `breakDurationMs`.
 *
 * Recovery depends on neither traffic nor idle time: the probe runs from its own timer and from
 * the client's reconnection (a call arriving after the break only starts it sooner), one answer
 * closes the breaker, and a probe that hangs cannot keep it half-open. Under full CPU, the event loop's turns can outlast the L2
 * deadline while the breaker is open (every read an L1 hit, nothing awaits I/O); the deadlines
 * are judged after the loop's I/O poll (base/deadline.ts), so a PING answered in time counts.
 * Timers are unref'd and cleared by {@link close}.
 */
export class CircuitBreakerTier implements RemoteTier {
  /** The tier behind the breaker; calls made directly on it bypass the breaker. */
  readonly inner: RemoteTier
  /** The inner tier's locks behind the same breaker; present iff the inner tier has locks. */
  declare readonly locks?: LockService
  /** The inner tier's invalidation store behind the same breaker; present iff the inner tier has one. */
  declare readonly invalidation?: InvalidationStore
  /** The inner tier's bus: publishing behind the breaker, subscribing as is (its own connection). */
  declare readonly bus?: Bus
  /** The inner tier's memory figures behind the same breaker; present iff the inner tier has them. */
  declare readonly info?: () => Promise<RemoteInfo>
  readonly #failureThreshold: number
  readonly #breakDurationMs: number
  readonly #probeTimeoutMs: number
  readonly #clock: () => number
  readonly #timers: ClockTimers
  readonly #onStateChange: ((state: CircuitState) => void) | undefined
  readonly #onRecover: (() => Promise<void>) | undefined
  #state: CircuitState = 'closed'
  /** Consecutive failures while closed. */
  #failures = 0
  /** Bumped each time the breaker opens: a call settling later than that does not count. */
  #period = 0
  /** When the current break ends, by `clock`. */
  #probeAt = 0
  /** Bumped by each probe: the deadline of an earlier one changes nothing. */
  #probes = 0
  #timer: unknown
  /** Set by {@link probeNow} during a probe: if that probe fails, the next one starts at once. */
  #probeAgain = false
  /**
   * Probes failed since the last one a reconnection started (undefined: none started since the
   * breaker last closed): the next break is REPROBE_FIRST_MS × 2^this, at most the break.
   */
  #failedSinceReconnect: number | undefined
  #lastError: unknown
  #closed = false

  constructor(inner: RemoteTier, options: CircuitBreakerOptions) {
    const { failureThreshold, breakDurationMs } = options
    if (!Number.isInteger(failureThreshold) || failureThreshold < 1) {
      throw new InvalidOptionError(
        `CircuitBreakerTier: failureThreshold must be an integer ≥ 1 (consecutive failures that open the breaker); got ${describeValue(failureThreshold)}.`,
      )
    }
    if (!Number.isFinite(breakDurationMs) || breakDurationMs <= 0) {
      throw new InvalidOptionError(
        `CircuitBreakerTier: breakDurationMs must be a finite number of ms > 0; got ${describeValue(breakDurationMs)}.`,
      )
    }
    const probeTimeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS
    if (!Number.isFinite(probeTimeoutMs) || probeTimeoutMs <= 0) {
      throw new InvalidOptionError(
        `CircuitBreakerTier: probeTimeoutMs must be a finite number of ms > 0; got ${describeValue(probeTimeoutMs)}.`,
      )
    }
    if (typeof options.clock !== 'function') {
      throw new InvalidOptionError(
        'CircuitBreakerTier: clock must be a function returning ms (e.g. Date.now).',
      )
    }
    this.inner = inner
    this.#failureThreshold = failureThreshold
    this.#breakDurationMs = breakDurationMs
    this.#probeTimeoutMs = probeTimeoutMs
    this.#clock = options.clock
    this.#timers = timersOf(options.clock)
    this.#onStateChange = options.onStateChange
    this.#onRecover = options.onRecover
    const locks = inner.locks
    if (locks !== undefined) {
      this.locks = {
        acquire: (key, token, ttlMs) => this.#call(() => locks.acquire(key, token, ttlMs)),
        extend: (key, token, ttlMs) => this.#call(() => locks.extend(key, token, ttlMs)),
        release: (key, token) => this.#call(() => locks.release(key, token)),
        orderedWithReads: locks.orderedWithReads === true,
      }
    }
    const store = inner.invalidation
    if (store !== undefined) {
      this.invalidation = {
        tombstone: (keys, at, keepMs, bump) => this.#call(() => store.tombstone(keys, at, keepMs, bump)),
        setLoaded: (key, value, ttlMs, since, kind, bump) =>
          this.#call(() => store.setLoaded(key, value, ttlMs, since, kind, bump)),
        markers: (keys) => this.#call(() => store.markers(keys)),
        touchMarkers: (keys, ttlMs, before) => this.#call(() => store.touchMarkers(keys, ttlMs, before)),
        bumpMarkers: (keys, at, mode, ttlMs, onlyExisting) =>
          this.#call(() => store.bumpMarkers(keys, at, mode, ttlMs, onlyExisting)),
      }
    }
    const info = inner.info
    if (info !== undefined) this.info = () => this.#call(() => info.call(inner))
    const bus = inner.bus
    if (bus !== undefined) {
      // Publishing uses the tier's connection: behind the breaker. The subscription has its own
      // connection and reports its own state.
      this.bus = {
        publish: (channel, message) => this.#call(() => bus.publish(channel, message)),
        subscribe: (channel, onMessage, onState) => bus.subscribe(channel, onMessage, onState),
        close: () => bus.close(),
      }
    }
  }

  /** The inner tier's name ('redis', 'memory'). */
  get name(): string {
    return this.inner.name
  }

  get state(): CircuitState {
    return this.#state
  }

  get(key: string): Promise<Uint8Array | undefined> {
    return this.#call(() => this.inner.get(key))
  }

  getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    return this.#call(() => this.inner.getMany(keys))
  }

  set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    return this.#call(() => this.inner.set(key, value, ttlMs))
  }

  setMany(entries: readonly RemoteEntry[]): Promise<void> {
    return this.#call(() => this.inner.setMany(entries))
  }

  delete(keys: readonly string[]): Promise<number> {
    return this.#call(() => this.inner.delete(keys))
  }

  deleteByPrefix(prefix: string, pattern?: string): Promise<number> {
    return this.#call(() => this.inner.deleteByPrefix(prefix, pattern))
  }

  ping(): Promise<void> {
    return this.#call(() => this.inner.ping())
  }

  /**
   * Evidence that the inner tier may answer again — its client has just (re)connected: probe now
   * instead of at the end of the break. Open: the probe starts at once. Half-open: if the running
   * probe fails (it may have gone out over the connection that died), the next one starts at once
   * rather than a break later. Closed: nothing to do. Each call causes at most one probe at once.
   * If that probe fails, the breaker does not wait a whole break for the next: the client is
   * connected, so the failure was most likely a slow answer; the next probe comes 1 s later, then
   * 2 s, 4 s… after each further failure, never later than the break (a few probes in all, even
   * over a long break).
   */
  probeNow(): void {
    if (this.#closed) return
    if (this.#state === 'open') void this.#probe(true)
    else if (this.#state === 'half-open') this.#probeAgain = true
  }

  /** Stops probing (clears the timer; a probe in progress no longer changes the state) and closes the inner tier. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#timers.clearTimeout(this.#timer)
    this.#timer = undefined
    await this.inner.close()
  }

  #call<T>(run: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new ClosedError(`The ${this.name} tier is closed.`))
    if (this.#state !== 'closed') {
      if (this.#state === 'open' && this.#clock() >= this.#probeAt) void this.#probe()
      return Promise.reject(this.#unavailable())
    }
    const period = this.#period
    let pending: Promise<T>
    try {
      pending = run()
    } catch (error) {
      pending = Promise.reject(error)
    }
    return pending.then(
      (value) => {
        if (period === this.#period && this.#state === 'closed') this.#failures = 0
        return value
      },
      (error: unknown) => {
        if (period === this.#period && this.#state === 'closed' && !(error instanceof ClosedError)) {
          this.#lastError = error
          if (++this.#failures >= this.#failureThreshold) this.#open()
        }
        throw error
      },
    )
  }

  #open(breakMs = this.#breakDurationMs): void {
    this.#state = 'open'
    this.#period++
    this.#failures = 0
    this.#probeAt = this.#clock() + breakMs
    this.#timers.clearTimeout(this.#timer)
    this.#timer = unref(this.#timers.setTimeout(() => void this.#probe(), breakMs))
    this.#emit('open')
  }

  /**
   * Never rejects: every outcome ends in a state change (unless the breaker was closed meanwhile),
   * at the latest after `probeTimeoutMs`.
   */
  async #probe(reconnected = false): Promise<void> {
    if (this.#closed || this.#state !== 'open') return
    const probe = ++this.#probes
    this.#probeAgain = false
    if (reconnected) this.#failedSinceReconnect = 0
    this.#state = 'half-open'
    this.#emit('half-open')
    this.#timers.clearTimeout(this.#timer)
    this.#timer = this.#timers.setTimeout(() => {
      const ms = this.#probeTimeoutMs
      const error = new L2TimeoutError(
        `The breaker's probe (PING and recovery) did not settle within ${ms} ms.`,
      )
      this.#settle(probe, { error })
    }, this.#probeTimeoutMs)
    unref(this.#timer)
    try {
      if (reconnected) {
        // On a new connection, together: one round trip (one turn of a busy event loop) instead
        // of two. Not on the timer's probes: a frozen Redis would get the whole repair queued
        // behind each PING it does not answer, and run all of it when it resumes.
        const ping = this.inner.ping()
        let recovering: Promise<void> | undefined
        try {
          recovering = this.#onRecover?.()
        } catch (error) {
          recovering = Promise.reject(error)
        }
        await Promise.all([ping, recovering])
      } else {
        await this.inner.ping()
        await this.#onRecover?.()
      }
      this.#settle(probe)
    } catch (error) {
      this.#settle(probe, { error })
    }
  }

  /** The outcome of probe number `probe` (no `failure`: it answered); ignored once it was settled. */
  #settle(probe: number, failure?: { error: unknown }): void {
    if (this.#closed || probe !== this.#probes || this.#state !== 'half-open') return
    this.#timers.clearTimeout(this.#timer)
    this.#timer = undefined
    if (failure !== undefined) {
      this.#lastError = failure.error
      const again = this.#probeAgain
      const failed = this.#failedSinceReconnect
      if (failed === undefined) this.#open()
      else {
        this.#failedSinceReconnect = failed + 1
        this.#open(Math.min(this.#breakDurationMs, REPROBE_FIRST_MS * 2 ** failed))
      }
      if (again) void this.#probe(true)
      return
    }
    this.#state = 'closed'
    this.#failures = 0
    this.#failedSinceReconnect = undefined
    this.#emit('closed')
  }

  #unavailable(): L2UnavailableError {
    const what = `The L2 (${this.name}) is unavailable: its circuit breaker is open after ${this.#failureThreshold} consecutive failure${this.#failureThreshold === 1 ? '' : 's'}, so calls fail fast`
    const message =
      this.#state === 'half-open'
        ? `${what} while a background probe checks whether it answers again.`
        : `${what}; a background probe will check it in ${Math.max(0, Math.ceil(this.#probeAt - this.#clock()))} ms.`
    return new L2UnavailableError(message, { cause: this.#lastError })
  }

  #emit(state: CircuitState): void {
    try {
      this.#onStateChange?.(state)
    } catch {}
  }
}

/** A system timer must not keep the process alive (a fake clock's handle has no `unref`). */
function unref(handle: unknown): unknown {
  if (
    typeof handle === 'object' &&
    handle !== null &&
    'unref' in handle &&
    typeof handle.unref === 'function'
  )
    handle.unref()
  return handle
}
