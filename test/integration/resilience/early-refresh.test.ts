/**
 * F7 (early expiration / XFetch) and eager refresh: under steady reads of a hot key, the value is
 * refreshed in the background before it expires, so no read misses, and no read waits for the
 * factory unless the refresh itself was stretched past the value's expiry (a starved machine: then
 * the one read in between joins it, counted as an L1 miss — see expectNoReadWaitedBeyondOverruns);
 * with a shared L2, an instance whose refresh finds a newer value there (another instance just
 * refreshed) takes it instead of running its own factory.
 */
import { describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, type CacheStats, createCache } from '../../../dist/index.js'
import { closeAfterEach } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { recordProcessFaults } from '../../helpers/worker-pool.js'

const faults = recordProcessFaults()
const server = useRedisServer()
const TTL_MS = 1000
const FACTORY_MS = 50
/** Reads come every ~1–2 ms (a 1 ms timer between them). */
const READ_GAP_MS = 1
const KEY = 'hot'

interface Loaded {
  /** Epoch ms when the factory returned it. */
  createdAt: number
  n: number
}

interface Refresh {
  /** Epoch ms when the factory started. */
  at: number
  /** Age of the value being refreshed when its refresh started (ms), or undefined for a miss. */
  ageOfPrevious: number | undefined
  /** Epoch ms when the factory returned (the new value's `createdAt`), once it has. */
  endedAt?: number
}

/** A factory that takes ~50 ms and records when each run started, relative to the value it replaces. */
function recordingFactory() {
  const runs: Refresh[] = []
  const factory = async (ctx: { stale: { value: Loaded } | undefined }): Promise<Loaded> => {
    const at = Date.now()
    const run: Refresh = {
      at,
      ageOfPrevious: ctx.stale === undefined ? undefined : at - ctx.stale.value.createdAt,
    }
    runs.push(run)
    const n = runs.length
    await delay(FACTORY_MS)
    run.endedAt = Date.now()
    return { createdAt: run.endedAt, n }
  }
  return { runs, factory }
}

interface ReadLog {
  reads: number
  /** Reads that resolved to something other than a loaded value. */
  empty: number
  errors: number
  maxMs: number
  /** Distinct values seen, by their `n`. */
  seen: Set<number>
}

