// Goal 2: the L2 hit path, no L1. `node bench/cases/l2.js <impl>` with BENCH_REDIS_URL set.
// impl: raw-ioredis | raw-redis | strata-ioredis | strata-redis | bento (BentoCache, redis driver only)
// | raw-redis-notimeout (node-redis with its per-command timeout off: informational).
// Measures (a) sequential latency of one awaited read at a time and (b) throughput with
// CONCURRENCY async workers looping, each read being GET + decode of a ~500 B product.

import { openClient } from '../lib/clients.js'
import { KEY_COUNT, makeKeys, makeSequence, products, SEQ_MASK, serve, strataModule } from '../lib/common.js'
import { parseCommandStats } from '../lib/redis-server.js'
import { seedL2 } from './seed.js'

const CONCURRENCY = 100
const impl = process.argv[2]
const url = process.env.BENCH_REDIS_URL
if (!url) throw new Error('BENCH_REDIS_URL is not set (run through bench/run.js)')
const keys = makeKeys()
const values = products(KEY_COUNT, 'medium')
const seq = makeSequence()

async function setup() {
  if (impl === 'raw-ioredis' || impl === 'raw-redis' || impl === 'raw-redis-notimeout') {
    const clientName = impl.slice(4)
    const client = await openClient(clientName, url)
    const prefix = `raw:${clientName}:`
    for (let i = 0; i < KEY_COUNT; i += 1000) {
      await client.setMany(
        keys.slice(i, i + 1000).map((k, j) => [prefix + k, Buffer.from(JSON.stringify(values[i + j]))]),
      )
    }
    const get = client.get
    return {
      describe: `${clientName}: JSON.parse((await ${clientName === 'ioredis' ? 'client.getBuffer(k)' : 'client.get(k) /* Buffer type mapping */'}).toString())${clientName === 'redis-notimeout' ? ' — createClient({ commandOptions: { timeout: 0 } })' : ''}`,
      read: async (k) => {
        const buf = await get(prefix + k)
        return buf === null ? undefined : JSON.parse(buf.toString())
      },
      close: () => client.close(),
    }
  }
  if (impl === 'strata-ioredis' || impl === 'strata-redis') {
    const client = impl.slice(7)
    const { createCache } = await strataModule()
    // Each child under its own namespace: two builds measured side by side never share keys.
    const namespace = `bench-${process.pid}`
    await seedL2(createCache, { namespace, url, client, keys, values })
    const cache = createCache({ namespace, l1: false, l2: { redis: url, client } })
    return {
      describe: `await cache.get(k) — createCache({ l1: false, l2: { redis: url, client: '${client}' } })`,
      read: (k) => cache.get(k),
      stats: () => cache.stats(),
      close: () => cache.close(),
    }
  }
  if (impl === 'bento') {
    const { Redis } = await import('ioredis')
    const { BentoCache, bentostore } = await import('bentocache')
    const { redisDriver } = await import('bentocache/drivers/redis')
    const connection = new Redis(url)
    const bento = new BentoCache({
      default: 'redis',
      ttl: '1h',
      stores: { redis: bentostore().useL2Layer(redisDriver({ connection, prefix: 'bento' })) },
    })
    for (let i = 0; i < KEY_COUNT; i += 200) {
      await Promise.all(keys.slice(i, i + 200).map((k, j) => bento.set({ key: k, value: values[i + j] })))
    }
    return {
      describe:
        'await bento.get({ key }) — BentoCache 1.6, bentostore().useL2Layer(redisDriver({ connection: ioredis }))',
      read: (k) => bento.get({ key: k }),
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
  const read = subject.read
  let misses = 0
  let cursor = 0

  const sequential = async (ops) => {
    for (let i = 0; i < ops; i++) if ((await read(keys[seq[cursor++ & SEQ_MASK]])) === undefined) misses++
  }
  const worker = async (state) => {
    for (;;) {
      if (state.next++ >= state.ops) return
      if ((await read(keys[seq[cursor++ & SEQ_MASK]])) === undefined) misses++
    }
  }
  const concurrent = async (ops) => {
    const state = { next: 0, ops }
    const workers = []
    for (let w = 0; w < CONCURRENCY; w++) workers.push(worker(state))
    await Promise.all(workers)
  }

  return {
    describe: subject.describe,
    measurements: {
      sequential: { run: sequential, targetMs: 150, warmupMs: 400, minOps: 200 },
      concurrent: { run: concurrent, targetMs: 150, warmupMs: 400, minOps: 2000 },
    },
    async finish() {
      // Commands per read, from the server's counters over 20,000 more reads with 100 in flight.
      const before = parseCommandStats(await admin.info('commandstats'))
      await concurrent(20_000)
      const after = parseCommandStats(await admin.info('commandstats'))
      const delta = (c) => (after[c] ?? 0) - (before[c] ?? 0)
      const stats = subject.stats?.()
      await subject.close()
      await admin.close()
      return {
        concurrency: CONCURRENCY,
        misses,
        commands: { get: delta('get'), mget: delta('mget'), reads: 20_000 },
        stats: stats && {
          l2Hits: stats.l2Hits,
          misses: stats.misses,
          l2Timeouts: stats.l2Timeouts,
          l2Errors: stats.l2Errors,
        },
      }
    },
  }
})
