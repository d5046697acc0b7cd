// `npm run bench:write-behind`: acknowledged writes per second and end-to-end lag of a
// write-behind on a private redis-server, in this process, with the flush into an in-memory table
// (what is measured is the log, not a database). Variants:
//   raw XADD      one XADD per write, the floor of a durable append over this connection
//   log only      wb.set with updateCache: false (the Lua append, batched per tick)
//   log + cache   wb.set as shipped (the append and the cache's L2 entry in one script per tick,
//                 the L1 entry, one bus message per tick)
//   replicated    log + cache with durability: 'replicated' (WAIT 1 after each tick's append),
//                 against a master with one replica (with --replica)
//   cache.set     the cache alone, for comparison (not durable, no database)
//   log + entry   (with --floor) log + cache without the cache's work: a stub staging hands the
//                 append a ready-made L2 entry and dependency marker (no L1, no encoding, no bus
//                 message) — what carrying the cache's entry costs the write-behind itself, the
//                 floor of log + cache
// The variants run in rotation (--rounds, default 5; each round runs every variant once, in a
// shifted order) and each figure is the median of its rounds (with the slowest and fastest round
// beside it), so a load spike on this shared machine hits every variant alike; the load average
// is printed with every round. A warm-up round (not counted) runs every variant first: the first
// round otherwise measures the JIT compiling the write path.
// Options: --writes=N (default 20000)  --keys=N (1000)  --concurrency=N (64)  --rounds=N (5)
//          --client=ioredis|redis  --only=a,b (variant names)  --quick (5000 writes, 3 rounds)
//          --floor (adds log + entry)
import os from 'node:os'
import Redis from 'ioredis'
import { createCache } from '../dist/index.js'
import { writeBehindFor } from '../dist/write/write-behind.js'
import { startRedis } from './lib/redis-server.js'

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v = 'true'] = a.replace(/^--/, '').split('=')
    return [k, v]
  }),
)
const QUICK = args.quick === 'true'
const WRITES = Number(args.writes ?? (QUICK ? 5_000 : 20_000))
const KEYS = Number(args.keys ?? 1000)
const CONCURRENCY = Number(args.concurrency ?? 64)
const ROUNDS = Number(args.rounds ?? (QUICK ? 3 : 5))
const CLIENT = args.client ?? 'ioredis'
const WITH_REPLICA = args.replica === 'true'
const WITH_FLOOR = args.floor === 'true'
const ONLY = args.only === undefined ? undefined : new Set(args.only.split(','))

const load = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(2))
    .join(' ')

const redis = await startRedis()
const replica = WITH_REPLICA ? await startReplica(redis.port) : undefined

