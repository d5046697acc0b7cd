// The L1 store with each eviction policy beside lru-cache, tiny-lru, mnemonist and quick-lru: get-hit,
// get-hit with per-entry TTL, `cache.peek` (stratacache through createCache, beside lru-cache's
// get), set with eviction, and a Zipf read-through loop. Memory is bench/memory.js's (heap +
// ArrayBuffers, a fresh process per figure).
//
// Rotation: every implementation lives in its own child process (same keys, same order), kept for
// the whole capacity; each round runs every implementation once, in an order that rotates from
// round to round, so a burst of load from the other jobs on this shared machine falls on all of
// them alike rather than on whichever ran during it. A figure is the median over the measured
// rounds (one warm-up round first), beside the range over the rounds; a ratio is the median of the
// per-round ratios to lru-cache (each taken within one round), beside their range. Times are the
// child's CPU time (process.cpuUsage: user + system, GC threads included), not wall time, which on a
// loaded machine mostly measures descheduling. The load average is printed with each capacity.
// The plain get-hit loop reads keys from an array (the same string objects every time: V8 caches
// a string's hash in it, which a Map uses and this store's own key index cannot); "key string
// built per call" reads `key:${n}` made afresh, as an application that builds its keys does.
// Placement: every child runs on the same CPU (CPU 0 unless --pin=<CPU list>; --pin=false leaves it
// to the scheduler): why, in bench/lib/pinning.js.
// Usage: node bench/l1-store.js [--json] [--quick] [--capacities=10000,100000] [--impls=sc:lru,…] [--metrics=getHit,…] [--pin=…]
//        (child: forked with --child IMPL CAP)
import { fork } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { rng } from './lib/common.js'
import { describePlacement, placement } from './lib/pinning.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const ALL_IMPLS = [
  'lru-cache',
  'tiny-lru',
  'mnemonist',
  'quick-lru',
  'sc:lru',
  'sc:sieve',
  'sc:s3fifo',
  'sc:w-tinylfu',
]
// --impls=a,b and --metrics=x,y narrow a run (lru-cache, the baseline, is always kept).
const pick = (name) =>
  process.argv
    .find((a) => a.startsWith(`--${name}=`))
    ?.slice(name.length + 3)
    .split(',')
const IMPLS = ALL_IMPLS.filter((i) => i === 'lru-cache' || (pick('impls') ?? ALL_IMPLS).includes(i))
/** [id, label, better, the lru-cache metric it is compared with] */
const ALL_METRICS = [
  ['getHit', 'get hit (ns/op)', 'lower', 'getHit'],
  ['getHitBuilt', 'get hit, key string built per call (ns/op)', 'lower', 'getHitBuilt'],
  ['getHitTtl', 'get hit, per-entry TTL (ns/op)', 'lower', 'getHitTtl'],
  ['peek', 'cache.peek hit vs lru-cache get (ns/op)', 'lower', 'getHit'],
  ['setEvict', 'set with eviction (ns/op)', 'lower', 'setEvict'],
  ['readThrough', 'read-through Zipf 0.99, 10% of keys (Mops/s)', 'higher', 'readThrough'],
]
const wanted = pick('metrics')
const where = placement(pick('pin')?.join(',') ?? '0')
// (A metric compared with another one's lru-cache figure — peek with get-hit — brings that one along.)
const METRICS = ALL_METRICS.filter(
  ([id]) =>
    wanted === undefined || wanted.some((w) => w === id || ALL_METRICS.find((m) => m[0] === w)?.[3] === id),
)
const OPS = 2_000_000
const EVICTING_SETS = 500_000
const NO_TAGS = []
const self = fileURLToPath(import.meta.url)

if (process.argv[2] === '--child') await child(process.argv[3], Number(process.argv[4]))
else await parent()

