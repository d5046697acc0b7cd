/**
 * F15 of docs/reliability (hot key): one key read through getOrSet as fast as this process can by
 * two cache instances sharing one real redis-server, with a 1 s TTL. The L1 must absorb the load:
 *
 * - Redis reads (GET and MGET the caches send, counted at the in-test proxy) stay ≤ 2 per second per instance — one
 *   refresh per TTL, not one per read, nor one per read near the expiry;
 * - the factory runs about once per expiry for the pair (the key's lock; the other instance takes
 *   the value from the L2), never more than once per expiry per instance;
 * - early refresh (or, with grace, the stale value) keeps callers from waiting at the expiry: no
 *   read misses, and a read waits for a load only behind a refresh that overran the value's
 *   expiry without grace (a starved machine);
 * - an instance that lost the key's lock to the other's refresh does not try again on every read
 *   (a round trip each) while the other computes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../../dist/index.js'
import { closeAfterEach } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { TcpProxy } from '../../helpers/tcp-proxy.js'
import { recordProcessFaults } from '../../helpers/worker-pool.js'

const faults = recordProcessFaults()
const server = useRedisServer()
let proxy: TcpProxy
beforeAll(async () => {
  proxy = await TcpProxy.start({
    target: { port: server().port },
    onSent: (chunk) => {
      readsSent += chunk.toString('latin1').match(READ_COMMAND)?.length ?? 0
    },
  })
})
afterAll(async () => {
  await proxy.close()
})

const TTL_MS = 1000
const FACTORY_MS = 50
/** Test time under load. */
const RUN_MS = 2500
/** getOrSet calls per second per instance: 20,000/s for the pair, as in the spec. */
const RATE = 10_000
/** Most calls issued together per instance before the event loop turns (I/O, timers). */
const BATCH = 50
const KEY = 'hot'

/**
 * GET and MGET commands the caches send (counted in what they send through the proxy: the
 * server's INFO commandstats also counts the GETs its Lua scripts make, on lock keys). The one
 * key in play is the only one they read.
 */
const READ_COMMAND = /\*\d+\r\n\$3\r\nGET\r\n|\*\d+\r\n\$4\r\nMGET\r\n/gi
let readsSent = 0

function p99(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] as number
}

interface Run {
  at: number
  /** The `createdAt` of the value it replaced (undefined for a miss): one run per value generation. */
  replaced: number | undefined
  endedAt?: number
  /** Age of the value it replaced when it started (ms), undefined for a miss. */
  ageOfPrevious: number | undefined
}

/** A ~50 ms factory that stamps its value with when it was made. */
function recordingFactory(runs: Run[]) {
  return async (ctx: { stale: { value: { createdAt: number } } | undefined }) => {
    const run: Run = {
      at: Date.now(),
      replaced: ctx.stale?.value.createdAt,
      ageOfPrevious: ctx.stale === undefined ? undefined : Date.now() - ctx.stale.value.createdAt,
    }
    runs.push(run)
    await new Promise((resolve) => setTimeout(resolve, FACTORY_MS))
    run.endedAt = Date.now()
    return { createdAt: run.endedAt }
  }
}

interface Load {
  calls: number
  errors: number
  latencies: number[]
}

/**
 * getOrSet of KEY at RATE per second until `until` (epoch ms): a bounded generator, in batches of
 * what is due (at most BATCH), a turn of the event loop between batches.
 */
async function hammer(
  cache: Cache,
  factory: ReturnType<typeof recordingFactory>,
  until: number,
  ttl: number,
) {
  const load: Load = { calls: 0, errors: 0, latencies: [] }
  const started = Date.now()
  let issued = 0
  while (Date.now() < until) {
    const due = Math.min(BATCH, Math.floor(((Date.now() - started) * RATE) / 1000) - issued)
    if (due <= 0) {
      await new Promise((resolve) => setTimeout(resolve, 1))
      continue
    }
    issued += due
    await Promise.all(
      Array.from({ length: due }, async () => {
        const t0 = performance.now()
        try {
          await cache.getOrSet({ key: KEY, factory, ttl })
        } catch {
          load.errors++
        }
        load.latencies.push(performance.now() - t0)
        load.calls++
      }),
    )
    await new Promise((resolve) => setImmediate(resolve))
  }
  return load
}