/** A redis-server replicating `masterPort` (no persistence); resolves once it is in sync. */
async function startReplica(masterPort) {
  const server = await startRedis()
  const client = new Redis(server.url)
  try {
    // The replica loads the master's snapshot from the socket: no dump.rdb in its directory.
    await client.call('CONFIG', 'SET', 'repl-diskless-load', 'on-empty-db')
    await client.call('REPLICAOF', '127.0.0.1', String(masterPort))
    for (let i = 0; i < 200; i++) {
      if (String(await client.call('INFO', 'replication')).includes('master_link_status:up')) return server
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  } finally {
    client.disconnect()
  }
  throw new Error('the replica did not connect to the master within 10 s')
}

const VARIANTS = [
  { label: 'raw XADD', raw: true },
  { label: 'log only', updateCache: false },
  { label: 'log + cache', updateCache: true },
  ...(replica === undefined ? [] : [{ label: 'replicated', updateCache: true, durability: 'replicated' }]),
  { label: 'cache.set', cacheOnly: true },
  ...(WITH_FLOOR ? [{ label: 'log + entry', floor: true }] : []),
].filter((v) => ONLY === undefined || ONLY.has(v.label))

/** A staging that does none of the cache's work: a ready L2 entry and one marker per set. */
function stubStaging(namespace) {
  const bytes = Buffer.alloc(64, 1)
  return {
    stageSet: (key) => ({
      entry: { key: `${namespace}:1:${key}`, value: bytes, ttlMs: 60_000 },
      at: performance.timeOrigin + performance.now(),
      markers: [`!tag:${namespace}:~${key}`],
    }),
    unstage() {},
    announce: async () => {},
  }
}

let ns = 0
function open(variant) {
  const namespace = `bench${ns++}`
  const cache = createCache({ namespace, l2: { redis: redis.url, client: CLIENT }, lock: false })
  const streams = cache.l2?.streams ?? cache.l2?.inner?.streams
  const lags = []
  const options = {
    name: 'bench',
    maxBatch: 1000,
    maxDelay: 20,
    maxPending: Number.POSITIVE_INFINITY,
    updateCache: variant.updateCache ?? true,
    ...(variant.durability === undefined ? {} : { durability: variant.durability }),
    flush: async (batch) => {
      const now = Date.now()
      for (const op of batch) if (op.op === 'set') lags.push(now - op.value.at)
    },
  }
  const wb =
    variant.raw || variant.cacheOnly
      ? undefined
      : variant.floor
        ? writeBehindFor(
            { name: namespace, set: async () => {}, delete: async () => {} },
            { streams },
            options,
            stubStaging(namespace),
          )
        : cache.writeBehind(options)
  const stream = `raw:${ns}`
  const write = variant.raw
    ? (key, value) => streams.call(['XADD', stream, '*', 'k', key, 'v', JSON.stringify(value)])
    : variant.cacheOnly
      ? (key, value) => cache.set(key, value)
      : (key, value) => wb.set(key, value)
  return { variant, cache, wb, lags, write, rounds: [] }
}

async function round(run, writes = WRITES, record = true) {
  let issued = 0
  run.lags.length = 0
  const flushesBefore = run.wb?.stats().flushes ?? 0
  const started = performance.now()
  const one = async () => {
    while (issued < writes) {
      const n = issued++
      await run.write(`k:${n % KEYS}`, { n, at: Date.now() })
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, one))
  const ackMs = performance.now() - started
  let drainMs = 0
  if (run.wb !== undefined) {
    const t = performance.now()
    await run.wb.settled(120_000)
    drainMs = performance.now() - t
  }
  if (!record) {
    await run.wb?.settled(120_000)
    return
  }
  const lags = [...run.lags].sort((a, b) => a - b)
  run.rounds.push({
    writesPerSec: WRITES / (ackMs / 1000),
    ackMs,
    drainMs,
    lagP50: lags[Math.floor(lags.length * 0.5)],
    lagP99: lags[Math.floor(lags.length * 0.99)],
    flushes: run.wb === undefined ? undefined : run.wb.stats().flushes - flushesBefore,
    load: os.loadavg()[0],
  })
}

const median = (values) => {
  const sorted = values.filter((v) => v !== undefined).sort((a, b) => a - b)
  return sorted.length === 0 ? undefined : sorted[Math.floor((sorted.length - 1) / 2)]
}
const fmt = (v, width) => String(v === undefined ? '-' : Math.round(v)).padStart(width)

const runs = VARIANTS.map(open)
try {
  for (const run of runs) await round(run, WRITES, false)
  console.log(
    `write-behind, ${WRITES} writes over ${KEYS} keys, ${CONCURRENCY} in flight, ${CLIENT}, one process, Redis ${redis.version ?? ''}${replica ? ' + 1 replica' : ''}, ${ROUNDS} rounds in rotation`,
  )
  for (let r = 0; r < ROUNDS; r++) {
    const order = runs.map((_, i) => runs[(i + r) % runs.length])
    for (const run of order) await round(run)
    console.log(
      `  round ${r + 1}: ${order.map((run) => `${run.variant.label} ${Math.round(run.rounds.at(-1).writesPerSec)}/s`).join(', ')}  (loadavg ${load()})`,
    )
  }
} finally {
  for (const run of runs) {
    // The floor's write-behind is not the cache's own: closed here.
    if (run.variant.floor) await run.wb.close()
    await run.cache.close()
  }
  await replica?.stop()
  await redis.stop()
}

console.log(
  'variant        writes/s  (slowest–fastest)  × log only  ack ms  drain ms  lag p50  lag p99  flushes  load(1m)',
)
const logOnly = median(
  runs.find((r) => r.variant.label === 'log only')?.rounds.map((x) => x.writesPerSec) ?? [],
)
for (const run of runs) {
  const m = (f) => median(run.rounds.map(f))
  const wps = m((x) => x.writesPerSec)
  const all = run.rounds.map((x) => x.writesPerSec)
  const spread = `(${Math.round(Math.min(...all))}–${Math.round(Math.max(...all))})`
  console.log(
    `${run.variant.label.padEnd(13)} ${fmt(wps, 9)}  ${spread.padStart(17)} ${(logOnly ? (wps / logOnly).toFixed(2) : '-').padStart(11)} ${fmt(
      m((x) => x.ackMs),
      7,
    )} ${fmt(
      m((x) => x.drainMs),
      9,
    )} ${fmt(
      m((x) => x.lagP50),
      8,
    )} ${fmt(
      m((x) => x.lagP99),
      8,
    )} ${fmt(
      m((x) => x.flushes),
      8,
    )} ${m((x) => x.load)
      .toFixed(2)
      .padStart(9)}`,
  )
}
console.log(`loadavg at the end: ${load()} (${os.cpus().length} cores)`)
