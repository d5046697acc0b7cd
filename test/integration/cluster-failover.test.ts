/**
 * A real Redis Cluster of 3 masters and 3 replicas (cluster-node-timeout 1 s), one per file, with
 * both clients: a master SIGKILLed while reads and sets run (its replica promoted), and a master
 * SIGSTOPped. Keys on the other masters must not notice; the dead master's keys fall back (origin,
 * L1, stale) and come back on the promoted replica without restarting anything. The failover's
 * timeline is printed (docs/redis.md quotes it).
 */
import os from 'node:os'
import { describe, expect, it, vi } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../dist/index.js'
import {
  CLIENTS,
  closeAfterEach,
  clusterCacheOptions,
  collectUnhandledRejections,
  restoreClusterAfterEach,
} from '../helpers/fixtures.js'
import { type ClusterNode, useRedisCluster } from '../helpers/redis-cluster.js'
import { uniqueNamespace } from '../helpers/redis-server.js'

const NODE_TIMEOUT_MS = 1000
const cluster = useRedisCluster(3, { replicas: 1, nodeTimeoutMs: NODE_TIMEOUT_MS })
/** The L2 deadline (the default). */
const DEADLINE_MS = 500

const unhandled = collectUnhandledRejections()

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const load = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

/** Keys of a namespace, split by whether `victim` owns them, at least `perSide` on each side. */
async function splitKeys(
  namespace: string,
  victim: ClusterNode,
  count: number,
): Promise<{ dead: string[]; live: string[] }> {
  const keys = Array.from({ length: count }, (_, i) => `k${i}`)
  const owners = await Promise.all(keys.map((k) => cluster().nodeOf(`${namespace}:v1:${k}`)))
  return {
    dead: keys.filter((_, i) => owners[i] === victim),
    live: keys.filter((_, i) => owners[i] !== victim),
  }
}

/** Resolves to the time (performance.now()) `node` first reports itself a master, polling every 25 ms. */
async function promotedAt(node: ClusterNode, until: number): Promise<number | undefined> {
  while (performance.now() < until) {
    try {
      const role = (await node.command('ROLE')) as unknown[]
      if (role[0] === 'master') return performance.now()
    } catch {}
    await sleep(25)
  }
  return undefined
}

/** The pubsub connection ids on each running node, by port. */
async function pubsubIds(): Promise<Map<number, Set<string>>> {
  const out = new Map<number, Set<string>>()
  for (const node of cluster().nodes) {
    if (node.pid === undefined) continue
    const list = String(await node.command('CLIENT', 'LIST', 'TYPE', 'pubsub'))
    out.set(node.port, new Set([...list.matchAll(/id=(\d+)/g)].map((m) => m[1] as string)))
  }
  return out
}

/** The nodes on which a pubsub connection appeared between `before` and `after`. */
function subscriberNodes(before: Map<number, Set<string>>, after: Map<number, Set<string>>): ClusterNode[] {
  return cluster().nodes.filter((n) =>
    [...(after.get(n.port) ?? [])].some((id) => !before.get(n.port)?.has(id)),
  )
}

interface Read {
  key: string
  at: number
  ms: number
  origin: boolean
  failed: boolean
}

