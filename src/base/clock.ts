/**
 * A clock for the hit path. `Date.now()` costs ~40 ns on this class of machine — a fifth of an
 * L1 hit — so reads share one call: the cached time is dropped by an unref'd timer after
 * `resolutionMs` (as lru-cache's `ttlResolution`), and after `maxReads` reads in case the event
 * loop never reaches its timers (a long chain of awaited hits). Expiry may thus be observed up to
 * about a millisecond late; an injected clock is used as is.
 */
export function coarseClock(source: () => number, resolutionMs = 1, maxReads = 256): () => number {
  let cached = 0
  let reads = 0
  let timerPending = false
  const reset = () => {
    cached = 0
    timerPending = false
  }
  return () => {
    if (cached !== 0 && ++reads < maxReads) return cached
    reads = 0
    cached = source()
    if (!timerPending) {
      timerPending = true
      setTimeout(reset, resolutionMs).unref()
    }
    return cached
  }
}

/**
 * Scheduling on a clock. The system's timers by default; a clock passed as the `clock` option
 * that also has `setTimeout` and `clearTimeout` methods (a test's fake clock) schedules the
 * factory's soft and hard timeouts, the lock polling and renewal and the breaker's probe on
 * itself, so advancing it fires them — no test has to sleep through real time.
 */
export interface ClockTimers {
  setTimeout(callback: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** The `clock` option: milliseconds since the epoch, optionally with the clock's own timers. */
export type Clock = (() => number) & Partial<ClockTimers>

/**
 * The longest delay a Node timer takes: beyond it `setTimeout` and `setInterval` warn
 * (TimeoutOverflowWarning) and fire after 1 ms instead — a `timeout: '30d'` would expire at once.
 */
export const MAX_TIMER_MS = 2_147_483_647

/** A delay a timer can wait: anything longer (Infinity included) waits MAX_TIMER_MS, about 24.8 days. */
export function timerMs(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms))
}

/** The system's timers (delays capped by {@link timerMs}). */
export const SYSTEM_TIMERS: ClockTimers = {
  setTimeout: (callback, ms) => setTimeout(callback, timerMs(ms)),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

/** The timers of `clock` when it has both methods, else the system's. */
export function timersOf(clock: Clock | undefined): ClockTimers {
  if (
    clock === undefined ||
    typeof clock.setTimeout !== 'function' ||
    typeof clock.clearTimeout !== 'function'
  ) {
    return SYSTEM_TIMERS
  }
  const set = clock.setTimeout
  const clear = clock.clearTimeout
  return {
    setTimeout: (callback, ms) => set.call(clock, callback, ms),
    clearTimeout: (h) => clear.call(clock, h),
  }
}

/** Resolves after `ms` on `timers`' clock. */
export function sleep(timers: ClockTimers, ms: number): Promise<void> {
  return new Promise((resolve) => {
    timers.setTimeout(resolve, ms)
  })
}

/**
 * The cache's one clock, injected (`clock` option) or the system's. `now` is the (coarse) reading
 * for expiry; `stamp` dates invalidations and creations in fractional ms, so "before" is rarely a
 * tie — the system's high-resolution time, or the injected clock as is; `timers` schedule on it
 * ({@link ClockTimers}).
 */
export interface CacheClock {
  readonly now: () => number
  readonly stamp: () => number
  readonly timers: ClockTimers
}

export function cacheClock(injected: Clock | undefined): CacheClock {
  if (injected !== undefined) return { now: injected, stamp: injected, timers: timersOf(injected) }
  return {
    now: coarseClock(Date.now),
    stamp: () => performance.timeOrigin + performance.now(),
    timers: SYSTEM_TIMERS,
  }
}

let lastStamp = Number.NaN
let lastStampText = ''

/**
 * `String(stamp)`, remembered for the last stamp: a write sends its time two or three times (a
 * delete's tombstone, its version, its dependency-marker bump), and turning a fractional stamp
 * into text costs 150–270 ns each time (V8's shortest round-trip conversion), where comparing
 * with the last one costs nothing.
 */
export function stampText(stamp: number): string {
  if (stamp !== lastStamp) {
    lastStampText = String(stamp)
    lastStamp = stamp
  }
  return lastStampText
}
