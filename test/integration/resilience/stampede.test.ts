/**
 * F4/F5: a stampede across processes. Four worker processes, each with its own cache on the same
 * Redis, fire 250 concurrent getOrSet calls at the same moment; distributed single-flight (a Redis
 * lock per key, waiters polling the L2) must run each key's factory once in total.
 */
import { describe, expect, it } from 'vitest'
import { CLIENTS } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import {
  type CacheWorker,
  type RunReport,
  recordProcessFaults,
  useCacheWorkers,
} from '../../helpers/worker-pool.js'

const faults = recordProcessFaults()
const server = useRedisServer()
const WORKERS = 4
const CALLS_PER_WORKER = 250
const FACTORY_MS = 200

describe.each(CLIENTS)('stampede across 4 processes (client %s)', (client) => {
  const startWorker = useCacheWorkers()

  /** Starts the workers, opens their caches on one namespace and warms their connections. */
  async function startAll(namespace: string): Promise<CacheWorker[]> {
    const workers = await Promise.all(Array.from({ length: WORKERS }, () => startWorker()))
    await Promise.all(
      workers.map(async (w) => {
        await w.open({ namespace, jitter: 0, l2: { redis: server().url, client, timeout: '1s' } })
        await w.warm()
      }),
    )
    return workers
  }

  /** Arms every worker, then sends 'go' to each back to back so their calls overlap. */
  async function stampede(
    workers: CacheWorker[],
    keysOf: (worker: number) => string[],
  ): Promise<RunReport[]> {
    await Promise.all(workers.map((w, i) => w.arm(keysOf(i), FACTORY_MS)))
    const reports = await Promise.all(workers.map((w) => w.go()))
    // The calls really overlapped: every worker started before the first factory could finish.
    const starts = reports.map((r) => r.startedAt)
    expect(Math.max(...starts) - Math.min(...starts)).toBeLessThan(FACTORY_MS)
    return reports
  }

  async function closeAll(workers: CacheWorker[]): Promise<void> {
    const workerFaults = await Promise.all(workers.map((w) => w.close()))
    expect(workerFaults.flat()).toEqual([])
    for (const w of workers) expect(w.faults).toEqual([])
    expect(faults()).toEqual([])
  }

  it('4 processes × 250 concurrent getOrSet of one cold key (200 ms factory) run the factory exactly once, and all 1,000 callers get its value', async () => {
    const namespace = uniqueNamespace('stampede-one')
    const workers = await startAll(namespace)
    const reports = await stampede(workers, () => Array.from({ length: CALLS_PER_WORKER }, () => 'cold'))

    const factoryCalls = reports.reduce((sum, r) => sum + r.factoryCalls, 0)
    expect(factoryCalls).toBe(1)
    expect(reports.flatMap((r) => r.errors)).toEqual([])
    expect(reports.reduce((sum, r) => sum + r.answered, 0)).toBe(WORKERS * CALLS_PER_WORKER)
    // One value, everywhere: the one the single factory run returned.
    const values = new Set(reports.flatMap((r) => r.values.cold ?? []))
    expect([...values]).toHaveLength(1)
    const value = JSON.parse([...values][0] as string) as { key: string; pid: number; n: number }
    expect(value).toMatchObject({ key: 'cold', n: 1 })
    expect(workers.map((w) => w.pid)).toContain(value.pid)
    // The other processes waited for the lock holder's value instead of loading it.
    expect(reports.reduce((sum, r) => sum + r.stats.lockWaits, 0)).toBeGreaterThanOrEqual(WORKERS - 1)
    console.log(
      `[stampede one key, ${client}] factory calls ${factoryCalls}; slowest caller per worker (ms): ${reports.map((r) => r.maxMs.toFixed(0)).join(', ')}`,
    )
    await closeAll(workers)
  })

  it('4 processes × 250 concurrent getOrSet over 100 distinct cold keys run the factory exactly 100 times, once per key', async () => {
    const namespace = uniqueNamespace('stampede-many')
    const workers = await startAll(namespace)
    const KEYS = 100
    // Every worker asks for every key 2 or 3 times, each in its own order.
    const keysOf = (worker: number) =>
      Array.from({ length: CALLS_PER_WORKER }, (_, i) => `k${(i * 37 + worker * 25) % KEYS}`)
    const reports = await stampede(workers, keysOf)

    const factoryCalls = reports.reduce((sum, r) => sum + r.factoryCalls, 0)
    expect(factoryCalls).toBe(KEYS)
    expect(reports.flatMap((r) => r.errors)).toEqual([])
    expect(reports.reduce((sum, r) => sum + r.answered, 0)).toBe(WORKERS * CALLS_PER_WORKER)
    for (let k = 0; k < KEYS; k++) {
      const values = new Set(reports.flatMap((r) => r.values[`k${k}`] ?? []))
      expect([...values], `k${k} was answered with more than one value`).toHaveLength(1)
    }
    console.log(
      `[stampede 100 keys, ${client}] factory calls ${factoryCalls} (per worker ${reports.map((r) => r.factoryCalls).join('/')}); slowest caller per worker (ms): ${reports.map((r) => r.maxMs.toFixed(0)).join(', ')}`,
    )
    await closeAll(workers)
  })
})
