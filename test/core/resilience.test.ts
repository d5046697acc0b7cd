import { describe, expect, it, vi } from 'vitest'
import {
  type CacheOptions,
  createCache,
  MemoryRemoteTier,
  type RemoteEntry,
  type RemoteTier,
} from '../../dist/index.js'
import { fakeClock, manualClock } from '../helpers/clock.js'
import { deferred } from '../helpers/deferred.js'

const TTL = 1000

function setup(extra: CacheOptions = {}, shared?: MemoryRemoteTier) {
  const clock = manualClock()
  const tier = shared ?? new MemoryRemoteTier({ clock })
  const cache = createCache({ namespace: 'r', jitter: 0, clock, ttl: TTL, l2: { tier }, ...extra })
  return { clock, tier, cache }
}

/** A cache on a fake clock with timers: its soft and hard timeouts fire when the test advances it. */
function setupFake(extra: CacheOptions = {}) {
  const clock = fakeClock()
  const tier = new MemoryRemoteTier({ clock })
  const cache = createCache({ namespace: 'r', jitter: 0, clock, ttl: TTL, l2: { tier }, ...extra })
  return { clock, tier, cache }
}

/** Resolves after `ms` of real time: a factory that takes that long. */
const takes = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms))

describe('grace: stale-while-revalidate', () => {
  it('serves the stale value at once after expiry, and refreshes it once in the background for 100 callers', async () => {
    const { clock, cache } = setup({ grace: '1h' })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    const gate = deferred<string>()
    let calls = 0
    const factory = () => {
      calls++
      return gate.promise
    }
    const served = await Promise.all(Array.from({ length: 100 }, () => cache.getOrSet({ key: 'k', factory })))
    expect(new Set(served)).toEqual(new Set(['old']))
    expect(cache.stats().staleServed).toBe(100)
    await vi.waitFor(() => expect(calls).toBe(1))
    gate.resolve('new')
    await vi.waitFor(() => expect(cache.peek('k')).toBe('new'))
    expect(await cache.getOrSet({ key: 'k', factory })).toBe('new')
    expect(calls).toBe(1)
  })

  it('never serves a value past its grace: the caller waits for the factory', async () => {
    const { clock, cache } = setup({ grace: '10s' })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 10_000)
    expect(await cache.getOrSet({ key: 'k', factory: () => 'new' })).toBe('new')
    expect(cache.stats().staleServed).toBe(0)
  })

  it('serves stale from the L2 to an instance that never held the key', async () => {
    const { clock, tier, cache } = setup({ grace: '1h' })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    const other = createCache({ namespace: 'r', jitter: 0, clock, ttl: TTL, grace: '1h', l2: { tier } })
    clock.advance(TTL + 1)
    const gate = deferred<string>()
    expect(await other.getOrSet({ key: 'k', factory: () => gate.promise })).toBe('old')
    expect(other.stats().staleServed).toBe(1)
    gate.resolve('new')
    await vi.waitFor(() => expect(other.peek('k')).toBe('new'))
  })

  it('get() and peek() return fresh values only', async () => {
    const { clock, cache } = setup({ grace: '1h' })
    await cache.set('k', 'old')
    clock.advance(TTL + 1)
    expect(cache.peek('k')).toBeUndefined()
    expect(await cache.get('k')).toBeUndefined()
  })
})

