/**
 * F1/F2 under load: Redis frozen (SIGSTOP) for 5 s, then Redis killed (SIGKILL) and restarted on
 * the same port, while 20 loops run getOrSet/set over 200 keys. No call waits longer than one L2
 * timeout plus the factory, none fails, and once Redis answers again the breaker closes and the
 * same cache uses (and repopulates) the L2 without a restart.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../../dist/index.js'
import { RedisTier } from '../../../dist/tiers/redis/index.js'
import { CLIENTS, type ClientName, closeAfterEach, openAdapter, pollUntil } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { recordProcessFaults } from '../../helpers/worker-pool.js'

const faults = recordProcessFaults()
const server = useRedisServer()
const TIMEOUT_MS = 200
const FACTORY_MS = 20
/** Scheduling slack (two CI cores, another suite beside this one, 20 loops and Redis on them). */
const MARGIN_MS = 150
/** The bound of every call, whatever Redis does. */
const BOUND_MS = TIMEOUT_MS + FACTORY_MS + MARGIN_MS
/** Longest pause between two looks at the L2 while another process holds a key's lock (LOCK_POLL_MAX_MS in src/core/cache.ts). */
const POLL_MAX_MS = 100
const LOOPS = 20
const KEYS = 200
const WARM_KEYS = 100
/** Pause between two calls of one loop. */
const THINK_MS = 5
/** The period of the timer that watches the event loop for stalls. */
const TICK_MS = 10
/** How long the breaker may take to close once Redis answers (reconnect back-off up to 0.5 s, a probe on reconnect or per break, margin). */
const RECOVERY_MS = 10_000

type Phase = 'before' | 'fault' | 'recovering' | 'after'

interface Slowest {
  ms: number
  op: string
  key: string
  phase: Phase
  /** L2 timeouts the cache counted while this call ran (any loop's): 0 means it never waited for one. */
  timeouts: number
}

interface LoadLog {
  calls: number
  errors: string[]
  slowest: Slowest
  /** Per phase: calls, the slowest, and the longest the event loop went without running a timer (a stall no cache code can answer within). */
  byPhase: Record<Phase, { calls: number; maxMs: number; maxStallMs: number }>
  /** Keys a set wrote with success, and when the set started (performance.now()). */
  sets: { key: string; start: number }[]
}

/**
 * A Redis tier whose first lock acquire freezes the server (SIGSTOP) just before its SET NX is
 * written: the freeze falls between a load's L2 read and its lock, as it may in production.
 */
