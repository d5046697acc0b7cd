// The L1 store with each eviction policy beside lru-cache, tiny-lru, mnemonist and quick-lru:
// get-hit, set with eviction, a Zipf read-through loop, get-hit with per-entry TTL, heap bytes per
// entry. Each implementation runs in its own child process (same keys, same order); each number
// is the median of ROUNDS measured rounds after a warm-up. Times are the process's CPU time
// (process.cpuUsage: user + system, GC threads included), not wall time: on a machine shared with
// other jobs, wall time mostly measures how often the process was descheduled.
// Usage: node bench/l1-store.js [--json] [--quick]     (child: node --expose-gc bench/l1-store.js --child IMPL CAP)
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { rng } from './lib/common.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const IMPLS = [
  'lru-cache',
  'tiny-lru',
  'mnemonist',
  'quick-lru',
  'sc:lru',
  'sc:sieve',
  'sc:s3fifo',
  'sc:w-tinylfu',
]
const self = fileURLToPath(import.meta.url)
const NO_TAGS = []

if (process.argv[2] === '--child') {
  await child(process.argv[3], Number(process.argv[4]))
} else {
  await parent()
}

async function parent() {
  const json = process.argv.includes('--json')
  const capacities = process.argv.includes('--quick') ? [10_000] : [10_000, 100_000, 1_000_000]
  const results = {}
  for (const cap of capacities) {
    for (const impl of IMPLS) {
      const out = spawnSync(process.execPath, ['--expose-gc', self, '--child', impl, String(cap)], {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      })
      if (out.status !== 0) throw new Error(`${impl} @ ${cap} failed:\n${out.stderr}`)
      results[`${impl}@${cap}`] = JSON.parse(out.stdout.trim().split('\n').pop())
      if (!json) process.stderr.write(`  ${impl} @ ${cap} done\n`)
    }
  }
  if (json) {
    console.log(JSON.stringify(results, null, 2))
    return
  }
  const metrics = [
    ['getHit', 'get hit (ns/op)', 'lower'],
    ['setEvict', 'set with eviction (ns/op)', 'lower'],
    ['getHitTtl', 'get hit, per-entry TTL (ns/op)', 'lower'],
    ['readThroughOps', 'read-through Zipf 0.99, 10% of keys (Mops/s)', 'higher'],
    ['readThroughHit', 'read-through hit ratio (%)', 'higher'],
    ['bytesPerEntry', 'heap bytes per entry', 'lower'],
  ]
  for (const cap of capacities) {
    console.log(
      `\ncapacity ${cap.toLocaleString('en-US')} — ratio = lru-cache ÷ this for costs, this ÷ lru-cache for rates (> 1 is better)`,
    )
    const header = ['metric', ...IMPLS]
    console.log(header.map((h, i) => (i === 0 ? h.padEnd(46) : h.padStart(14))).join(''))
    for (const [id, label, better] of metrics) {
      const base = results[`lru-cache@${cap}`][id]
      const cells = IMPLS.map((impl) => {
        const v = results[`${impl}@${cap}`][id]
        if (v === null || v === undefined) return 'n/a'.padStart(14)
        const ratio = better === 'lower' ? base / v : v / base
        const shown = id === 'readThroughOps' ? (v / 1e6).toFixed(2) : v.toFixed(1)
        return `${shown} ${ratio.toFixed(2)}×`.padStart(14)
      })
      console.log(label.padEnd(46) + cells.join(''))
    }
  }
}