describe('fail-safe', () => {
  it('keeps serving the stale value when the factory throws, and calls it again only after failSafeBackoff', async () => {
    const { clock, cache } = setup({ grace: '1h', failSafeBackoff: '30s' })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    let calls = 0
    const failures: unknown[] = []
    cache.on('factory-error', (event) => failures.push(event))
    const failing = () => {
      calls++
      throw new Error('db down')
    }
    for (let i = 0; i < 50; i++) {
      expect(await cache.getOrSet({ key: 'k', factory: failing })).toBe('old')
      clock.advance(100) // 5 s in all: within the backoff
      await vi.waitFor(() => expect(cache.stats().inFlight).toBe(0))
    }
    expect(calls).toBe(1)
    expect(failures).toHaveLength(1)
    expect(failures[0]).toMatchObject({ key: 'k', staleServed: true })
    clock.advance(30_000)
    expect(await cache.getOrSet({ key: 'k', factory: failing })).toBe('old')
    await vi.waitFor(() => expect(calls).toBe(2))
    expect(cache.stats().failSafeServed).toBe(2)
  })

  it('with a soft timeout, a factory that throws before it still answers with the stale value', async () => {
    const { clock, cache } = setup({ grace: '1h', timeout: { soft: '1s' } })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    const value = await cache.getOrSet({
      key: 'k',
      factory: async () => {
        throw new Error('db down')
      },
    })
    expect(value).toBe('old')
    expect(cache.stats()).toMatchObject({ failSafeServed: 1, factoryErrors: 1 })
  })

  it('without a stale value, the error propagates as E_FACTORY with the thrown error as cause', async () => {
    const { cache } = setup({ grace: '1h' })
    const boom = new Error('db down')
    await expect(
      cache.getOrSet({
        key: 'k',
        factory: () => {
          throw boom
        },
      }),
    ).rejects.toMatchObject({ code: 'E_FACTORY', cause: boom })
  })

  it('ctx.fail() declines without throwing: stale is served, or E_FACTORY carries the reason', async () => {
    const { clock, cache } = setup({ grace: '1h' })
    await expect(
      cache.getOrSet({ key: 'cold', factory: (ctx) => ctx.fail('upstream 503') }),
    ).rejects.toMatchObject({ code: 'E_FACTORY', cause: 'upstream 503' })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    expect(await cache.getOrSet({ key: 'k', factory: (ctx) => ctx.fail('upstream 503') })).toBe('old')
    await vi.waitFor(() => expect(cache.stats().failSafeServed).toBe(1))
  })

  it('ctx.skip() returns the value without caching it', async () => {
    const { cache, tier } = setup()
    const value = await cache.getOrSet({
      key: 'k',
      factory: (ctx) => {
        ctx.skip()
        return 'once'
      },
    })
    expect(value).toBe('once')
    expect(cache.peek('k')).toBeUndefined()
    expect(tier.keys().filter((k) => !k.startsWith('!'))).toEqual([])
  })

  it('hands the factory the stale value and its age, for conditional refreshes', async () => {
    const { clock, cache } = setup({ grace: '1h', timeout: { soft: '1s' } })
    await cache.getOrSet({ key: 'k', factory: () => ({ etag: 'v1' }) })
    clock.advance(TTL + 250)
    let seen: unknown
    const value = await cache.getOrSet<{ etag: string }>({
      key: 'k',
      factory: (ctx) => {
        seen = ctx.stale
        return ctx.stale?.value ?? { etag: 'v2' }
      },
    })
    expect(value).toEqual({ etag: 'v1' })
    expect(seen).toEqual({ value: { etag: 'v1' }, ageMs: 250 })
    expect(cache.peek('k')).toEqual({ etag: 'v1' })
  })
})

