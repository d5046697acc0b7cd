/**
 * A many-key read on a Redis Cluster that crosses a write: the read's reply comes back after this
 * instance heard of a newer change of one of its keys (the read was held back by its slowest part:
 * a slot moving — TRYAGAIN, ASK, each key read on its own — or a busy master). The value read is
 * older than the change, so it is refused; it used to be a silent miss of a key that exists, and
 * is now read again (the change's value is in Redis once announced).
 */
import { describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import {
  CLIENTS,
  closeAfterEach,
  clusterCacheOptions,
  collectUnhandledRejections,
  pollUntil,
  restoreClusterAfterEach,
} from '../helpers/fixtures.js'
import { type ClusterNode, useRedisCluster } from '../helpers/redis-cluster.js'
import { uniqueNamespace } from '../helpers/redis-server.js'

const cluster = useRedisCluster(3)
const unhandled = collectUnhandledRejections()

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Moves `slot` from `source` to `target` as `redis-cli --cluster reshard` does (see cluster-faults.test.ts). */
async function migrateSlot(
  slot: number,
  source: ClusterNode,
  target: ClusterNode,
  batch: number,
  pauseMs: number,
) {
  const sourceId = String(await source.command('CLUSTER', 'MYID'))
  const targetId = String(await target.command('CLUSTER', 'MYID'))
  await target.command('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId)
  await source.command('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId)
  for (;;) {
    const keys = (await source.command('CLUSTER', 'GETKEYSINSLOT', slot, batch)) as string[]
    if (keys.length === 0) break
    await source.command('MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys)
    await sleep(pauseMs)
  }
  for (const node of [target, source, ...(await cluster().masters())]) {
    await node.command('CLUSTER', 'SETSLOT', slot, 'NODE', targetId)
  }
}

/** The pubsub connection ids on each master, by port. */
async function pubsubClients(): Promise<Map<number, Set<string>>> {
  const out = new Map<number, Set<string>>()
  for (const node of await cluster().masters()) {
    const list = String(await node.command('CLIENT', 'LIST', 'TYPE', 'pubsub'))
    out.set(node.port, new Set([...list.matchAll(/id=(\d+)/g)].map((m) => m[1] as string)))
  }
  return out
}

/** PUBLISH calls each master has run so far (INFO commandstats), by port. */
async function publishCounts(): Promise<Map<number, number>> {
  const out = new Map<number, number>()
  for (const node of await cluster().masters()) {
    const info = String(await node.command('INFO', 'commandstats'))
    out.set(node.port, Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0))
  }
  return out
}

/** The port whose count grew by at least `n` between `before` and `after`. */
function grew(before: Map<number, number>, after: Map<number, number>, n: number): number | undefined {
  return [...after].find(([port, count]) => count - (before.get(port) ?? 0) >= n)?.[0]
}

/** A Lua script that keeps `node` busy for `ms` (it answers nothing else meanwhile). */
function busy(node: ClusterNode, ms: number): Promise<unknown> {
  const lua = `local t = redis.call('TIME') local start = t[1] * 1000000 + t[2]
    repeat local n = redis.call('TIME') until n[1] * 1000000 + n[2] - start >= ${ms * 1000}`
  return node.command('EVAL', lua, 0)
}

describe.each(CLIENTS)('client %s', (client) => {
  const track = closeAfterEach()
  restoreClusterAfterEach(cluster)

  it('getMany held back by a busy master while another instance writes one of its keys: the key is read again, not answered as a miss', async () => {
    const namespace = uniqueNamespace('crossed')
    const l2 = { redis: { cluster: cluster().urls }, client } as const
    const opts = { l1: false, l2, bus: { heartbeat: '20s', maxSilence: '60s' } } as const
    const before = await pubsubClients()
    const reader = track(createCache(clusterCacheOptions(cluster, client, namespace, opts)))
    await reader.ready()
    const after = await pubsubClients()
    const subscriberPort = [...after].find(([p, ids]) => [...ids].some((id) => !before.get(p)?.has(id)))?.[0]
    const writer = track(createCache(clusterCacheOptions(cluster, client, namespace, opts)))
    await writer.ready()
    // The master the writer publishes through (it keeps the one that answered first).
    const counted = await publishCounts()
    for (let i = 0; i < 20; i++) await writer.set(`probe${i}`, i)
    const publisherPort = grew(counted, await publishCounts(), 20)
    expect(subscriberPort).toBeDefined()
    expect(publisherPort).toBeDefined()
    // The busy master carries neither the message nor the written key: only the read's other part.
    const masters = await cluster().masters()
    const slow = masters.find((m) => m.port !== subscriberPort && m.port !== publisherPort) as ClusterNode
    expect(slow).toBeDefined()
    // A key whose entry and dependency marker (bumped with every set) are both off the busy master.
    let written = ''
    for (let i = 0; written === ''; i++) {
      const entry = await cluster().nodeOf(`${namespace}:v1:w${i}`)
      const marker = await cluster().nodeOf(`!tag:${namespace}:@key:w${i}`)
      if (entry !== slow && marker !== slow) written = `w${i}`
    }
    let held = ''
    for (let i = 0; held === ''; i++)
      if ((await cluster().nodeOf(`${namespace}:v1:h${i}`)) === slow) held = `h${i}`
    // When the reader heard of each write of `written` (ms from t0).
    const heard: number[] = []
    let t0 = performance.now()
    reader.on('invalidate', (event) => {
      if (event.origin === 'remote' && event.kind === 'keys' && event.keys.includes(written))
        heard.push(performance.now() - t0)
    })
    await writer.set(held, 'held')
    await writer.set(written, 'old')
    expect(await pollUntil(() => heard.length === 1, 1000)).toBe(true)
    t0 = performance.now()
    let readAt: number | undefined

    const busyFor = busy(slow, 300)
    // Time for the script to start (it holds every command sent to that master after it).
    await sleep(20)
    const reading = reader.getMany([written, held]).then((values) => {
      readAt = performance.now() - t0
      return values
    })
    await sleep(20)
    await writer.set(written, 'new')
    // The reader hears of the change while its read waits for the busy master.
    expect(await pollUntil(() => heard.length === 2, 250)).toBe(true)
    const heardAt = heard[1] as number
    const values = await reading
    await busyFor
    console.log(`[cluster crossed read] ${JSON.stringify({ client, values, heardAt, readAt })}`)
    expect(heardAt).toBeLessThan(readAt as number)
    // 'old' is older than a change already heard (refused); a miss would be wrong: the key exists.
    expect(values).toEqual(['new', 'held'])
    expect(reader.stats().l2Errors).toBe(0)
    expect(unhandled).toEqual([])
  }, 60_000)

  it('a slot moved back and forth while one instance writes its keys and two read them: no read of a key that exists is a miss', async () => {
    const namespace = uniqueNamespace('reshard-reads')
    // Every `{mv}` key shares one slot: the slot being moved.
    const keys = Array.from({ length: 40 }, (_, i) => `{mv}k${i}`)
    const elsewhere = Array.from({ length: 6 }, (_, i) => `o${i}`)
    const slot = await cluster().slotOf(`${namespace}:v1:{mv}k0`)
    const home = await cluster().nodeOf(`${namespace}:v1:{mv}k0`)
    const away = (await cluster().masters()).find((m) => m !== home) as ClusterNode
    const l2 = { redis: { cluster: cluster().urls }, client, writeErrors: 'throw' } as const
    const open = () => track(createCache(clusterCacheOptions(cluster, client, namespace, { l1: false, l2 })))
    const writer = open()
    const readers = [open(), open()]
    const errors: string[] = []
    for (const cache of [writer, ...readers])
      cache.on('l2-error', ({ operation, error }) => errors.push(`${operation}: ${String(error)}`))
    await Promise.all([writer, ...readers].map((c) => c.ready()))
    let version = 0
    for (const k of [...keys, ...elsewhere]) await writer.set(k, ++version)

    const missed: string[] = []
    const failures: string[] = []
    let running = true
    let reads = 0
    const writeLoop = async () => {
      for (let i = 0; running; i++) {
        try {
          await writer.set(keys[i % keys.length] as string, ++version)
        } catch (error) {
          failures.push(`write: ${String(error)}`)
        }
      }
    }
    const readLoop = async (reader: Cache, offset: number) => {
      for (let i = offset; running; i++) {
        try {
          if (i % 3 === 0) {
            // Spanning masters, most keys in the moving slot: its slowest part holds the others back.
            const group = [...keys.slice(i % 20, (i % 20) + 12), ...elsewhere.slice(0, 3)]
            const values = await reader.getMany(group)
            values.forEach((v, j) => {
              if (v === undefined) missed.push(`getMany ${group[j]}`)
            })
          } else {
            const key = keys[i % keys.length] as string
            if ((await reader.get(key)) === undefined) missed.push(`get ${key}`)
          }
        } catch (error) {
          failures.push(`read: ${String(error)}`)
        }
        reads++
      }
    }
    const loops = [writeLoop(), ...readers.map((reader, r) => readLoop(reader, r * 7))]
    try {
      await sleep(100)
      await migrateSlot(slot, home, away, 2, 40)
      await migrateSlot(slot, away, home, 2, 40)
      await migrateSlot(slot, home, away, 1, 20)
      await sleep(100)
    } finally {
      running = false
      await Promise.all(loops)
    }
    console.log(
      `[cluster reshard reads] ${JSON.stringify({ client, reads, missed: missed.length, first: missed.slice(0, 5), errors: errors.slice(0, 3), failures: failures.slice(0, 3) })}`,
    )
    expect(reads).toBeGreaterThan(200)
    expect(failures).toEqual([])
    expect(errors).toEqual([])
    expect(missed).toEqual([])
    expect(unhandled).toEqual([])
  }, 60_000)
})
