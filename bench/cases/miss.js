// The L2 paths with an L1 in front (bench/ab.js measures them A/B between two builds).
// `node bench/cases/miss.js <impl>` with BENCH_REDIS_URL set; impl:
//   cold-getOrSet   getOrSet of a key in neither tier: L1 miss, L2 miss, factory, store in both
//   l2hit-getOrSet  getOrSet of a key only the L2 holds (an L1 of 16 entries over 10,000 keys):
//                   L1 miss, L2 hit, backfill
//   miss-get        get of a key in neither tier
// Each read is awaited before the next (sequential latency). `@redis` picks node-redis (default ioredis).
import { KEY_COUNT, makeKeys, makeSequence, products, SEQ_MASK, serve, strataModule } from '../lib/common.js'
import { seedL2 } from './seed.js'

const [impl, client = 'ioredis'] = process.argv[2].split('@')
const url = process.env.BENCH_REDIS_URL
if (!url) throw new Error('BENCH_REDIS_URL is not set (run through bench/run.js or bench/ab.js)')
const keys = makeKeys()
const values = products(KEY_COUNT, 'medium')
const seq = makeSequence()
// Each child writes under its own namespace, so two builds measured side by side never share keys.
const namespace = `miss-${process.pid}`

async function setup() {
  const { createCache } = await strataModule()
  if (impl === 'cold-getOrSet') {
    const cache = createCache({ namespace, l2: { redis: url, client }, ttl: '2m' })
    let n = 0
    return {
      describe: `await cache.getOrSet({ key: fresh, factory }) — L1 + L2 (${client}), neither holds the key`,
      run: async (ops) => {
        for (let i = 0; i < ops; i++) {
          const v = values[n % KEY_COUNT]
          await cache.getOrSet({ key: `cold:${n++}`, factory: () => v })
        }
      },
      close: () => cache.close(),
    }
  }
  if (impl === 'l2hit-getOrSet') {
    await seedL2(createCache, { namespace, url, client, keys, values, ttl: '1h' })
    const cache = createCache({ namespace, l1: { maxEntries: 16 }, l2: { redis: url, client }, ttl: '1h' })
    const factory = () => {
      throw new Error('factory called: the L2 should hold every key')
    }
    let cursor = 0
    return {
      describe: `await cache.getOrSet({ key, factory }) — L1 of 16 entries + L2 (${client}) holding all 10,000`,
      run: async (ops) => {
        for (let i = 0; i < ops; i++) await cache.getOrSet({ key: keys[seq[cursor++ & SEQ_MASK]], factory })
      },
      close: () => cache.close(),
    }
  }
  if (impl === 'miss-get') {
    const cache = createCache({ namespace, l2: { redis: url, client } })
    let n = 0
    return {
      describe: `await cache.get(absent) — L1 + L2 (${client}), neither holds the key`,
      run: async (ops) => {
        for (let i = 0; i < ops; i++)
          if ((await cache.get(`absent:${n++}`)) !== undefined) throw new Error('hit')
      },
      close: () => cache.close(),
    }
  }
  throw new Error(`unknown impl ${impl}`)
}

serve(async () => {
  const subject = await setup()
  return {
    describe: subject.describe,
    measurements: { sequential: { run: subject.run, targetMs: 150, warmupMs: 400, minOps: 200 } },
    async finish() {
      await subject.close()
      return {}
    },
  }
})
