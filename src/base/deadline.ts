import { type ClockTimers, SYSTEM_TIMERS } from './clock.js'

/**
 * Settles like `operation`, or rejects with `onTimeout()` after `ms` if it has not settled by
 * then (the operation itself keeps running; its late outcome is ignored, never unhandled).
 *
 * The deadline is judged after the event loop's next I/O poll, not in the timers phase where it
 * fires: on a loop busy with turns longer than `ms` (a service at full CPU, every cache read an
 * L1 hit), a reply that arrived in time is still waiting in the socket when the timer fires, and
 * judging then would blame Redis for our own lag — the reason a busy process once never closed
 * its circuit breaker again (issue 24). The poll phase runs between the two, so such a reply wins.
 * `timers`: the clock the deadline runs on (the cache's, so a test's fake clock can fire it).
 */
export function within<T>(
  operation: Promise<T>,
  ms: number,
  onTimeout: () => unknown,
  timers: ClockTimers = SYSTEM_TIMERS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const timer = timers.setTimeout(
      () =>
        setImmediate(() => {
          if (!settled) reject(onTimeout())
        }),
      ms,
    )
    operation.then(
      (value) => {
        settled = true
        timers.clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        settled = true
        timers.clearTimeout(timer)
        reject(error)
      },
    )
  })
}