async function child(impl, cap) {
  const cache = await make(impl, cap)
  const keys = Array.from({ length: cap * 2 }, (_, i) => `key:${i}`)
  const value = { id: 1, name: 'product', price: 9.99 }
  const next = rng(7)
  const seq = new Uint32Array(1 << 16)
  for (let i = 0; i < seq.length; i++) seq[i] = Math.floor(next() * cap)
  const out = {}

  // heap bytes per entry: fill a fresh cache with cap distinct keys sharing one value
  {
    const ks = Array.from({ length: cap }, (_, i) => `mem:${i}`)
    await make(impl, 16) // load the module before measuring
    global.gc()
    global.gc()
    const before = process.memoryUsage().heapUsed
    // Construction is inside the measurement: some caches preallocate their arrays.
    const fresh = await make(impl, cap)
    for (const k of ks) fresh.set(k, value)
    global.gc()
    global.gc()
    out.bytesPerEntry = (process.memoryUsage().heapUsed - before) / cap
    if (fresh.size() !== cap) throw new Error(`${impl} holds ${fresh.size()} of ${cap}`)
  }

  for (let i = 0; i < cap; i++) cache.set(keys[i], value)
  const OPS = 2_000_000
  out.getHit = median(() => {
    let x
    const t = cpuNs()
    for (let i = 0; i < OPS; i++) x = cache.get(keys[seq[i & 65535]])
    if (x === undefined) throw new Error('miss in get-hit')
    return (cpuNs() - t) / OPS
  })

  let fresh = cap
  out.setEvict = median(() => {
    const n = 500_000
    const t = cpuNs()
    for (let i = 0; i < n; i++) cache.set(`new:${fresh++}`, value)
    return (cpuNs() - t) / n
  })

  // per-entry TTL (1 h) on every entry: the expiry check on each hit
  if (impl === 'tiny-lru' || impl === 'mnemonist' || impl === 'quick-lru') {
    out.getHitTtl = null
    if (impl === 'tiny-lru' || impl === 'quick-lru') {
      const ttlCache = await make(impl, cap, 3_600_000)
      for (let i = 0; i < cap; i++) ttlCache.set(keys[i], value)
      out.getHitTtl = median(() => {
        const t = cpuNs()
        for (let i = 0; i < OPS; i++) ttlCache.get(keys[seq[i & 65535]])
        return (cpuNs() - t) / OPS
      })
    }
  } else {
    const ttlCache = await make(impl, cap, 3_600_000)
    for (let i = 0; i < cap; i++) ttlCache.set(keys[i], value)
    out.getHitTtl = median(() => {
      let x
      const t = cpuNs()
      for (let i = 0; i < OPS; i++) x = ttlCache.get(keys[seq[i & 65535]])
      if (x === undefined) throw new Error('miss in get-hit with TTL')
      return (cpuNs() - t) / OPS
    })
  }

  // read-through: Zipf 0.99 over 10 × cap keys, capacity cap; get, and on a miss set
  {
    const { ScrambledZipfianGenerator, Random } = await import('../dist/simulation/index.js')
    const n = cap * 10
    const zipf = new ScrambledZipfianGenerator(n, 0.99)
    const random = new Random(11)
    const reqs = 1 << 20
    const trace = new Array(reqs)
    for (let i = 0; i < reqs; i++) trace[i] = `z:${zipf.next(random)}`
    let hits = 0
    const rates = []
    for (let r = 0; r < ROUNDS + 1; r++) {
      const rt = await make(impl, cap)
      hits = 0
      const t = cpuNs()
      for (let i = 0; i < reqs; i++) {
        const k = trace[i]
        if (rt.get(k) !== undefined) hits++
        else rt.set(k, value)
      }
      if (r > 0) rates.push(reqs / ((cpuNs() - t) / 1e9))
    }
    rates.sort((a, b) => a - b)
    out.readThroughOps = rates[rates.length >> 1]
    out.readThroughHit = (100 * hits) / reqs
  }
  console.log(JSON.stringify(out))
}

/** CPU time of this process so far, in ns. */
function cpuNs() {
  const { user, system } = process.cpuUsage()
  return (user + system) * 1000
}

function median(fn) {
  fn() // warm-up
  const xs = []
  for (let r = 0; r < ROUNDS; r++) xs.push(fn())
  xs.sort((a, b) => a - b)
  return xs[xs.length >> 1]
}

/** A uniform get/set/size face over each implementation. */
async function make(impl, cap, ttlMs) {
  switch (impl) {
    case 'lru-cache': {
      const { LRUCache } = await import('lru-cache')
      const c = new LRUCache(ttlMs ? { max: cap, ttl: ttlMs } : { max: cap })
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v), size: () => c.size }
    }
    case 'tiny-lru': {
      const { lru } = await import('tiny-lru')
      const c = lru(cap, ttlMs ?? 0)
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v), size: () => c.size }
    }
    case 'mnemonist': {
      const { LRUCache } = await import('mnemonist')
      const c = new LRUCache(cap)
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v), size: () => c.size }
    }
    case 'quick-lru': {
      const { default: QuickLRU } = await import('quick-lru')
      const c = new QuickLRU(ttlMs ? { maxSize: cap, maxAge: ttlMs } : { maxSize: cap })
      return { get: (k) => c.get(k), set: (k, v) => c.set(k, v), size: () => c.size }
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
        size: () => store.size,
      }
    }
  }
}
