import { describe, expect, it } from 'vitest'
import { createCache } from '../../dist/index.js'
import { fakeClock } from '../helpers/clock.js'
import { closeAfterEach, deferred } from '../helpers/fixtures.js'
import { FlakyTier } from '../resilience/flaky-tier.js'

const LOCK_TTL_MS = 1000

describe('KeyLocks: renewal of a held lock', () => {
  const track = closeAfterEach()

  /**
   * The holder's breaker opened (a blip) and stays open for its break while the L2 answers again.
   * Renewals sent through the breaker failed fast, so the lock expired under a live holder and
   * another process, whose breaker is closed, took it and ran the factory at the same time.
   */
  it('keeps the lock of a live holder whose breaker is open while the L2 answers: no second factory runs meanwhile', async () => {
    const clock = fakeClock()
    const tier = new FlakyTier({ clock })
    const breakerStates: string[] = []
    const holder = track(
      createCache({
        namespace: 'renew',
        jitter: 0,
        clock,
        l2: { tier, breaker: { threshold: 1, breakDuration: '10s' } },
        lock: { ttl: `${LOCK_TTL_MS}ms`, wait: '60s' },
      }),
    )
    holder.on('breaker', (event) => breakerStates.push(event.state))
    // Another process: the same L2 (data and locks), its own breaker, closed.
    const other = track(
      createCache({
        namespace: 'renew',
        jitter: 0,
        clock,
        l2: { tier: tier.store },
        lock: { ttl: `${LOCK_TTL_MS}ms`, wait: '60s' },
      }),
    )
    let running = 0
    let mostAtOnce = 0
    const holderStarted = deferred()
    const holderGate = deferred<string>()
    const holderRun = holder.getOrSet({
      key: 'k',
      factory: async () => {
        mostAtOnce = Math.max(mostAtOnce, ++running)
        holderStarted.resolve()
        try {
          return await holderGate.promise
        } finally {
          running--
        }
      },
    })
    await holderStarted.promise

    // A blip: one failed call opens the holder's breaker for 10 s; the L2 answers again at once.
    tier.failing = new Error('connect ECONNREFUSED 127.0.0.1:1')
    await holder.get('unrelated')
    tier.failing = undefined
    expect(breakerStates).toEqual(['open'])

    // Three lock TTLs later the holder still computes: its lock must still be held.
    await clock.advance(3 * LOCK_TTL_MS)
    let otherCalls = 0
    const otherRun = other.getOrSet({
      key: 'k',
      factory: async () => {
        otherCalls++
        mostAtOnce = Math.max(mostAtOnce, ++running)
        running--
        return 'other'
      },
    })
    await clock.advance(LOCK_TTL_MS)
    expect(otherCalls).toBe(0)
    expect(mostAtOnce).toBe(1)

    holderGate.resolve('holder')
    expect(await holderRun).toBe('holder')
    await clock.advance(LOCK_TTL_MS)
    await otherRun
    expect(mostAtOnce).toBe(1)
  })
})
