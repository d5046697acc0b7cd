// Goal 3: batching. `node bench/cases/batch.js <impl>` with BENCH_REDIS_URL set.
// impl: strata-ioredis | strata-redis (BURST concurrent cache.get issued in one tick, no L1) or
// pipeline-ioredis | pipeline-redis (one explicit pipeline of the same BURST GETs + JSON.parse).
// Reports time per burst and the server-side GET/MGET calls per burst (INFO commandstats).

import { openClient } from '../lib/clients.js'
import {
  KEY_COUNT,
  makeKeys,
  makeSequence,
  products,
  SEQ_LENGTH,
  serve,
  strataModule,
} from '../lib/common.js'
import { parseCommandStats } from '../lib/redis-server.js'

const BURST = 1000
const impl = process.argv[2]
const url = process.env.BENCH_REDIS_URL
if (!url) throw new Error('BENCH_REDIS_URL is not set (run through bench/run.js)')
const keys = makeKeys()
const values = products(KEY_COUNT, 'medium')
const seq = makeSequence()
// Bursts are consecutive windows of the access sequence: the same keys for every implementation.
const BURSTS = Math.floor(SEQ_LENGTH / BURST)
const bursts = Array.from({ length: BURSTS }, (_, b) =>
  Array.from({ length: BURST }, (_, i) => keys[seq[b * BURST + i]]),
)

async function setup() {
  const [kind, clientName] = impl.split('-')
  if (kind === 'pipeline') {
    const client = await openClient(clientName, url)
    const prefix = `raw:${clientName}:`
    for (let i = 0; i < KEY_COUNT; i += 1000) {
      await client.setMany(
        keys.slice(i, i + 1000).map((k, j) => [prefix + k, Buffer.from(JSON.stringify(values[i + j]))]),
      )
    }
    const prefixed = bursts.map((burst) => burst.map((k) => prefix + k))
    return {
      describe: `${clientName}: ${clientName === 'ioredis' ? 'pipeline()' : 'multi()…execAsPipeline()'} of ${BURST} GETs, then JSON.parse each`,
      async burst(b) {
        const replies = await client.pipelineGet(prefixed[b])
        let misses = 0
        for (const buf of replies) if (buf === null || JSON.parse(buf.toString()) === undefined) misses++
        return misses
      },
      close: () => client.close(),
    }
  }
  if (kind === 'strata') {
    const { createCache } = await strataModule()
    const cache = createCache({ namespace: 'bench', l1: false, l2: { redis: url, client: clientName } })
    for (let i = 0; i < KEY_COUNT; i += 200) {
      await Promise.all(keys.slice(i, i + 200).map((k, j) => cache.set(k, values[i + j])))
    }
    return {
      describe: `${BURST} × cache.get(k) in one tick, Promise.all — l1: false, l2 client '${clientName}'`,
      async burst(b) {
        const burstKeys = bursts[b]
        const pending = new Array(BURST)
        for (let i = 0; i < BURST; i++) pending[i] = cache.get(burstKeys[i])
        let misses = 0
        for (const value of await Promise.all(pending)) if (value === undefined) misses++
        return misses
      },
      stats: () => cache.stats(),
      close: () => cache.close(),
    }
  }
  throw new Error(`unknown impl ${impl}`)
}

serve(async () => {
  const subject = await setup()
  const admin = await openClient('ioredis', url)
  let misses = 0
  let b = 0
  const run = async (ops) => {
    for (let i = 0; i < ops; i++) misses += await subject.burst(b++ % BURSTS)
  }
  return {
    describe: subject.describe,
    measurements: { burst: { run, targetMs: 150, warmupMs: 500, minOps: 5 } },
    async finish() {
      // Round trips: server-side command counts over a fixed number of bursts.
      const counted = 20
      const before = parseCommandStats(await admin.info('commandstats'))
      await run(counted)
      const after = parseCommandStats(await admin.info('commandstats'))
      const delta = (c) => (after[c] ?? 0) - (before[c] ?? 0)
      await subject.close()
      await admin.close()
      return {
        burst: BURST,
        misses,
        commands: { get: delta('get') / counted, mget: delta('mget') / counted },
      }
    },
  }
})