async function parent() {
  const json = process.argv.includes('--json')
  const only = process.argv.find((a) => a.startsWith('--capacities='))
  const capacities = only
    ? only.slice('--capacities='.length).split(',').map(Number)
    : process.argv.includes('--quick')
      ? [10_000]
      : [10_000, 100_000, 1_000_000]
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')
  const results = {}
  for (const cap of capacities) {
    const loadAtStart = load()
    const children = await Promise.all(IMPLS.map((impl) => start(impl, cap)))
    const rounds = {} // metric → impl → values per measured round
    for (const [metric] of METRICS) {
      rounds[metric] = Object.fromEntries(IMPLS.map((impl) => [impl, []]))
      for (let round = 0; round <= ROUNDS; round++) {
        for (let k = 0; k < IMPLS.length; k++) {
          const i = (k + round) % IMPLS.length
          const value = await children[i].run(metric)
          if (round > 0) rounds[metric][IMPLS[i]].push(value)
        }
      }
      if (!json) process.stderr.write(`  ${cap}: ${metric} done (load ${load()})\n`)
    }
    for (const c of children) c.stop()
    results[cap] = { loadAtStart, loadAtEnd: load(), rounds }
    if (!json) print(cap, results[cap])
  }
  if (json) console.log(JSON.stringify(results, null, 2))
}

/** Prints one capacity's table (as soon as it is measured: the larger capacities take long). */
function print(cap, { loadAtStart, loadAtEnd, rounds }) {
  console.log(
    `\ncapacity ${cap.toLocaleString('en-US')} — ${ROUNDS} rounds, implementations rotated each round; load average ${loadAtStart} at start, ${loadAtEnd} at end (a shared machine); ${describePlacement(where)}`,
  )
  console.log(
    'median [range over rounds]; ratio to lru-cache = median of per-round ratios [their range], > 1 is better',
  )
  for (const [metric, label, better, base] of METRICS) {
    console.log(`  ${label}`)
    const baseline = rounds[base]['lru-cache']
    for (const impl of IMPLS) {
      const values = rounds[metric][impl]
      if (values.every((v) => v === null)) continue
      const ratios = values.map((v, r) => (better === 'lower' ? baseline[r] / v : v / baseline[r]))
      const show = (v) => (metric === 'readThrough' ? (v / 1e6).toFixed(2) : v.toFixed(1))
      console.log(
        `    ${impl.padEnd(14)}${show(median(values)).padStart(8)} [${show(Math.min(...values))}–${show(Math.max(...values))}]`.padEnd(
          48,
        ) +
          `${median(ratios).toFixed(2)}× [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`,
      )
    }
  }
}

/** Forks a child for `impl` at `cap`; resolves once it has filled its caches. */
function start(impl, cap) {
  // (Pinned: fork runs `taskset -c <cpus> node --expose-gc <this file> …`; the IPC channel passes through.)
  const options =
    where === undefined
      ? { execArgv: ['--expose-gc'] }
      : { execPath: 'taskset', execArgv: ['-c', where.measured, process.execPath, '--expose-gc'] }
  const proc = fork(self, ['--child', impl, String(cap)], { ...options, stdio: 'inherit' })
  let waiting
  proc.on('message', (m) => waiting?.(m))
  proc.on('exit', (code) => {
    if (code !== 0 && code !== null) throw new Error(`${impl} @ ${cap} exited with ${code}`)
  })
  const next = () => new Promise((resolve) => (waiting = resolve))
  return next().then(() => ({
    run(metric) {
      const reply = next()
      proc.send(metric)
      return reply.then((m) => m.value)
    },
    stop: () => proc.kill(),
  }))
}