describe.each(CLIENTS)('3 masters + 3 replicas (client %s)', (client) => {
  const track = closeAfterEach()
  // Whatever happened, leave a whole cluster (every master with a replica in sync) to what comes next.
  restoreClusterAfterEach(cluster, 30_000)

  const options = (namespace: string, extra: Partial<CacheOptions> = {}) =>
    clusterCacheOptions(cluster, client, namespace, extra)

  it('SIGKILL of a master during reads and sets: the other masters never fail, stay L2 hits under one deadline; the promoted replica takes reads and writes within 2 s of its promotion', async () => {
    const namespace = uniqueNamespace('failover')
    // With an L1, and with stale values within grace: the dead master's keys fall back to them.
    // Their bus subscribers are not on the victim: one that moves resyncs, its L1 dropped (rightly).
    const before = await pubsubIds()
    const withL1 = track(createCache(options(namespace)))
    const withGrace = track(createCache(options(namespace, { ttl: '300ms', grace: '1h' })))
    await Promise.all([withL1.ready(), withGrace.ready()])
    const holders = subscriberNodes(before, await pubsubIds())
    const masters = await cluster().masters()
    const victim = masters.find((m) => !holders.includes(m)) as ClusterNode
    expect(victim).toBeDefined()
    const replica = await cluster().replicaOf(victim)
    expect(replica).toBeDefined()
    const { dead, live } = await splitKeys(namespace, victim, 90)
    expect(dead.length).toBeGreaterThan(10)
    const value = (k: string) => `v:${k}`

    const writer = track(
      createCache(
        options(namespace, {
          l1: false,
          l2: { redis: { cluster: cluster().urls }, client, writeErrors: 'throw' },
        }),
      ),
    )
    await writer.ready()
    for (const k of [...dead, ...live]) await writer.set(k, value(k))
    // The readers: no L1, every read goes to the L2 (or, when it fails, to the origin).
    const reader = track(createCache(options(namespace, { l1: false })))
    const breakerEvents: { state: string; master?: string }[] = []
    reader.on('breaker', (event) => breakerEvents.push(event))
    // An instance that reads the other masters' keys only: its L2 never fails (stats().l2Errors
    // counts failed L2 operations; a lost connection is l2ConnectionErrors).
    const liveOnly = track(createCache(options(namespace, { l1: false })))
    await Promise.all([reader.ready(), liveOnly.ready()])
    for (const k of dead.slice(0, 5)) {
      expect(await withL1.get(k)).toBe(value(k))
      expect(await withGrace.getOrSet({ key: k, factory: () => value(k) })).toBe(value(k))
    }

    const reads: Read[] = []
    const writes: { key: string; at: number; failed: boolean }[] = []
    let running = true
    const readLoop = async (offset: number) => {
      let i = offset
      while (running) {
        const key = (i % 3 === 0 ? dead[i % dead.length] : live[i % live.length]) as string
        i += 7
        let origin = false
        const started = performance.now()
        let failed = false
        try {
          const got = await reader.getOrSet({
            key,
            factory: () => {
              origin = true
              return value(key)
            },
          })
          if (got !== value(key)) failed = true
        } catch {
          failed = true
        }
        reads.push({ key, at: started, ms: performance.now() - started, origin, failed })
        await sleep(2)
      }
    }
    // Not the first 5 dead keys: a set tells the other instances to drop their copies, and the L1
    // and stale checks below need theirs.
    const written = dead.slice(5)
    const writeLoop = async () => {
      let i = 0
      while (running) {
        const key = (i % 2 === 0 ? written[i % written.length] : live[i % live.length]) as string
        i++
        const at = performance.now()
        const failed = await writer.set(key, value(key)).then(
          () => false,
          () => true,
        )
        writes.push({ key, at, failed })
        await sleep(10)
      }
    }
    const liveOnlyReads: { at: number; ok: boolean }[] = []
    const liveOnlyLoop = async () => {
      let i = 0
      while (running) {
        const key = live[i++ % live.length] as string
        const at = performance.now()
        const got = await liveOnly.get(key).catch(() => undefined)
        liveOnlyReads.push({ at, ok: got === value(key) })
        await sleep(2)
      }
    }
    const loops = [readLoop(0), readLoop(1), readLoop(2), readLoop(3), writeLoop(), liveOnlyLoop()]
    await sleep(1000)
    const killedAt = performance.now()
    await victim.kill()
    const promotion = promotedAt(replica as ClusterNode, killedAt + 20_000)
    // During the outage (before the promotion): the L1 and stale values answer for the dead master's keys.
    for (const k of dead.slice(0, 5)) {
      expect(await withL1.get(k)).toBe(value(k))
      expect(
        await withGrace.getOrSet({
          key: k,
          factory: () => {
            throw new Error('the origin is down too')
          },
        }),
      ).toBe(value(k))
    }
    const fallbacksDoneAfterKillMs = performance.now() - killedAt
    const promoted = await promotion
    expect(promoted, 'the replica was promoted').toBeDefined()
    await sleep(3500)
    running = false
    await Promise.all(loops)

    const deadSet = new Set(dead)
    const liveReads = reads.filter((r) => !deadSet.has(r.key) && r.at >= killedAt)
    const deadReads = reads.filter((r) => deadSet.has(r.key) && r.at >= killedAt)
    const liveWrites = writes.filter((w) => !deadSet.has(w.key) && w.at >= killedAt)
    const deadWrites = writes.filter((w) => deadSet.has(w.key) && w.at >= killedAt)
    const lastDeadFailure = Math.max(
      killedAt,
      ...deadReads.filter((r) => r.origin || r.failed).map((r) => r.at + r.ms),
      ...deadWrites.filter((w) => w.failed).map((w) => w.at),
    )
    const firstDeadSuccess = Math.min(
      ...deadReads.filter((r) => !r.origin && !r.failed).map((r) => r.at),
      ...deadWrites.filter((w) => !w.failed).map((w) => w.at),
    )
    const p = promoted as number
    const liveOrigin = liveReads.filter((r) => r.origin).length
    const timeline = {
      client,
      promotedAfterKillMs: Math.round(p - killedAt),
      deadKeysBackAfterPromotionMs: Math.round(lastDeadFailure - p),
      firstDeadSuccessAfterKillMs: Math.round(firstDeadSuccess - killedAt),
      liveReads: liveReads.length,
      liveReadsFromOrigin: liveOrigin,
      liveReadP50Ms: Number(
        percentile(
          liveReads.map((r) => r.ms),
          50,
        ).toFixed(1),
      ),
      liveReadP99Ms: Number(
        percentile(
          liveReads.map((r) => r.ms),
          99,
        ).toFixed(1),
      ),
      liveReadMaxMs: Number(Math.max(...liveReads.map((r) => r.ms)).toFixed(1)),
      liveWrites: liveWrites.length,
      deadReadsFromOrigin: deadReads.filter((r) => r.origin).length,
      deadWritesFailed: deadWrites.filter((w) => w.failed).length,
      fallbacksCheckedWithinMs: Math.round(fallbacksDoneAfterKillMs),
      breakers: breakerEvents.map((e) => `${e.master}:${e.state}`).join(' '),
      loadavg: load(),
    }
    console.log(`[cluster failover] ${JSON.stringify(timeline)}`)

    // Keys on the other masters: never failed, L2 hits (≤ 2% from the origin), under one deadline.
    expect(liveReads.length).toBeGreaterThan(50)
    expect(liveReads.filter((r) => r.failed)).toEqual([])
    expect(liveOrigin / liveReads.length).toBeLessThanOrEqual(0.02)
    expect(timeline.liveReadMaxMs).toBeLessThan(DEADLINE_MS)
    expect(liveWrites.filter((w) => w.failed)).toEqual([])
    // The instance reading only the other masters' keys: every read an L2 hit, not one L2 error.
    expect(liveOnlyReads.filter((r) => r.at >= killedAt).length).toBeGreaterThan(50)
    expect(liveOnlyReads.filter((r) => !r.ok)).toEqual([])
    expect(liveOnly.stats()).toMatchObject({ l2Errors: 0, l2Misses: 0 })
    // The dead master's keys fell back (to the origin), then were served by the promoted replica
    // within 2 s of its promotion, reads and writes alike, with no restart.
    expect(deadReads.some((r) => r.origin)).toBe(true)
    expect(lastDeadFailure - p).toBeLessThanOrEqual(2000)
    expect(deadReads.filter((r) => r.at > lastDeadFailure).length).toBeGreaterThan(10)
    expect(deadWrites.filter((w) => w.at > lastDeadFailure).length).toBeGreaterThan(5)
    // Only the dead master's breaker opened.
    const opened = new Set(breakerEvents.filter((e) => e.state === 'open').map((e) => e.master))
    expect([...opened].every((m) => m === `127.0.0.1:${victim.port}`)).toBe(true)
    // health() lists the masters: the promoted replica among them, its breaker closed.
    const health = await reader.health()
    expect(health.l2?.masters?.map((m) => m.address)).toContain(`127.0.0.1:${(replica as ClusterNode).port}`)
    expect(health.l2?.masters?.every((m) => m.breaker === 'closed')).toBe(true)
    // Everything resumes: a fresh read of every key is an L2 hit.
    const fresh = track(createCache(options(namespace, { l1: false })))
    expect(await fresh.getMany([...dead, ...live])).toEqual([...dead, ...live].map(value))
    expect(fresh.stats().l2Errors).toBe(0)
    expect(unhandled).toEqual([])
  }, 60_000)

  it('a master SIGSTOPped: keys on the other masters keep their latency; only its breaker opens, and health() names it', async () => {
    const namespace = uniqueNamespace('frozen')
    const masters = await cluster().masters()
    const victim = masters[1] as ClusterNode
    const { dead, live } = await splitKeys(namespace, victim, 60)
    const writer = track(createCache(options(namespace, { l1: false })))
    await writer.ready()
    for (const k of [...dead, ...live]) await writer.set(k, k)
    const reader = track(
      createCache(
        options(namespace, {
          l1: false,
          l2: { redis: { cluster: cluster().urls }, client, breaker: { threshold: 2, breakDuration: '5s' } },
        }),
      ),
    )
    const breakerEvents: { state: string; master?: string }[] = []
    reader.on('breaker', (event) => breakerEvents.push(event))
    await reader.ready()

    const timeLive = async (rounds: number): Promise<number[]> => {
      const out: number[] = []
      for (let r = 0; r < rounds; r++) {
        for (const k of live.slice(0, 10)) {
          const started = performance.now()
          expect(await reader.get(k)).toBe(k)
          out.push(performance.now() - started)
        }
      }
      return out
    }
    const before = await timeLive(10)
    victim.pause()
    const pausedAt = performance.now()
    let health: Awaited<ReturnType<Cache['health']>>
    try {
      // Reads of the frozen master's keys time out (deadline) until its breaker opens (2 failures),
      // then fail fast; meanwhile the live keys are read as usual, concurrently.
      const frozenReads = (async () => {
        for (let i = 0; i < 4; i++) expect(await reader.get(dead[i % dead.length] as string)).toBeUndefined()
      })()
      const during = await timeLive(10)
      await frozenReads
      health = await reader.health()
      const p50 = (xs: number[]) => percentile(xs, 50)
      const figures = {
        client,
        beforeP50Ms: Number(p50(before).toFixed(2)),
        beforeP99Ms: Number(percentile(before, 99).toFixed(2)),
        duringP50Ms: Number(p50(during).toFixed(2)),
        duringP99Ms: Number(percentile(during, 99).toFixed(2)),
        duringMaxMs: Number(Math.max(...during).toFixed(2)),
        pausedForMs: Math.round(performance.now() - pausedAt),
        loadavg: load(),
      }
      console.log(`[cluster SIGSTOP] ${JSON.stringify(figures)}`)
      // Normal latency: well under the deadline the frozen master's reads wait for.
      expect(figures.duringP50Ms).toBeLessThan(Math.max(4 * figures.beforeP50Ms, figures.beforeP50Ms + 25))
      expect(figures.duringMaxMs).toBeLessThan(DEADLINE_MS / 2)
    } finally {
      victim.resume()
    }
    const address = `127.0.0.1:${victim.port}`
    const opened = breakerEvents.filter((e) => e.state === 'open').map((e) => e.master)
    expect(opened).toEqual([address])
    expect(reader.stats().breakerOpened).toBe(1)
    expect(health.l2?.masters?.find((m) => m.address === address)?.breaker).not.toBe('closed')
    expect(health.l2?.masters?.filter((m) => m.breaker === 'closed')).toHaveLength(2)
    expect(health.alerts.map((a) => a.message).join('\n')).toContain(address)
    expect(unhandled).toEqual([])
  }, 60_000)

  it('the master holding an instance’s bus subscriber restarted (empty) while entries sit in its L1: after the reconnect the L1 is dropped, and the cache works on', async () => {
    const namespace = uniqueNamespace('restart')
    const pubsub = async () =>
      Promise.all(
        cluster().nodes.map(async (node) => {
          if (node.pid === undefined) return new Set<string>()
          const list = String(await node.command('CLIENT', 'LIST', 'TYPE', 'pubsub'))
          return new Set([...list.matchAll(/id=(\d+)/g)].map((m) => m[1] as string))
        }),
      )
    const before = await pubsub()
    const a = track(createCache(options(namespace)))
    await a.ready()
    const after = await pubsub()
    const holder = cluster().nodes.find((_, i) =>
      [...(after[i] as Set<string>)].some((id) => !before[i]?.has(id)),
    )
    expect(holder).toBeDefined()
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
    for (const k of keys) await a.set(k, 'before the restart', { tags: ['t'] })
    expect(a.peek('k0')).toBe('before the restart')
    const resyncs = a.stats().busResyncs
    // A restart: the process killed and started again on the same port, without its data.
    await (holder as ClusterNode).kill()
    await (holder as ClusterNode).start()
    await vi.waitFor(() => expect(a.stats().busResyncs).toBeGreaterThan(resyncs), { timeout: 15_000 })
    for (const k of keys) expect(a.peek(k)).toBeUndefined()
    await cluster().waitUntilOk(30_000)
    // Whether the master came back empty or its replica took over, every key reads as the L2 now
    // has it (never an L1 copy from before), and writes and the bus work again.
    const other = track(createCache(options(namespace)))
    await other.ready()
    for (const k of keys) expect([undefined, 'before the restart']).toContain(await a.get(k))
    await vi.waitFor(
      async () => {
        await a.set('k0', 'after the restart')
        expect(await other.get('k0')).toBe('after the restart')
      },
      { timeout: 10_000 },
    )
    await other.set('k0', 'from the other instance')
    await vi.waitFor(() => expect(a.peek('k0')).toBeUndefined(), { timeout: 5000 })
    expect(await a.get('k0')).toBe('from the other instance')
    expect(unhandled).toEqual([])
  }, 60_000)
})
