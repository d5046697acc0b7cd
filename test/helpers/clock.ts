/** A manual clock for expiry tests: nothing sleeps, tests advance time. */
export function manualClock(start = 1_700_000_000_000) {
  let now = start
  const clock = () => now
  clock.advance = (ms: number) => {
    now += ms
  }
  return clock
}

/**
 * A fake clock with timers: pass it as the cache's `clock` and the factory's soft and hard
 * timeouts, the lock polling and renewal and the breaker's probe are scheduled on it. `advance`
 * moves time forward, firing every timer due on the way at its own time, and lets promise jobs
 * and I/O callbacks run after each, so what a timer starts has happened when it resolves.
 */
export function fakeClock(start = 1_700_000_000_000) {
  let now = start
  let nextId = 0
  const timers = new Map<number, { at: number; callback: () => void }>()
  const clock = Object.assign(() => now, {
    setTimeout(callback: () => void, ms: number): unknown {
      const id = ++nextId
      timers.set(id, { at: now + Math.max(0, ms), callback })
      return id
    },
    clearTimeout(handle: unknown): void {
      timers.delete(handle as number)
    },
    /** Moves time forward by `ms`, firing the timers due on the way, in time order. */
    async advance(ms: number): Promise<void> {
      const until = now + ms
      for (;;) {
        await settle()
        let due: [number, { at: number; callback: () => void }] | undefined
        for (const entry of timers) {
          if (entry[1].at <= until && (due === undefined || entry[1].at < due[1].at)) due = entry
        }
        if (due === undefined) break
        timers.delete(due[0])
        now = due[1].at
        due[1].callback()
      }
      now = until
      await settle()
    },
    /** How many timers are scheduled. */
    pending(): number {
      return timers.size
    },
  })
  return clock
}

/** Lets promise jobs, immediates and ready I/O callbacks run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}