describe('factory timeouts', () => {
  it('a timeout longer than a Node timer can hold (30 days, Infinity) waits that long, not 1 ms', async () => {
    for (const soft of ['30d', Number.POSITIVE_INFINITY] as const) {
      const { clock, cache } = setup({ grace: '1h', timeout: { soft, hard: '40d' } })
      await cache.getOrSet({ key: 'k', factory: () => 'old' })
      clock.advance(TTL + 1)
      // Node fires a timer of more than 2^31-1 ms after 1 ms: the stale value would be served.
      expect(await cache.getOrSet({ key: 'k', factory: () => takes(30, 'new') })).toBe('new')
      expect(cache.stats().factoryTimeouts).toBe(0)
      await cache.close()
    }
  })

  it('rejects with E_FACTORY_HARD_TIMEOUT and aborts ctx.signal when the factory outlives timeout.hard', async () => {
    const { clock, cache } = setupFake({ timeout: { hard: '30ms' } })
    let signal: AbortSignal | undefined
    const never = new Promise<string>(() => {})
    const outcome = cache
      .getOrSet({
        key: 'k',
        factory: (ctx) => {
          signal = ctx.signal
          return never
        },
      })
      .catch((error: unknown) => error)
    await clock.advance(29)
    expect(signal?.aborted).toBe(false)
    await clock.advance(1)
    expect(await outcome).toMatchObject({ code: 'E_FACTORY_HARD_TIMEOUT', key: 'k' })
    expect(signal?.aborted).toBe(true)
    expect(cache.stats().factoryTimeouts).toBe(1)
  })

  it('a factory that reads ctx.signal only after timeout.hard finds it aborted, with the timeout as its reason', async () => {
    const { clock, cache } = setupFake({ timeout: { hard: '30ms' } })
    const gate = deferred<void>()
    let late: AbortSignal | undefined
    const outcome = cache
      .getOrSet({
        key: 'k',
        factory: async (ctx) => {
          await gate.promise
          late = ctx.signal
          return 'v'
        },
      })
      .catch((error: unknown) => error)
    await clock.advance(30)
    const error = await outcome
    expect(error).toMatchObject({ code: 'E_FACTORY_HARD_TIMEOUT' })
    gate.resolve()
    await vi.waitFor(() => expect(late).toBeDefined())
    expect(late?.aborted).toBe(true)
    expect(late?.reason).toBe(error)
  })

  it('after a hard timeout with a stale value at hand, serves the stale value (fail-safe)', async () => {
    const { clock, cache } = setupFake({ grace: '1h', timeout: { soft: '10s', hard: '30ms' } })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    await clock.advance(TTL + 1)
    const answer = cache.getOrSet({ key: 'k', factory: () => new Promise<string>(() => {}) })
    await clock.advance(30)
    expect(await answer).toBe('old')
    expect(cache.stats()).toMatchObject({ failSafeServed: 1, factoryTimeouts: 1 })
  })

  it('a soft timeout answers with the stale value, and the factory still refreshes the cache when it finishes', async () => {
    const { clock, cache } = setupFake({ grace: '1h', timeout: { soft: '20ms' } })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    await clock.advance(TTL + 1)
    const gate = deferred<string>()
    const timeouts: unknown[] = []
    cache.on('factory-timeout', (event) => timeouts.push(event))
    const answer = cache.getOrSet({ key: 'k', factory: () => gate.promise })
    await clock.advance(19)
    expect(timeouts).toEqual([])
    await clock.advance(1)
    expect(await answer).toBe('old')
    expect(timeouts).toEqual([{ key: 'k', kind: 'soft' }])
    gate.resolve('new')
    await vi.waitFor(() => expect(cache.peek('k')).toBe('new'))
  })

  it('a factory faster than the soft timeout answers with the fresh value', async () => {
    const { clock, cache } = setupFake({ grace: '1h', timeout: { soft: '1s' } })
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    await clock.advance(TTL + 1)
    const fresh = () => new Promise<string>((resolve) => clock.setTimeout(() => resolve('new'), 5))
    const answer = cache.getOrSet({ key: 'k', factory: fresh })
    await clock.advance(5)
    expect(await answer).toBe('new')
    expect(cache.stats().staleServed).toBe(0)
  })

  it('close() aborts the signal of a running factory', async () => {
    const { cache } = setup()
    const started = deferred<AbortSignal>()
    const pending = cache.getOrSet({
      key: 'k',
      factory: (ctx) => {
        started.resolve(ctx.signal)
        return new Promise<string>((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)),
        )
      },
    })
    const signal = await started.promise
    await cache.close()
    expect(signal.aborted).toBe(true)
    await expect(pending).rejects.toMatchObject({ code: 'E_FACTORY' })
  })
})