/** Reads `key` through getOrSet every ~1–2 ms until `until` (epoch ms); never throws. */
async function steadyReads(
  cache: Cache,
  factory: (ctx: { stale: { value: Loaded } | undefined }) => Promise<Loaded>,
  until: number,
): Promise<ReadLog> {
  const log: ReadLog = { reads: 0, empty: 0, errors: 0, maxMs: 0, seen: new Set() }
  while (Date.now() < until) {
    const start = performance.now()
    try {
      const value = await cache.getOrSet({ key: KEY, factory, ttl: TTL_MS })
      if (typeof value?.n === 'number') log.seen.add(value.n)
      else log.empty++
    } catch {
      log.errors++
    }
    log.maxMs = Math.max(log.maxMs, performance.now() - start)
    log.reads++
    await delay(READ_GAP_MS)
  }
  return log
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Refreshes that ended after the value they replaced had expired: started in time, but the machine
 * (a starved event loop: the 50 ms timer, the L2 read and the lock round trip) made them take longer
 * than the time left. The L1 entry is then gone for the reads in between, and the one sequential
 * reader waits for the refresh in flight (it joins it: an L1 miss, not a miss, no factory of its own).
 * The few ms of slack are the cache's coarse clock (src/base/clock.ts), as below for eagerRefresh.
 */
function overruns(runs: readonly Refresh[]): number {
  return runs.filter(
    (r) => r.endedAt !== undefined && (r.ageOfPrevious as number) + (r.endedAt - r.at) >= TTL_MS - 10,
  ).length
}

/**
 * Every read is accounted for (an L1 hit, or an L1 miss that joined the refresh in flight), and a
 * read waits only behind a refresh that overran its value's expiry — at most one read per such
 * refresh (the reader is sequential). With no overrun (an idle machine), no read waited at all.
 */
function expectNoReadWaitedBeyondOverruns(
  runs: readonly Refresh[],
  log: ReadLog,
  stats: CacheStats,
  warm: CacheStats,
) {
  const waited = stats.l1Misses - warm.l1Misses
  expect(stats.l1Hits - warm.l1Hits + waited).toBe(log.reads)
  expect(waited).toBeLessThanOrEqual(overruns(runs))
  return waited
}

function summary(runs: readonly Refresh[]): string {
  const ages = runs.map((r) => r.ageOfPrevious as number)
  return `refresh started at value age min ${Math.min(...ages)} / max ${Math.max(...ages)} ms (TTL ${TTL_MS})`
}

describe('refresh before expiry under steady reads', () => {
  const track = closeAfterEach()
  const open = (namespace: string, options: CacheOptions = {}) =>
    track(createCache({ namespace, jitter: 0, l2: { redis: server().url, timeout: '500ms' }, ...options }))

  /** Warm-up (one miss, one factory run), then steady reads for `periods` TTLs. */
  async function steadily(cache: Cache, periods: number) {
    const { runs, factory } = recordingFactory()
    const events: string[] = []
    cache.on('early-refresh', (e) => events.push(e.kind))
    await cache.getOrSet({ key: KEY, factory, ttl: TTL_MS })
    expect(runs).toHaveLength(1)
    const warm = cache.stats()
    const log = await steadyReads(cache, factory, Date.now() + periods * TTL_MS)
    const stats = cache.stats()
    return { runs: runs.slice(1), log, events, misses: stats.misses - warm.misses, stats, warm }
  }

  it('XFetch (default β = 1): over 10 TTLs of reads every ~1–2 ms, the factory re-runs before each expiry (≥ 9 times) and no read misses or waits', async () => {
    const cache = open(uniqueNamespace('xfetch'))
    const { runs, log, events, misses, stats, warm } = await steadily(cache, 10)

    expect(runs.length).toBeGreaterThanOrEqual(9)
    // Every run was a refresh of a value still fresh (started before it expired), none a miss.
    for (const run of runs) {
      expect(run.ageOfPrevious).toBeDefined()
      expect(run.ageOfPrevious as number).toBeLessThan(TTL_MS)
    }
    expect(misses).toBe(0)
    expect(stats.earlyRefreshes - warm.earlyRefreshes).toBe(runs.length)
    expect(new Set(events)).toEqual(new Set(['xfetch']))
    expect(stats.staleServed).toBe(0)
    // Every read was answered from the L1 with a value: none waited for a load (the slowest read's
    // time is reported, not asserted: on a loaded CI machine the event loop itself can stall).
    expect(log.errors).toBe(0)
    expect(log.empty).toBe(0)
    const waited = expectNoReadWaitedBeyondOverruns(runs, log, stats, warm)
    // Readers saw the refreshed values, not only the first.
    expect(log.seen.size).toBeGreaterThanOrEqual(9)
    console.log(
      `[xfetch] ${log.reads} reads, ${runs.length} refreshes in ${10 * TTL_MS} ms, misses ${misses}, slowest read ${log.maxMs.toFixed(2)} ms, reads that waited ${waited} (refreshes past expiry ${overruns(runs)}); ${summary(runs)}`,
    )
    expect(faults()).toEqual([])
  })

  it('eagerRefresh 0.8: over 10 TTLs, each refresh starts on the first read past 80% of the TTL (≥ 9 times) and no read misses or waits', async () => {
    const cache = open(uniqueNamespace('eager'), { eagerRefresh: 0.8 })
    const { runs, log, events, misses, stats, warm } = await steadily(cache, 10)

    expect(runs.length).toBeGreaterThanOrEqual(9)
    for (const run of runs) {
      // Not before 80% of the TTL, and well before expiry: the first read after 800 ms comes within a
      // few ms, allowing for a busy CI core. The age is measured here with Date.now(); the cache
      // stamps entries with its coarse clock (src/base/clock.ts), which can lag Date.now() by a few
      // ms on a busy event loop (measured: 3 ms), hence the 10 ms of slack below 80%.
      expect(run.ageOfPrevious as number).toBeGreaterThanOrEqual(0.8 * TTL_MS - 10)
      expect(run.ageOfPrevious as number).toBeLessThan(0.8 * TTL_MS + 100)
    }
    expect(misses).toBe(0)
    expect(stats.earlyRefreshes - warm.earlyRefreshes).toBe(runs.length)
    expect(new Set(events)).toEqual(new Set(['eager']))
    expect(stats.staleServed).toBe(0)
    expect(log.errors).toBe(0)
    expect(log.empty).toBe(0)
    const waited = expectNoReadWaitedBeyondOverruns(runs, log, stats, warm)
    console.log(
      `[eager 0.8] ${log.reads} reads, ${runs.length} refreshes in ${10 * TTL_MS} ms, misses ${misses}, slowest read ${log.maxMs.toFixed(2)} ms, reads that waited ${waited} (refreshes past expiry ${overruns(runs)}); ${summary(runs)}`,
    )
    expect(faults()).toEqual([])
  })

  it('two caches sharing the L2: once one has refreshed, the other’s early refresh takes the value from the L2 instead of running its factory', async () => {
    const PERIODS = 6
    const shared = uniqueNamespace('shared')
    // The same workload on two caches that share nothing, at the same time: the baseline.
    const pairs = {
      shared: [open(shared), open(shared)],
      separate: [open(uniqueNamespace('alone-a')), open(uniqueNamespace('alone-b'))],
    }
    const factories = {
      shared: [recordingFactory(), recordingFactory()],
      separate: [recordingFactory(), recordingFactory()],
    }
    const all = (['shared', 'separate'] as const).flatMap((name) =>
      pairs[name].map((cache, i) => ({
        name,
        cache,
        f: factories[name][i] as ReturnType<typeof recordingFactory>,
      })),
    )
    for (const { cache, f } of all) await cache.getOrSet({ key: KEY, factory: f.factory, ttl: TTL_MS })
    // The second shared cache found the first one's value in the L2: one factory run for the pair.
    expect((factories.shared[1] as ReturnType<typeof recordingFactory>).runs).toHaveLength(0)
    const warm = all.map(({ cache }) => cache.stats())

    const until = Date.now() + PERIODS * TTL_MS
    const logs = await Promise.all(all.map(({ cache, f }) => steadyReads(cache, f.factory, until)))
    const after = all.map(({ cache }) => cache.stats())

    const calls = (name: 'shared' | 'separate') =>
      all.reduce(
        (sum, entry, i) =>
          entry.name === name
            ? sum +
              (after[i] as { factoryCalls: number }).factoryCalls -
              (warm[i] as { factoryCalls: number }).factoryCalls
            : sum,
        0,
      )
    const fromL2 = pairs.shared.reduce((sum, cache) => sum + cache.stats().refreshesFromL2, 0)
    expect(fromL2).toBeGreaterThanOrEqual(1)
    expect(pairs.separate.reduce((sum, cache) => sum + cache.stats().refreshesFromL2, 0)).toBe(0)
    // Each separate cache refreshes once per TTL; the shared pair about once per TTL in total.
    expect(calls('separate')).toBeGreaterThanOrEqual(2 * (PERIODS - 1))
    expect(calls('shared')).toBeLessThan(calls('separate'))
    for (let i = 0; i < all.length; i++) {
      expect((after[i] as { misses: number }).misses - (warm[i] as { misses: number }).misses).toBe(0)
      const log = logs[i] as ReadLog
      expect(log.errors).toBe(0)
      expect(log.empty).toBe(0)
      // As above: a read waits only behind a refresh of this cache's factory that overran its
      // value's expiry (one taken from the L2 is a single round trip).
      const { runs } = (all[i] as { f: ReturnType<typeof recordingFactory> }).f
      expectNoReadWaitedBeyondOverruns(runs, log, after[i] as CacheStats, warm[i] as CacheStats)
    }
    console.log(
      `[shared L2] over ${PERIODS} TTLs: factory runs with a shared L2 ${calls('shared')} (refreshes taken from the L2: ${fromL2}) vs ${calls('separate')} for two caches that share nothing; slowest read ${Math.max(...logs.map((l) => l.maxMs)).toFixed(2)} ms`,
    )
    expect(faults()).toEqual([])
  })
})
