/** A manual clock for expiry tests: nothing sleeps, tests advance time. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start
  const clock = () => now
  clock.advance = (ms: number) => {
    now += ms
  }
  return clock
}