describe('early refresh', () => {
  async function warmWithDelta(extra: CacheOptions, random: () => number) {
    const env = setup({ ...extra, random })
    let calls = 0
    const factory = async () => {
      calls++
      return takes(20, `v${calls}`)
    }
    await env.cache.getOrSet({ key: 'k', factory })
    return { ...env, factory, calls: () => calls }
  }

  it('XFetch: a read close to expiry refreshes in the background when the draw says so, and returns the current value', async () => {
    // random → 0: −ln(U) is huge, so any read inside the window refreshes.
    const { clock, cache, factory, calls } = await warmWithDelta({}, () => 1e-12)
    const events: unknown[] = []
    cache.on('early-refresh', (event) => events.push(event))
    clock.advance(TTL - 100) // inside the window (δ ≈ 20 ms × 12)
    expect(await cache.getOrSet({ key: 'k', factory })).toBe('v1')
    expect(events).toEqual([{ key: 'k', kind: 'xfetch' }])
    await vi.waitFor(() => expect(cache.peek('k')).toBe('v2'))
    expect(calls()).toBe(2)
    expect(cache.stats().misses).toBe(1)
  })

  it('XFetch: a draw near 1 does not refresh before expiry', async () => {
    const { clock, cache, factory, calls } = await warmWithDelta({}, () => 0.999_999)
    clock.advance(TTL - 100)
    for (let i = 0; i < 10; i++) expect(await cache.getOrSet({ key: 'k', factory })).toBe('v1')
    expect(calls()).toBe(1)
    expect(cache.stats().earlyRefreshes).toBe(0)
  })

  it('XFetch is off with earlyRefresh: false', async () => {
    const { clock, cache, factory } = await warmWithDelta({ earlyRefresh: false }, () => 1e-12)
    clock.advance(TTL - 1)
    expect(await cache.getOrSet({ key: 'k', factory })).toBe('v1')
    expect(cache.stats().earlyRefreshes).toBe(0)
  })

  it('eagerRefresh: 0.8 refreshes on the first read after 80% of the TTL, not before', async () => {
    const { clock, cache, factory, calls } = await warmWithDelta({ eagerRefresh: 0.8 }, Math.random)
    clock.advance(TTL * 0.79)
    expect(await cache.getOrSet({ key: 'k', factory })).toBe('v1')
    expect(cache.stats().earlyRefreshes).toBe(0)
    clock.advance(TTL * 0.02)
    expect(await cache.getOrSet({ key: 'k', factory })).toBe('v1')
    expect(cache.stats().earlyRefreshes).toBe(1)
    await vi.waitFor(() => expect(cache.peek('k')).toBe('v2'))
    expect(calls()).toBe(2)
  })

  it('takes the value another instance already refreshed from the L2 instead of running the factory', async () => {
    const clock = manualClock()
    const tier = new MemoryRemoteTier({ clock })
    const options = { namespace: 'r', jitter: 0, clock, ttl: TTL, eagerRefresh: 0.5, l2: { tier } } as const
    const a = createCache(options)
    const b = createCache(options)
    await a.getOrSet({ key: 'k', factory: () => 'v1' })
    expect(await b.getOrSet({ key: 'k', factory: () => 'unused' })).toBe('v1')
    clock.advance(TTL * 0.6)
    let aCalls = 0
    expect(
      await a.getOrSet({
        key: 'k',
        factory: () => {
          aCalls++
          return 'v2'
        },
      }),
    ).toBe('v1')
    await vi.waitFor(() => expect(a.peek('k')).toBe('v2'))
    let bCalls = 0
    expect(
      await b.getOrSet({
        key: 'k',
        factory: () => {
          bCalls++
          return 'v3'
        },
      }),
    ).toBe('v1')
    await vi.waitFor(() => expect(b.peek('k')).toBe('v2'))
    expect(aCalls).toBe(1)
    expect(bCalls).toBe(0)
    expect(b.stats().refreshesFromL2).toBe(1)
  })
})

describe('distributed single-flight (over the L2 tier’s locks)', () => {
  it('one factory call for two instances loading the same cold key; the other waits and reads its value', async () => {
    const tier = new MemoryRemoteTier()
    const a = createCache({ namespace: 'd', l2: { tier } })
    const b = createCache({ namespace: 'd', l2: { tier } })
    const gate = deferred<string>()
    let calls = 0
    const factory = () => {
      calls++
      return gate.promise
    }
    const first = a.getOrSet({ key: 'k', factory })
    await vi.waitFor(() => expect(calls).toBe(1))
    const second = b.getOrSet({ key: 'k', factory })
    setTimeout(() => gate.resolve('computed once'), 30)
    expect(await Promise.all([first, second])).toEqual(['computed once', 'computed once'])
    expect(calls).toBe(1)
    expect(b.stats().lockWaits).toBe(1)
    await Promise.all([a.close(), b.close()])
  })

  it('when the holder stops renewing its lock (it died), another instance takes over after the lock TTL', async () => {
    const tier = new MemoryRemoteTier()
    const lock = { ttl: '100ms' } as const
    const holder = createCache({ namespace: 'd', lock, l2: { tier } })
    const taker = createCache({ namespace: 'd', lock, l2: { tier } })
    const started = deferred()
    holder
      .getOrSet({
        key: 'k',
        factory: () => {
          started.resolve()
          return new Promise<string>(() => {})
        },
      })
      .catch(() => {})
    await started.promise
    await holder.close() // stops renewing: the lock now expires like a killed process's
    const begin = performance.now()
    expect(await taker.getOrSet({ key: 'k', factory: () => 'taken over' })).toBe('taken over')
    const waited = performance.now() - begin
    expect(waited).toBeGreaterThanOrEqual(50)
    expect(waited).toBeLessThan(100 + 500)
    await taker.close()
  })

  it('is skipped with lock: false (each instance computes)', async () => {
    const tier = new MemoryRemoteTier()
    const a = createCache({ namespace: 'd', lock: false, l2: { tier } })
    const b = createCache({ namespace: 'd', lock: false, l2: { tier } })
    let calls = 0
    const factory = () => {
      calls++
      return takes(20, 'v')
    }
    await Promise.all([a.getOrSet({ key: 'k', factory }), b.getOrSet({ key: 'k', factory })])
    expect(calls).toBe(2)
    expect(tier.keys().some((k) => k.startsWith('!lock:'))).toBe(false)
  })
})

