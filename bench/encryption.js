// The L2 hit path with encryption at rest on vs off: `npm run bench:encryption` (after a build).
// Two caches on one private redis-server, no L1, the same 10,000 ~500 B products; each read is
// GET + (open) + envelope + JSON decode. Rounds alternate plain / encrypted so drift of a shared
// machine hits both alike; medians of ROUNDS rounds. Also the cost of seal/open alone per size.

import { randomBytes } from 'node:crypto'
import { createCache, KeyRing } from '../dist/index.js'
import {
  KEY_COUNT,
  makeKeys,
  makeSequence,
  median,
  products,
  ROUNDS,
  round,
  SEQ_MASK,
  warmUp,
} from './lib/common.js'
import { startRedis } from './lib/redis-server.js'

const CONCURRENCY = 64
const keys = makeKeys()
const values = products(KEY_COUNT, 'medium')
const seq = makeSequence()
const encryption = { keys: { k2: randomBytes(32), k1: randomBytes(32) }, current: 'k2' }

const redis = await startRedis()
const caches = {
  plain: createCache({ namespace: 'plain', l1: false, l2: { redis: redis.url, client: 'ioredis' } }),
  encrypted: createCache({
    namespace: 'enc',
    l1: false,
    encryption,
    l2: { redis: redis.url, client: 'ioredis' },
  }),
}
try {
  for (const cache of Object.values(caches)) {
    for (let i = 0; i < KEY_COUNT; i += 200) {
      await Promise.all(keys.slice(i, i + 200).map((k, j) => cache.set(k, values[i + j])))
    }
  }
  let at = 0
  const sequential = (cache) => async (ops) => {
    for (let i = 0; i < ops; i++) await cache.get(keys[seq[at++ & SEQ_MASK]])
  }
  const concurrent = (cache) => async (ops) => {
    let left = ops
    const worker = async () => {
      while (left-- > 0) await cache.get(keys[seq[at++ & SEQ_MASK]])
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  }
  const results = {}
  for (const [mode, make] of [
    ['sequential', sequential],
    ['concurrent', concurrent],
  ]) {
    const ops = {}
    for (const [name, cache] of Object.entries(caches)) ops[name] = await warmUp(make(cache), { minOps: 500 })
    const n = Math.min(ops.plain, ops.encrypted)
    const samples = { plain: [], encrypted: [] }
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ['plain', 'encrypted'] : ['encrypted', 'plain']
      for (const name of order) samples[name].push(await round(make(caches[name]), n))
    }
    const pick = (name, field) => median(samples[name].map((s) => s[field]))
    results[mode] = {
      plainUs: pick('plain', 'ns') / 1000,
      encryptedUs: pick('encrypted', 'ns') / 1000,
      plainCpuUs: pick('plain', 'cpu') / 1000,
      encryptedCpuUs: pick('encrypted', 'cpu') / 1000,
    }
    results[mode].ratio = results[mode].encryptedUs / results[mode].plainUs
    results[mode].cpuRatio = results[mode].encryptedCpuUs / results[mode].plainCpuUs
  }
  for (const cache of Object.values(caches)) {
    const s = cache.stats()
    if (s.securityEvents !== 0 || s.l2Misses > 0)
      throw new Error(`unexpected misses or security events: ${JSON.stringify(s)}`)
  }
  // Seal + open alone, per entry size.
  const ring = KeyRing.from(encryption)
  const crypto = {}
  for (const size of [100, 1000, 10_000, 100_000]) {
    const plaintext = randomBytes(size)
    const n = Math.max(200, Math.floor(2_000_000 / (size + 2000)))
    const sealed = ring.seal(plaintext, 'bench:v1:k')
    let t = performance.now()
    for (let i = 0; i < n; i++) ring.seal(plaintext, 'bench:v1:k')
    const sealUs = ((performance.now() - t) * 1000) / n
    t = performance.now()
    for (let i = 0; i < n; i++) ring.open(sealed, 'bench:v1:k')
    const openUs = ((performance.now() - t) * 1000) / n
    crypto[`${size} B`] = { sealUs: +sealUs.toFixed(2), openUs: +openUs.toFixed(2) }
  }
  const fmt = (v) => v.toFixed(1)
  console.log(`L2 hit path, no L1, ~500 B products, ${ROUNDS} alternating rounds (medians):`)
  for (const [mode, r] of Object.entries(results)) {
    console.log(
      `  ${mode.padEnd(10)}  plain ${fmt(r.plainUs)} µs/read (cpu ${fmt(r.plainCpuUs)})  encrypted ${fmt(r.encryptedUs)} µs/read (cpu ${fmt(r.encryptedCpuUs)})  ratio ${r.ratio.toFixed(2)} (cpu ${r.cpuRatio.toFixed(2)})`,
    )
  }
  console.log('  seal / open alone:', JSON.stringify(crypto))
  console.log(JSON.stringify({ encryption: { ...results, crypto } }))
} finally {
  await Promise.all(Object.values(caches).map((c) => c.close()))
  await redis.stop()
}
