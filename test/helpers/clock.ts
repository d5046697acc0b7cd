/** A manual clock for expiry tests: nothing sleeps, tests advance time. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start
  const clock = () => now
  clock.advance = (ms: number) => {
    now += ms
  }
  return clock
}

/** A deferred promise, to hold a factory open until a test releases it. */
export function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