/** A tier that fails every call while `down` is true (and counts what reached the inner tier). */
class SwitchableTier implements RemoteTier {
  readonly name = 'switchable'
  down = false
  calls = 0
  /** When set, deletes wait for it (to hold a repair in progress); each delete's key count is kept. */
  deleteGate: Promise<void> | undefined
  readonly deletes: number[] = []
  readonly inner = new MemoryRemoteTier()
  readonly #fail = async () => {
    throw new Error('connection refused')
  }
  async #pass<T>(call: () => Promise<T>): Promise<T> {
    this.calls++
    if (this.down) return this.#fail() as Promise<T>
    return call()
  }
  get(key: string) {
    return this.#pass(() => this.inner.get(key))
  }
  getMany(keys: readonly string[]) {
    return this.#pass(() => this.inner.getMany(keys))
  }
  set(key: string, value: Uint8Array, ttlMs: number) {
    return this.#pass(() => this.inner.set(key, value, ttlMs))
  }
  setMany(entries: readonly RemoteEntry[]) {
    return this.#pass(() => this.inner.setMany(entries))
  }
  delete(keys: readonly string[]) {
    return this.#pass(async () => {
      this.deletes.push(keys.length)
      await this.deleteGate
      return this.inner.delete(keys)
    })
  }
  deleteByPrefix(prefix: string) {
    return this.#pass(() => this.inner.deleteByPrefix(prefix))
  }
  ping() {
    return this.#pass(() => this.inner.ping())
  }
  async close() {}
}

