/**
 * Settles like `operation`, or rejects with `onTimeout()` after `ms` if it has not settled by
 * then (the operation itself keeps running; its late outcome is ignored, never unhandled).
 *
 * The deadline is judged after the event loop's next I/O poll, not in the timers phase where it
 * fires: on a loop busy with turns longer than `ms` (a service at full CPU, every cache read an
 * L1 hit), a reply that arrived in time is still waiting in the socket when the timer fires, and
 * judging then would blame Redis for our own lag — the reason a busy process once never closed
 * its circuit breaker again (issue 24). The poll phase runs between the two, so such a reply wins.
 */
export function within<T>(operation: Promise<T>, ms: number, onTimeout: () => unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (!settled) reject(onTimeout())
        }),
      ms,
    )
    operation.then(
      (value) => {
        settled = true
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        settled = true
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}
