/**
 * The longest delay a Node timer takes: beyond it `setTimeout` warns (TimeoutOverflowWarning) and
 * fires after 1 ms instead — a flush timeout of 2^31 ms would fail every flush at once.
 */
export const MAX_TIMER_MS = 2_147_483_647

/** A delay a timer can wait (Infinity and anything above {@link MAX_TIMER_MS} wait that long). */
export function timerMs(ms: number): number {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms))
}

/**
 * `promise`, or `fallback` once `ms` passed (whichever comes first; Infinity: no bound). The
 * promise goes on, its rejection handled: what a bounded wait (close, settled) leaves behind never
 * becomes an unhandled rejection. A promise already settled wins, even with `ms` ≤ 0.
 */
export function within<R, F>(promise: Promise<R>, ms: number, fallback: F): Promise<R | F> {
  promise.catch(() => {})
  if (ms === Number.POSITIVE_INFINITY) return promise
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), timerMs(ms))
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}

/** Calls `run` and hands back its promise; a synchronous throw becomes a rejection (a custom log's bug must not crash the process from a timer or a tick). */
export function attempt<R>(run: () => Promise<R>): Promise<R> {
  try {
    return run()
  } catch (error) {
    return Promise.reject(error)
  }
}