describe('F15: one hot key, 20,000 getOrSet/s across two instances', () => {
  const track = closeAfterEach()
  const open = (namespace: string, options: CacheOptions = {}) =>
    track(createCache({ namespace, jitter: 0, l2: { redis: proxy.url(server().url) }, ...options }))

  /** Warm the key (one factory run, the other instance reads the L2), then RUN_MS of load on both. */
  async function hotKey(options: CacheOptions, ttl: number) {
    const namespace = uniqueNamespace('hot')
    const caches = [open(namespace, options), open(namespace, options)]
    const runs: Run[][] = [[], []]
    const factories = runs.map((r) => recordingFactory(r))
    for (let i = 0; i < 2; i++)
      await (caches[i] as Cache).getOrSet({ key: KEY, factory: factories[i] as never, ttl })
    expect(runs.map((r) => r.length)).toEqual([1, 0])
    const warm = caches.map((c) => c.stats())
    const readsBefore = readsSent
    const started = Date.now()
    const loads = await Promise.all(
      caches.map((c, i) =>
        hammer(c, factories[i] as ReturnType<typeof recordingFactory>, started + RUN_MS, ttl),
      ),
    )
    const seconds = (Date.now() - started) / 1000
    const reads = readsSent - readsBefore
    const stats = caches.map((c) => c.stats())
    const all = runs.flat().slice(1)
    const latencies = loads.flatMap((l) => l.latencies)
    const result = {
      seconds,
      calls: loads.reduce((n, l) => n + l.calls, 0),
      errors: loads.map((l) => l.errors),
      /** Redis reads (GET, MGET) per second per instance. */
      readRate: reads / seconds / 2,
      reads,
      /** Factory runs after the warm-up, and the value generations they replaced. */
      factoryRuns: all.length,
      generations: new Set(all.map((r) => r.replaced)).size,
      missed: stats.map((s, i) => s.misses - (warm[i] as typeof s).misses),
      waited: stats.map((s, i) => s.l1Misses - (warm[i] as typeof s).l1Misses),
      overran: all.filter(
        (run) => run.endedAt !== undefined && run.at - (run.replaced as number) + FACTORY_MS >= ttl - 10,
      ).length,
      p99: p99(latencies),
      max: latencies.reduce((m, l) => Math.max(m, l), 0),
      fromL2: stats.map((s) => s.refreshesFromL2),
    }
    const { calls, ...shown } = result
    console.log(`[F15 ${JSON.stringify(options)}] ${calls} getOrSet, ${JSON.stringify(shown)}`)
    expect(result.errors).toEqual([0, 0])
    // The load was the spec's: ~20,000 calls per second for the pair (a loaded machine may lag).
    expect(calls / seconds).toBeGreaterThan(0.5 * 2 * RATE)
    return result
  }

  it('L1 TTL 1 s in front of a longer L2 TTL: each instance reads Redis about once per second (≤ 2/s), the factory never re-runs, and no read misses', async () => {
    const r = await hotKey({ l1: { ttl: '1s' } }, 60_000)
    expect(r.readRate).toBeLessThanOrEqual(2)
    expect(r.factoryRuns).toBe(0)
    expect(r.missed).toEqual([0, 0])
    // Callers at an L1 expiry wait at most one local L2 read (no factory): p99 well under the
    // spec's 5 ms on an idle machine (measured ~0.1 ms); the bound allows a loaded machine's
    // event-loop lag, not a factory run (50 ms) for every batch at each expiry.
    expect(r.p99).toBeLessThanOrEqual(25)
    expect(faults()).toEqual([])
  })

  it.each([
    ['XFetch (default)', {}],
    ['eagerRefresh 0.8', { eagerRefresh: 0.8 }],
    ['grace, no early refresh', { earlyRefresh: false, grace: '1m' }],
  ] as const)(
    'entry TTL 1 s, %s: one factory run per value for the pair, ≤ 2 Redis reads per instance per refresh, no caller waits for a load',
    async (_name, options) => {
      const r = await hotKey(options, TTL_MS)
      // One factory run per value generation for the pair (the key's lock; the other instance
      // takes the value from the L2), and at least one refresh per TTL.
      expect(r.factoryRuns).toBe(r.generations)
      expect(r.factoryRuns).toBeGreaterThanOrEqual(Math.floor(r.seconds / (TTL_MS / 1000)))
      expect(r.fromL2.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(r.factoryRuns - 1)
      // Redis reads: the refresh's own (lock and read in one round trip) and, on the instance that
      // lost the lock, one more once the value is stored — not one per read while it is computed.
      expect(r.reads).toBeLessThanOrEqual(2 * 2 * (r.factoryRuns + 1))
      // Early refresh: no read missed; a read waited for a load only behind a refresh that overran
      // its value's expiry (a starved machine), at most one batch per such refresh.
      expect(r.missed).toEqual([0, 0])
      for (const w of r.waited) expect(w).toBeLessThanOrEqual(BATCH * r.overran)
      expect(faults()).toEqual([])
    },
  )
})
