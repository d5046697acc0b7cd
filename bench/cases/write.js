// The write path (issue 17). `node bench/cases/write.js <impl>` with BENCH_REDIS_URL set.
// impl: raw-ioredis | raw-redis (SET … PX, DEL) | strata-ioredis | strata-redis (L1 + L2, bus on,
// default options) | bento (BentoCache: memory L1 + Redis L2 + Redis bus, over ioredis).
// Measures sequential `set` latency (one awaited write at a time) and the throughput of `set`,
// `delete` and `invalidateTags` (one tag) with CONCURRENCY async workers looping, each write a
// ~500 B product (JSON) with a one-hour TTL.

import { openClient } from '../lib/clients.js'
import { KEY_COUNT, makeKeys, makeSequence, products, SEQ_MASK, serve, strataModule } from '../lib/common.js'
import { parseCommandStats } from '../lib/redis-server.js'

const CONCURRENCY = 64
const TTL_MS = 3_600_000
const TAGS = 100
const impl = process.argv[2]
const url = process.env.BENCH_REDIS_URL
if (!url) throw new Error('BENCH_REDIS_URL is not set (run through bench/run.js)')
const keys = makeKeys()
const values = products(KEY_COUNT, 'medium')
const seq = makeSequence()

async function setup() {
  if (impl === 'raw-ioredis' || impl === 'raw-redis') {
    const name = impl.slice(4)
    const client = await openClient(name, url)
    const raw = client.native
    const prefix = `raw:${name}:`
    const set =
      name === 'ioredis'
        ? (k, v) => raw.set(prefix + k, JSON.stringify(v), 'PX', TTL_MS)
        : (k, v) => raw.set(prefix + k, JSON.stringify(v), { PX: TTL_MS })
    const del = name === 'ioredis' ? (k) => raw.del(prefix + k) : (k) => raw.del(prefix + k)
    return {
      describe: `${name}: await ${name === 'ioredis' ? "client.set(k, JSON.stringify(v), 'PX', ttl)" : 'client.set(k, JSON.stringify(v), { PX: ttl })'}; delete: client.del(k)`,
      set,
      delete: del,
      close: () => client.close(),
    }
  }
  if (impl === 'strata-ioredis' || impl === 'strata-redis') {
    const client = impl.slice(7)
    const { createCache } = await strataModule()
    const cache = createCache({ namespace: `bench-write-${client}`, l2: { redis: url, client } })
    await cache.ready()
    return {
      describe: `await cache.set(k, v) / cache.delete(k) / cache.invalidateTags([tag]) — createCache({ l2: { redis: url, client: '${client}' } }) (L1 + L2, bus on, defaults)`,
      set: (k, v) => cache.set(k, v),
      delete: (k) => cache.delete(k),
      invalidate: (tag) => cache.invalidateTags([tag]),
      stats: () => cache.stats(),
      close: () => cache.close(),
    }
  }
  if (impl === 'bento') {
    const { Redis } = await import('ioredis')
    const { BentoCache, bentostore } = await import('bentocache')
    const { redisDriver, redisBusDriver } = await import('bentocache/drivers/redis')
    const { memoryDriver } = await import('bentocache/drivers/memory')
    const connection = new Redis(url)
    const parsed = new URL(url)
    const bento = new BentoCache({
      default: 'tiered',
      ttl: '1h',
      stores: {
        tiered: bentostore()
          .useL1Layer(memoryDriver({ maxItems: KEY_COUNT }))
          .useL2Layer(redisDriver({ connection, prefix: 'bento-write' }))
          .useBus(redisBusDriver({ connection: { host: parsed.hostname, port: Number(parsed.port) } })),
      },
    })
    return {
      describe:
        'await bento.set({ key, value }) / bento.delete({ key }) / bento.deleteByTag({ tags: [tag] }) — BentoCache 1.6, memoryDriver L1 + redisDriver L2 (ioredis) + redisBusDriver',
      set: (k, v) => bento.set({ key: k, value: v }),
      delete: (k) => bento.delete({ key: k }),
      invalidate: (tag) => bento.deleteByTag({ tags: [tag] }),
      close: async () => {
        await bento.disconnectAll()
        connection.disconnect()
      },
    }
  }
  throw new Error(`unknown impl ${impl}`)
}

serve(async () => {
  const subject = await setup()
  const admin = await openClient('ioredis', url)
  let cursor = 0
  const nextIndex = () => seq[cursor++ & SEQ_MASK]

  const ops = {
    set: () => {
      const i = nextIndex()
      return subject.set(keys[i], values[i])
    },
    delete: () => subject.delete(keys[nextIndex()]),
    invalidate: () => subject.invalidate(`tag:${nextIndex() % TAGS}`),
  }
  const sequential = (op) => async (n) => {
    for (let i = 0; i < n; i++) await op()
  }
  const concurrent = (op) => async (n) => {
    const state = { next: 0 }
    const worker = async () => {
      while (state.next++ < n) await op()
    }
    const workers = []
    for (let w = 0; w < CONCURRENCY; w++) workers.push(worker())
    await Promise.all(workers)
  }

  const measurements = {
    'set sequential': { run: sequential(ops.set), targetMs: 150, warmupMs: 400, minOps: 200 },
    set: { run: concurrent(ops.set), targetMs: 200, warmupMs: 400, minOps: 2000 },
    delete: { run: concurrent(ops.delete), targetMs: 200, warmupMs: 300, minOps: 2000 },
  }
  if (subject.invalidate) {
    measurements.invalidateTags = {
      run: concurrent(ops.invalidate),
      targetMs: 200,
      warmupMs: 300,
      minOps: 2000,
    }
  }

  return {
    describe: subject.describe,
    measurements,
    async finish() {
      // Redis commands per set, from the server's counters over 20,000 more sets with 64 in flight.
      const before = parseCommandStats(await admin.info('commandstats'))
      await concurrent(ops.set)(20_000)
      const after = parseCommandStats(await admin.info('commandstats'))
      const commands = {}
      for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
        const d = (after[name] ?? 0) - (before[name] ?? 0)
        if (d > 0 && name !== 'info') commands[name] = d
      }
      const stats = subject.stats?.()
      await subject.close()
      await admin.close()
      return {
        concurrency: CONCURRENCY,
        commands: { ...commands, sets: 20_000 },
        stats: stats && {
          l2Errors: stats.l2Errors,
          l2Timeouts: stats.l2Timeouts,
          busPublished: stats.busPublished,
        },
      }
    },
  }
})