describe('L2 circuit breaker', () => {
  it('opens after `threshold` failures: later calls skip the L2 at once, and answers come from L1 and the factory', async () => {
    const tier = new SwitchableTier()
    const cache = createCache({
      namespace: 'b',
      l2: { tier, breaker: { threshold: 3, breakDuration: '1h' } },
    })
    await cache.set('warm', 'w')
    tier.down = true
    for (let i = 0; i < 3; i++) expect(await cache.get(`miss${i}`)).toBeUndefined()
    const reached = tier.calls
    for (let i = 0; i < 100; i++) {
      expect(await cache.getOrSet({ key: `k${i}`, factory: () => i })).toBe(i)
    }
    expect(tier.calls).toBe(reached)
    expect(await cache.get('warm')).toBe('w')
    expect(cache.stats()).toMatchObject({ breakerOpened: 1, l2Errors: 3 })
    expect(cache.stats().l2Skipped).toBeGreaterThanOrEqual(100)
    await cache.close()
  })

  it('probes in the background, deletes the keys written during the outage, then closes', async () => {
    const tier = new SwitchableTier()
    const cache = createCache({
      namespace: 'b',
      l2: { tier, breaker: { threshold: 1, breakDuration: '20ms' } },
    })
    await cache.set('k', 'before')
    const states: string[] = []
    const closed = new Promise<void>((resolve) =>
      cache.on('breaker', ({ state }) => {
        states.push(state)
        if (state === 'closed') resolve()
      }),
    )
    tier.down = true
    await cache.set('k', 'during') // resolves: L1 updated, repair queued
    expect(cache.peek('k')).toBe('during')
    tier.down = false
    await closed
    expect(states).toEqual(['open', 'half-open', 'closed'])
    expect(tier.inner.keys()).toEqual([])
    expect(cache.stats()).toMatchObject({ l2RepairsQueued: 1, l2Repairs: 1 })
    const other = createCache({ namespace: 'b', l2: { tier } })
    expect(await other.get('k')).toBeUndefined()
    await Promise.all([cache.close(), other.close()])
  })

  it("probes on the cache's clock: advancing a fake clock by the break probes and closes, with no call arriving and no real wait", async () => {
    const tier = new SwitchableTier()
    const clock = fakeClock()
    const cache = createCache({
      namespace: 'b',
      clock,
      l2: { tier, breaker: { threshold: 1, breakDuration: '1h' } },
    })
    const states: string[] = []
    cache.on('breaker', ({ state }) => states.push(state))
    tier.down = true
    await cache.set('k', 'during') // opens the breaker; its probe is due in an hour of the clock's time
    expect(states).toEqual(['open'])
    tier.down = false
    await clock.advance(3_600_000 - 1)
    expect(states).toEqual(['open'])
    await clock.advance(1)
    expect(states).toEqual(['open', 'half-open', 'closed'])
    expect(tier.inner.keys()).toEqual([])
    await cache.close()
  })

  it('writes failing while the repair runs do not keep the breaker half-open: it deletes the keys pending when it started, every chunk at once, then closes (issue 24)', async () => {
    const tier = new SwitchableTier()
    const cache = createCache({
      namespace: 'b',
      l2: { tier, breaker: { threshold: 1, breakDuration: '20ms' } },
    })
    // The breaker probes every 20 ms: it cycles open/half-open while the L2 is down.
    let up = false
    const states: string[] = []
    const halfOpen = deferred()
    const closed = deferred()
    cache.on('breaker', ({ state }) => {
      if (!up) return
      states.push(state)
      if (state === 'half-open') halfOpen.resolve()
      if (state === 'closed') closed.resolve()
    })
    tier.down = true
    const keys = Array.from({ length: 1200 }, (_, i) => `k${i}`)
    await cache.set('k0', 'during') // opens the breaker
    for (const key of keys.slice(1)) await cache.set(key, 'during') // skipped: queued for repair
    const repair = deferred()
    tier.deleteGate = repair.promise
    tier.down = false
    up = true
    await halfOpen.promise
    await vi.waitFor(() => expect(tier.deletes).toEqual([500, 500, 200]))
    // Half-open: this write fails fast and is queued; the repair running now does not wait for it.
    await cache.set('late', 'during')
    repair.resolve()
    await closed.promise
    expect(states.slice(-2)).toEqual(['half-open', 'closed'])
    expect(states.filter((state) => state === 'closed')).toHaveLength(1)
    expect(cache.stats()).toMatchObject({ l2RepairsQueued: 1201, l2Repairs: 1200 })
    // The next write that reaches the L2 repairs the rest.
    await cache.set('after', 'back')
    await vi.waitFor(() => expect(cache.stats().l2Repairs).toBe(1201))
    expect(tier.deletes.at(-1)).toBe(1)
    await cache.close()
  })

  it("writeErrors: 'throw' makes set reject while the L2 fails", async () => {
    const tier = new SwitchableTier()
    const cache = createCache({ namespace: 'b', l2: { tier, breaker: false, writeErrors: 'throw' } })
    tier.down = true
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'E_L2' })
    await expect(cache.delete('k')).rejects.toMatchObject({ code: 'E_L2' })
  })
})

describe('events', () => {
  it('a listener that throws breaks neither the cache nor the other listeners', async () => {
    const { clock, cache } = setup({ grace: '1h' })
    const seen: string[] = []
    cache.on('stale-served', () => {
      throw new Error('listener bug')
    })
    cache.on('stale-served', ({ key }) => seen.push(key))
    await cache.getOrSet({ key: 'k', factory: () => 'old' })
    clock.advance(TTL + 1)
    expect(await cache.getOrSet({ key: 'k', factory: () => 'new' })).toBe('old')
    expect(seen).toEqual(['k'])
  })
})

describe('resilience options are validated at construction', () => {
  it.each([
    [{ grace: -1 }, /grace/],
    [{ grace: 'soon' }, /grace/],
    [{ eagerRefresh: 1.5 }, /eagerRefresh/],
    [{ earlyRefresh: -1 }, /earlyRefresh/],
    [{ timeout: { hard: 0 } }, /timeout.hard/],
    [{ timeout: 'fast' }, /timeout/],
    [{ lock: { ttl: 0 } }, /lock.ttl/],
    [{ l2: { tier: new MemoryRemoteTier(), breaker: { threshold: 0 } } }, /threshold/],
    [{ l2: { tier: new MemoryRemoteTier(), writeErrors: 'ignore' } }, /writeErrors/],
  ])('%j is refused with E_INVALID_OPTION', (options, message) => {
    expect(() => createCache(options as CacheOptions)).toThrow(message)
    try {
      createCache(options as CacheOptions)
    } catch (error) {
      expect(error).toMatchObject({ code: 'E_INVALID_OPTION' })
    }
  })
})
