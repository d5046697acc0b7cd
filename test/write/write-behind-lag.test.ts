import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  createWriteBehind,
  MemoryWriteLog,
  type WriteBehind,
  type WriteBehindOptions,
} from '../../src/index.js'
import type { WriteLog } from '../../src/write/log.js'
import { manualClock } from '../helpers/clock.js'

/**
 * stats().lagMs (write_behind_lag_seconds) while the log does not answer: the writes waiting in
 * it keep ageing, so the reported lag must too (src/write/write-behind.ts).
 */
const open: WriteBehind<unknown>[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((wb) => wb.close({ timeoutMs: 0 })))
})

/**
 * A log whose named calls wait while frozen (a Redis that stopped answering), and run once it
 * thaws. `hung` counts the calls that waited: the flusher is stuck once one did.
 */
function freezable(log: MemoryWriteLog) {
  let frozen: ReadonlySet<string> | undefined
  let waiting: (() => void)[] = []
  const state = { hung: 0 }
  const proxy = new Proxy(log, {
    get(target, name) {
      const value: unknown = Reflect.get(target, name, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        const run = () => (value as (...a: unknown[]) => unknown).apply(target, args)
        if (frozen === undefined || !frozen.has(String(name))) return run()
        state.hung++
        return new Promise((resolve, reject) => {
          waiting.push(() => Promise.resolve().then(run).then(resolve, reject))
        })
      }
    },
  }) as unknown as WriteLog
  return {
    log: proxy,
    state,
    freeze(names: readonly string[]) {
      frozen = new Set(names)
    },
    thaw() {
      frozen = undefined
      const calls = waiting
      waiting = []
      for (const call of calls) call()
    },
  }
}

/** Every call a flusher makes to read, measure, acknowledge or hold its partition. */
const FLUSHER_CALLS = [
  'read',
  'claim',
  'length',
  'ack',
  'deadLetter',
  'renew',
  'acquire',
  'release',
  'oldest',
]

function make(log: WriteLog, clock: () => number, options: Partial<WriteBehindOptions<number>> = {}) {
  const wb = createWriteBehind<number>(
    { log },
    {
      name: 'lag',
      flush: async () => {},
      clock,
      maxDelay: 5,
      retryBase: 5,
      retryMax: 20,
      maxAttempts: 1_000_000,
      // Long enough that the lease never lapses while the test moves the clock.
      visibilityTimeout: 3_600_000,
      ...options,
    },
  )
  open.push(wb as WriteBehind<unknown>)
  return wb
}

describe('write-behind lag while the log does not answer', () => {
  it('a measured lag keeps growing while the log is silent, and is measured again once it answers', async () => {
    const clock = manualClock()
    const memory = new MemoryWriteLog({ clock })
    const { log, state, freeze, thaw } = freezable(memory)
    let down = true
    const wb = make(log, clock, {
      flush: async () => {
        if (down) throw new Error('database down')
      },
    })
    await wb.set('a', 1)
    await vi.waitFor(() => expect(wb.stats().ownedPartitions).toBe(1))
    clock.advance(3000)
    // The flusher retries, and measures the write 3 s old.
    await vi.waitFor(() => expect(wb.stats().lagMs).toBe(3000))

    freeze(FLUSHER_CALLS)
    await vi.waitFor(() => expect(state.hung).toBeGreaterThan(0))
    clock.advance(60_000)
    // Still unflushed, now 63 s old: not the 3 s last measured.
    expect(wb.stats().lagMs).toBeGreaterThanOrEqual(63_000)
    expect(wb.stats().pending).toBe(1)

    down = false
    thaw()
    await vi.waitFor(() => expect(wb.stats().flushed).toBe(1))
    await vi.waitFor(() => expect(wb.stats().lagMs).toBe(0))
  })

  it('a write appended after the last measure ages from its append while the flusher cannot read', async () => {
    const clock = manualClock()
    const { log, state, freeze, thaw } = freezable(new MemoryWriteLog({ clock }))
    const wb = make(log, clock)
    await wb.set('warm', 0)
    // Past maxDelay on the write-behind's clock: the batch is due.
    clock.advance(10)
    await vi.waitFor(() => expect(wb.stats().flushed).toBe(1))
    await vi.waitFor(() => expect(wb.stats().pending).toBe(0))
    expect(wb.stats().lagMs).toBe(0)

    // Appends still answer; the flusher's reads do not.
    freeze(FLUSHER_CALLS)
    const appendedAt = clock()
    await wb.set('a', 1)
    await vi.waitFor(() => expect(state.hung).toBeGreaterThan(0))
    clock.advance(30_000)
    expect(wb.stats().lagMs).toBe(clock() - appendedAt)

    thaw()
    await vi.waitFor(() => expect(wb.stats().flushed).toBe(2))
    await vi.waitFor(() => expect(wb.stats().lagMs).toBe(0))
  })

  it('a flush that hangs: its writes keep ageing (no measure comes while it runs)', async () => {
    const clock = manualClock()
    let started = false
    const wb = make(new MemoryWriteLog({ clock }), clock, {
      maxDelay: 0,
      flush: () => {
        started = true
        return new Promise(() => {})
      },
    })
    await wb.set('a', 1)
    await vi.waitFor(() => expect(started).toBe(true))
    clock.advance(60_000)
    expect(wb.stats().lagMs).toBeGreaterThanOrEqual(60_000)
  })

  it('a measure on time is reported as measured (no growth while the flusher keeps measuring)', async () => {
    const clock = manualClock()
    const wb = make(new MemoryWriteLog({ clock }), clock, {
      flush: async () => {
        throw new Error('database down')
      },
    })
    await wb.set('a', 1)
    await vi.waitFor(() => expect(wb.stats().ownedPartitions).toBe(1))
    clock.advance(1500)
    await vi.waitFor(() => expect(wb.stats().lagMs).toBe(1500))
    // The flusher answers and keeps measuring: what it measures is what stats() says.
    clock.advance(1500)
    await vi.waitFor(() => expect(wb.stats().lagMs).toBe(3000))
  })

  it('an instance that does not flush reports no lag of its own appends (another process measures them)', async () => {
    const clock = manualClock()
    const wb = make(new MemoryWriteLog({ clock }), clock, { flusher: false })
    await wb.set('a', 1)
    clock.advance(60_000)
    expect(wb.stats().lagMs).toBe(0)
  })
})