async function child(impl, cap) {
  const keys = Array.from({ length: cap * 2 }, (_, i) => `key:${i}`)
  const value = { id: 1, name: 'product', price: 9.99 }
  const next = rng(7)
  const seq = new Uint32Array(1 << 16)
  for (let i = 0; i < seq.length; i++) seq[i] = Math.floor(next() * cap)
  const cache = await make(impl, cap)
  for (let i = 0; i < cap; i++) cache.set(keys[i], value)
  const ttlCache = await make(impl, cap, 3_600_000)
  if (ttlCache !== undefined) for (let i = 0; i < cap; i++) ttlCache.set(keys[i], value)
  const peekable = impl.startsWith('sc:') ? await cacheOf(impl.slice(3), cap) : undefined
  if (peekable !== undefined) for (let i = 0; i < cap; i++) await peekable.set(keys[i], value)
  // A fresh cache per read-through round: Zipf 0.99 over 10 × cap keys, get and on a miss set.
  const { ScrambledZipfianGenerator, Random } = await import('../dist/simulation/index.js')
  const zipf = new ScrambledZipfianGenerator(cap * 10, 0.99)
  const random = new Random(11)
  const trace = Array.from({ length: 1 << 20 }, () => `z:${zipf.next(random)}`)
  let fresh = cap

  const rounds = {
    getHit: () => hits((k) => cache.get(k)),
    // As an application reads: the key is a new string each time (V8 has not hashed it yet).
    getHitBuilt: () => builtHits((k) => cache.get(k)),
    getHitTtl: () => (ttlCache === undefined ? null : hits((k) => ttlCache.get(k))),
    peek: () => (peekable === undefined ? null : hits((k) => peekable.peek(k))),
    setEvict() {
      const t = cpuNs()
      for (let i = 0; i < EVICTING_SETS; i++) cache.set(`new:${fresh++}`, value)
      // (The hit rounds ran before: every metric's rounds run before the next metric's.)
      return (cpuNs() - t) / EVICTING_SETS
    },
    async readThrough() {
      const rt = await make(impl, cap)
      const t = cpuNs()
      for (let i = 0; i < trace.length; i++) {
        const k = trace[i]
        if (rt.get(k) === undefined) rt.set(k, value)
      }
      return trace.length / ((cpuNs() - t) / 1e9)
    },
  }
  function hits(read) {
    let x
    const t = cpuNs()
    for (let i = 0; i < OPS; i++) x = read(keys[seq[i & 65535]])
    const ns = (cpuNs() - t) / OPS
    if (x === undefined) throw new Error(`${impl}: a miss in a hit round`)
    return ns
  }
  function builtHits(read) {
    let x
    const t = cpuNs()
    for (let i = 0; i < OPS; i++) x = read(`key:${seq[i & 65535]}`)
    const ns = (cpuNs() - t) / OPS
    if (x === undefined) throw new Error(`${impl}: a miss in a hit round`)
    return ns
  }
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (metric) => {
    process.send({ value: await rounds[metric]() })
  })
  process.send({ ready: true })
}

/** CPU time of this process so far, in ns. */
function cpuNs() {
  const { user, system } = process.cpuUsage()
  return (user + system) * 1000
}

function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[sorted.length >> 1]
}

/** createCache with the given policy (default options otherwise: TTL 1 h), for peek. */
async function cacheOf(policy, cap) {
  const { createCache } = await import('../dist/index.js')
  return createCache({ l1: { maxEntries: cap, policy }, l2: false })
}

/** A uniform get/set face over each implementation; undefined when it has no per-entry TTL. */
async function make(impl, cap, ttlMs) {
  switch (impl) {
    case 'lru-cache': {
      const { LRUCache } = await import('lru-cache')
      const c = new LRUCache(ttlMs ? { max: cap, ttl: ttlMs } : { max: cap })
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v) }
    }
    case 'tiny-lru': {
      const { lru } = await import('tiny-lru')
      const c = lru(cap, ttlMs ?? 0)
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v) }
    }
    case 'mnemonist': {
      if (ttlMs) return undefined
      const { LRUCache } = await import('mnemonist')
      const c = new LRUCache(cap)
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v) }
    }
    case 'quick-lru': {
      const { default: QuickLRU } = await import('quick-lru')
      const c = new QuickLRU(ttlMs ? { maxSize: cap, maxAge: ttlMs } : { maxSize: cap })
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v) }
    }
    default: {
      const policy = impl.slice(3)
      const { MemoryStore, MISS } = await import('../dist/tiers/memory/memory-store.js')
      const store = new MemoryStore({ maxEntries: cap, maxBytes: Number.POSITIVE_INFINITY, policy })
      // The cache reads its coarse clock once per call; a constant stands for it here.
      const now = ttlMs ? Date.now() : 0
      const expiresAt = ttlMs ? now + ttlMs : Number.POSITIVE_INFINITY
      return {
        get: (k) => {
          const v = store.get(k, now)
          return v === MISS ? undefined : v
        },
        set: (k, v) => store.set(k, v, expiresAt, 1, 0, NO_TAGS, now),
      }
    }
  }
}
