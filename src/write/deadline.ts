import { timerMs } from '../base/clock.js'

/**
 * `promise`, or `fallback` once `ms` passed, whichever comes first (Infinity: no bound). Unlike
 * base/deadline.ts's `within`, which rejects, a bounded wait (close, settled) resolves. The promise
 * goes on, its rejection handled: what the wait leaves behind never becomes an unhandled
 * rejection. A promise already settled wins, even with `ms` ≤ 0.
 */
export function settledOr<R, F>(promise: Promise<R>, ms: number, fallback: F): Promise<R | F> {
  promise.catch(() => {})
  if (ms === Number.POSITIVE_INFINITY) return promise
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), timerMs(ms))
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}
