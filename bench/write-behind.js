// `npm run bench:write-behind`: acknowledged writes per second and end-to-end lag of a
// write-behind on a private redis-server, in this process, with the flush into an in-memory table
// (what is measured is the log, not a database). Variants:
//   raw XADD      one XADD per write, the floor of a durable append over this connection
//   log only      wb.set with updateCache: false (the Lua append, batched per tick)
//   log + cache   wb.set as shipped (the append, then the cache's L1 + L2 write and the sequence check)
//   cache.set     the cache alone, for comparison (not durable, no database)
// Options: --writes=N (default 20000)  --keys=N (1000)  --concurrency=N (64)  --client=ioredis|redis
import { createCache } from '../dist/index.js'
import { startRedis } from './lib/redis-server.js'

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v = 'true'] = a.replace(/^--/, '').split('=')
    return [k, v]
  }),
)
const WRITES = Number(args.writes ?? 20_000)
const KEYS = Number(args.keys ?? 1000)
const CONCURRENCY = Number(args.concurrency ?? 64)
const CLIENT = args.client ?? 'ioredis'

const redis = await startRedis()

async function run(label, makeWrite, settle = async () => {}) {
  let issued = 0
  const started = performance.now()
  const one = async () => {
    while (issued < WRITES) {
      const n = issued++
      await makeWrite(`k:${n % KEYS}`, { n, at: Date.now() })
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, one))
  const ackMs = performance.now() - started
  const drainMs = (await settle()) ?? 0
  return { label, writesPerSec: Math.round(WRITES / (ackMs / 1000)), ackMs: Math.round(ackMs), drainMs }
}

const rows = []
let ns = 0
async function variant(label, options) {
  const cache = createCache({
    namespace: `bench${ns++}`,
    l2: { redis: redis.url, client: CLIENT },
    lock: false,
  })
  const table = new Map()
  const lags = []
  const wb = options.raw
    ? undefined
    : cache.writeBehind({
        name: 'bench',
        maxBatch: 1000,
        maxDelay: 20,
        updateCache: options.updateCache,
        flush: async (batch) => {
          const now = Date.now()
          for (const op of batch) {
            table.set(op.key, op.op === 'set' ? op.value : undefined)
            lags.push(now - op.value.at)
          }
        },
      })
  const streams = cache.l2?.streams ?? cache.l2?.inner?.streams
  const write = options.raw
    ? (key, value) => streams.call(['XADD', `raw:${ns}`, '*', 'k', key, 'v', JSON.stringify(value)])
    : options.cacheOnly
      ? (key, value) => cache.set(key, value)
      : (key, value) => wb.set(key, value)
  await write('warm', { n: -1, at: Date.now() })
  const row = await run(label, write, async () => {
    if (wb === undefined) return 0
    const t = performance.now()
    await wb.settled(60_000)
    return Math.round(performance.now() - t)
  })
  if (wb !== undefined) {
    lags.sort((a, b) => a - b)
    row.lagP50 = lags[Math.floor(lags.length * 0.5)] ?? 0
    row.lagP99 = lags[Math.floor(lags.length * 0.99)] ?? 0
    row.flushes = wb.stats().flushes
  }
  await cache.close()
  rows.push(row)
}

try {
  await variant('raw XADD', { raw: true })
  await variant('log only', { updateCache: false })
  await variant('log + cache', { updateCache: true })
  await variant('cache.set', { cacheOnly: true })
} finally {
  await redis.stop()
}

console.log(
  `write-behind, ${WRITES} writes over ${KEYS} keys, ${CONCURRENCY} concurrent, ${CLIENT}, one process, Redis ${redis.version ?? ''}`,
)
console.log('variant        writes/s   ack ms  drain ms  lag p50  lag p99  flushes')
for (const r of rows) {
  console.log(
    `${r.label.padEnd(13)} ${String(r.writesPerSec).padStart(9)} ${String(r.ackMs).padStart(8)} ${String(r.drainMs).padStart(9)} ${String(r.lagP50 ?? '-').padStart(8)} ${String(r.lagP99 ?? '-').padStart(8)} ${String(r.flushes ?? '-').padStart(8)}`,
  )
}