function freezingAtFirstLock(client: ClientName, url: string, freeze: () => void): RedisTier {
  const inner = openAdapter(client, url, TIMEOUT_MS)
  let frozen = false
  const adapter = new Proxy(inner, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (property !== 'setIfAbsent') return value.bind(target)
      return (...args: unknown[]) => {
        if (!frozen) freeze()
        frozen = true
        return value.apply(target, args)
      }
    },
  })
  return new RedisTier(adapter, { timeoutMs: TIMEOUT_MS, batchSize: 100 })
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Resolves with the time of the cache's next 'breaker' event with `state`. */
function nextBreakerState(cache: Cache, state: 'open' | 'closed'): Promise<number> {
  return new Promise((resolve) => {
    const listener = (event: { state: string }) => {
      if (event.state !== state) return
      cache.off('breaker', listener)
      resolve(performance.now())
    }
    cache.on('breaker', listener)
  })
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** 20 loops of getOrSet (80%) and set (20%) over 200 keys, each call timed; never throws. */
function startLoad(cache: Cache) {
  let running = true
  let phase: Phase = 'before'
  const log: LoadLog = {
    calls: 0,
    errors: [],
    slowest: { ms: 0, op: '', key: '', phase: 'before', timeouts: 0 },
    byPhase: {
      before: { calls: 0, maxMs: 0, maxStallMs: 0 },
      fault: { calls: 0, maxMs: 0, maxStallMs: 0 },
      recovering: { calls: 0, maxMs: 0, maxStallMs: 0 },
      after: { calls: 0, maxMs: 0, maxStallMs: 0 },
    },
    sets: [],
  }
  const factory = async (ctx: { key: string }) => {
    await delay(FACTORY_MS)
    return { key: ctx.key, loadedAt: Date.now() }
  }
  const loop = async () => {
    while (running) {
      const key = `k${Math.floor(Math.random() * KEYS)}`
      const op = Math.random() < 0.2 ? 'set' : 'getOrSet'
      const started = phase
      const timeoutsBefore = cache.stats().l2Timeouts
      const start = performance.now()
      try {
        if (op === 'set') {
          await cache.set(key, { key, setAt: Date.now() })
          log.sets.push({ key, start })
        } else {
          const value = await cache.getOrSet({ key, factory })
          if (value?.key !== key) log.errors.push(`${op} ${key}: answered ${JSON.stringify(value)}`)
        }
      } catch (error) {
        log.errors.push(`${op} ${key}: ${(error as { code?: string }).code ?? String(error)}`)
      }
      const ms = performance.now() - start
      log.calls++
      const bucket = log.byPhase[started]
      bucket.calls++
      bucket.maxMs = Math.max(bucket.maxMs, ms)
      if (ms > log.slowest.ms) {
        log.slowest = { ms, op, key, phase: started, timeouts: cache.stats().l2Timeouts - timeoutsBefore }
      }
      await delay(THINK_MS)
    }
  }
  const done = Promise.all(Array.from({ length: LOOPS }, loop))
  let lastTick = performance.now()
  const ticker = setInterval(() => {
    const now = performance.now()
    const bucket = log.byPhase[phase]
    bucket.maxStallMs = Math.max(bucket.maxStallMs, now - lastTick - TICK_MS)
    lastTick = now
  }, TICK_MS)
  return {
    log,
    setPhase: (next: Phase) => {
      phase = next
    },
    stop: async () => {
      running = false
      await done
      clearInterval(ticker)
      return log
    },
  }
}

function report(label: string, log: LoadLog, extra: string): string {
  const phases = (Object.keys(log.byPhase) as Phase[])
    .map(
      (p) =>
        `${p} ${log.byPhase[p].calls} calls max ${log.byPhase[p].maxMs.toFixed(0)} ms (event loop stalled up to ${log.byPhase[p].maxStallMs.toFixed(0)} ms)`,
    )
    .join('; ')
  return `[${label}] ${log.calls} calls, ${log.errors.length} errors; slowest ${log.slowest.ms.toFixed(0)} ms (${log.slowest.op} during ${log.slowest.phase}, ${log.slowest.timeouts} L2 timeouts meanwhile; bound ${BOUND_MS}); ${phases}; ${extra}`
}

describe.each(CLIENTS)('Redis faults under load (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (namespace: string) =>
    track(
      createCache({
        namespace,
        jitter: 0,
        // A short L1 life keeps the load reading the L2 (else everything is an L1 hit after a while).
        l1: { ttl: '200ms' },
        l2: {
          redis: server().url,
          client,
          timeout: `${TIMEOUT_MS}ms`,
          breaker: { threshold: 5, breakDuration: '500ms' },
        },
      } satisfies CacheOptions),
    )
  afterEach(async () => {
    server().resume()
    if (server().spawned && server().pid === undefined) await server().restart()
  })

  async function warm(cache: Cache): Promise<void> {
    for (let i = 0; i < WARM_KEYS; i++) await cache.set(`k${i}`, { key: `k${i}`, warm: true })
  }

  it('Redis paused (SIGSTOP) for 5 s under load: every call answers within L2 timeout + factory time, none fails; after SIGCONT the breaker closes, L2 hits resume and another cache sees new writes', async () => {
    const namespace = uniqueNamespace('paused')
    const cache = open(namespace)
    await warm(cache)
    const load = startLoad(cache)
    await delay(500)
    const l2HitsBefore = cache.stats().l2Hits
    expect(l2HitsBefore).toBeGreaterThan(0)

    const opened = nextBreakerState(cache, 'open')
    load.setPhase('fault')
    server().pause()
    // The scenario: Redis frozen for 5 s, its sockets open.
    await delay(5000)
    await within(opened, 1, 'the breaker opened during the freeze')
    const closed = nextBreakerState(cache, 'closed')
    load.setPhase('recovering')
    const resumedAt = performance.now()
    server().resume()
    const closedAt = await within(closed, RECOVERY_MS, 'the breaker closed after SIGCONT')
    load.setPhase('after')
    const l2HitsAtClose = cache.stats().l2Hits
    await delay(1000)
    const log = await load.stop()

    const summary = report(
      `SIGSTOP 5 s, ${client}`,
      log,
      `breaker closed ${(closedAt - resumedAt).toFixed(0)} ms after SIGCONT`,
    )
    expect(log.errors, summary).toEqual([])
    expect(log.byPhase.fault.calls, summary).toBeGreaterThan(100)
    expect(log.slowest.ms, summary).toBeLessThan(BOUND_MS)
    expect(cache.stats().breakerOpened).toBeGreaterThanOrEqual(1)
    // The L2 is in use again: reads hit it, and a second cache sees what is written now.
    expect(cache.stats().l2Hits).toBeGreaterThan(l2HitsAtClose)
    await cache.set('after-pause', 'written after SIGCONT')
    const reader = open(namespace)
    expect(await reader.get('after-pause')).toBe('written after SIGCONT')
    expect(reader.stats().l2Hits).toBe(1)
    console.log(`${summary}; L2 hits after close ${cache.stats().l2Hits - l2HitsAtClose}`)
    expect(faults()).toEqual([])
  })

  it('Redis frozen while a caller waits for another process’s lock: the caller computes the value within one L2 timeout + factory time, without a second L2 deadline for the write-back', async () => {
    const namespace = uniqueNamespace('frozen-wait')
    const cache = open(namespace)
    await cache.set('warm', 1)
    // Another process holds the key's lock (and is slow): this caller polls the L2 for its value.
    expect(
      await server().command('SET', `!lock:${namespace}:v1:contended`, 'another-process', 'PX', 30_000),
    ).toBe('OK')
    let factoryEnd = 0
    const answer = cache.getOrSet({
      key: 'contended',
      factory: async () => {
        await delay(FACTORY_MS)
        factoryEnd = performance.now()
        return 'computed here'
      },
    })
    const waitedSince = performance.now()
    // The scenario: the caller has been waiting a while when Redis freezes.
    await delay(300)
    expect(factoryEnd).toBe(0)
    server().pause()
    const pausedAt = performance.now()
    let answeredAt = 0
    try {
      expect(await answer).toBe('computed here')
      answeredAt = performance.now()
    } finally {
      server().resume()
    }
    const afterFactory = answeredAt - factoryEnd
    const afterPause = answeredAt - pausedAt
    console.log(
      `[frozen while waiting for a lock, ${client}] waited ${(pausedAt - waitedSince).toFixed(0)} ms before the freeze; answered ${afterPause.toFixed(0)} ms after it (bound ${POLL_MAX_MS + BOUND_MS}); ${afterFactory.toFixed(0)} ms of that after the factory had returned`,
    )
    // At most one poll interval, one L2 deadline (the poll that found Redis frozen) and the factory…
    expect(afterPause).toBeLessThan(POLL_MAX_MS + BOUND_MS)
    // …and no second deadline writing the value back to the Redis that just failed.
    expect(afterFactory).toBeLessThan(MARGIN_MS)
    expect(faults()).toEqual([])
  })

  it('a lock acquire that a frozen Redis runs only when it wakes is undone: no lock is left for other processes to wait on, even when its failure opened the breaker', async () => {
    const namespace = uniqueNamespace('abandoned-lock')
    const tier = freezingAtFirstLock(client, server().url, () => server().pause())
    // One failure opens the breaker: the acquire's own timeout.
    const cache = track(
      createCache({ namespace, jitter: 0, l2: { tier, breaker: { threshold: 1, breakDuration: '60s' } } }),
    )
    const lockKey = `!lock:${namespace}:v1:k`
    try {
      // The L2 read misses, the SET NX meets the freeze and times out: the load goes on without the lock.
      expect(await cache.getOrSet({ key: 'k', factory: () => 'computed here' })).toBe('computed here')
      expect(cache.stats().breakerOpened).toBe(1)
    } finally {
      server().resume()
    }
    // A command sent now on the tier's connection runs after everything sent before it: the late
    // SET NX, and what undid it.
    await tier.ping()
    expect(await server().command('EXISTS', lockKey)).toBe(0)
    // Another process computes the key at once rather than waiting for a lock nobody holds.
    const other = track(
      createCache({ namespace, jitter: 0, l2: { redis: server().url, client, timeout: '1s' } }),
    )
    const waited: unknown[] = []
    other.on('lock-waited', (event) => waited.push(event))
    expect(await other.getOrSet({ key: 'k', factory: () => 'computed there' })).toBe('computed there')
    expect(waited).toEqual([])
    expect(faults()).toEqual([])
  })

  it('a holder whose breaker opened while its factory ran still releases its lock: the other processes do not wait for a lock nobody holds', async () => {
    const namespace = uniqueNamespace('released-past-breaker')
    // One failure opens the breaker, for longer than the test.
    const holder = track(
      createCache({
        namespace,
        jitter: 0,
        l2: {
          redis: server().url,
          client,
          timeout: `${TIMEOUT_MS}ms`,
          breaker: { threshold: 1, breakDuration: '60s' },
        },
      }),
    )
    const lockKey = `!lock:${namespace}:v1:k`
    await holder.set('warm', 1)
    const value = await holder.getOrSet({
      key: 'k',
      factory: async () => {
        expect(await server().command('EXISTS', lockKey)).toBe(1)
        // Redis freezes for a moment while the factory runs: a read times out and opens the breaker.
        server().pause()
        try {
          expect(await holder.get('elsewhere')).toBeUndefined()
        } finally {
          server().resume()
        }
        expect(holder.stats().breakerOpened).toBe(1)
        return 'computed here'
      },
    })
    expect(value).toBe('computed here')
    // The release went past the open breaker (the lock's TTL is 5 s).
    expect(await pollUntil(async () => (await server().command('EXISTS', lockKey)) === 0, 2000)).toBe(true)
    expect(faults()).toEqual([])
  })

  it('Redis killed (SIGKILL) and restarted on the same port under load: every call answers within L2 timeout + factory time, none fails; the breaker closes and the same cache repopulates the L2', async () => {
    const namespace = uniqueNamespace('killed')
    const cache = open(namespace)
    await warm(cache)
    const load = startLoad(cache)
    await delay(500)

    const opened = nextBreakerState(cache, 'open')
    load.setPhase('fault')
    await server().kill()
    // The scenario: Redis down for 2 s, its data lost.
    await delay(2000)
    await within(opened, 1, 'the breaker opened while Redis was down')
    const closed = nextBreakerState(cache, 'closed')
    load.setPhase('recovering')
    const restartedAt = performance.now()
    await server().restart()
    const closedAt = await within(closed, RECOVERY_MS, 'the breaker closed after the restart')
    load.setPhase('after')
    const l2HitsAtClose = cache.stats().l2Hits
    await delay(1000)
    const log = await load.stop()

    const summary = report(
      `SIGKILL + restart, ${client}`,
      log,
      `breaker closed ${(closedAt - restartedAt).toFixed(0)} ms after the restart began`,
    )
    expect(log.errors, summary).toEqual([])
    expect(log.byPhase.fault.calls, summary).toBeGreaterThan(100)
    expect(log.slowest.ms, summary).toBeLessThan(BOUND_MS)
    expect(cache.stats().l2Hits).toBeGreaterThan(l2HitsAtClose)
    // The restarted server started empty: what is there now, this cache wrote after the restart.
    const writtenAfter = [...new Set(log.sets.filter((s) => s.start > closedAt).map((s) => s.key))]
    expect(writtenAfter.length).toBeGreaterThan(0)
    for (const key of writtenAfter) expect(await server().command('EXISTS', `${namespace}:v1:${key}`)).toBe(1)
    const repopulated = (await server().scan(`${namespace}:v1:k*`)).length
    expect(repopulated).toBeGreaterThan(writtenAfter.length)
    await cache.set('after-restart', 'written after the restart')
    expect(await server().command('EXISTS', `${namespace}:v1:after-restart`)).toBe(1)
    const reader = open(namespace)
    expect(await reader.get('after-restart')).toBe('written after the restart')
    console.log(`${summary}; ${repopulated} keys back in Redis (${writtenAfter.length} of them by set)`)
    expect(faults()).toEqual([])
  })
})
