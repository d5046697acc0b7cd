// What the L1 costs in memory: bytes per entry = heap + ArrayBuffers (RSS beside), for lru-cache 11
// and for stratacache — through the public API (`createCache({ l1: { maxEntries }, l2: false })`,
// default TTL 1 h) and through the bare `MemoryStore` (no expiry) — with each eviction policy, at
// 10k / 100k / 1M entries; and what room for 1,000,000 entries costs while it holds 1,000. A full
// cache is measured at steady state: 2 × capacity distinct keys written, so half were evicted and
// the ghost history is as large as it gets. lru-cache is shown plain and with a TTL (`ttl: 1h`, its
// per-entry expiry arrays), the like-for-like peer of the cache's default. Every figure comes from
// a fresh process (`--expose-gc`, two collections before each reading): the keys and the one shared
// value exist before the first reading, so only what the cache itself allocates is counted. Memory
// figures do not depend on the machine's load; the load average is printed all the same.
// Usage: node bench/memory.js [--json] [--quick]
//        child: node --expose-gc bench/memory.js --child IMPL CAPACITY HELD
import { execFile, spawnSync } from 'node:child_process'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'

const POLICIES = ['w-tinylfu', 'lru', 'sieve', 's3fifo']
export const IMPLS = [
  'lru-cache',
  'lru-cache:ttl',
  ...POLICIES.map((p) => `cache:${p}`),
  ...POLICIES.map((p) => `store:${p}`),
]
const ROOM = 1_000_000
const ROOM_HELD = 1_000
const PARALLEL = 3
const self = fileURLToPath(import.meta.url)

if (process.argv[2] === '--child') {
  const [impl, capacity, held, written = held] = process.argv.slice(3)
  console.log(JSON.stringify(await measure(impl, Number(capacity), Number(held), Number(written))))
} else if (process.argv[1] === self) {
  await parent()
}

/**
 * Runs one measurement in a fresh process: { bytesPerEntry, heap, arrayBuffers, rss } (bytes), after
 * writing `written` distinct keys into a cache with room for `capacity` (it then holds `held`).
 */
export function measureInChild(impl, capacity, held = capacity, written = held) {
  const args = ['--expose-gc', self, '--child', impl, String(capacity), String(held), String(written)]
  const out = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 20 })
  if (out.status !== 0) throw new Error(`${impl} @ ${capacity} failed:\n${out.stderr}`)
  return JSON.parse(out.stdout.trim().split('\n').pop())
}

/** {@link measureInChild}, without blocking: several measurements run side by side. */
function measureApart(impl, capacity, held, written) {
  const args = ['--expose-gc', self, '--child', impl, String(capacity), String(held), String(written)]
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${impl} @ ${capacity} failed:\n${stderr}`))
      else resolve(JSON.parse(stdout.trim().split('\n').pop()))
    })
  })
}

async function parent() {
  const json = process.argv.includes('--json')
  const sizes = process.argv.includes('--quick') ? [100_000] : [10_000, 100_000, 1_000_000]
  const load = () =>
    loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')
  const loadAtStart = load()
  const results = {}
  // Memory does not depend on what else runs: a few fresh processes at a time.
  const jobs = []
  for (const n of sizes) {
    for (const impl of IMPLS) {
      jobs.push([`${impl}@${n}`, [impl, n, n, n]], [`${impl}@${n}/steady`, [impl, n, n, 2 * n]])
    }
  }
  for (const impl of IMPLS) jobs.push([`${impl}@room`, [impl, ROOM, ROOM_HELD, ROOM_HELD]])
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      for (let job = jobs.shift(); job !== undefined; job = jobs.shift()) {
        results[job[0]] = await measureApart(...job[1])
        if (!json) process.stderr.write(`  ${job[0]}: ${results[job[0]].bytesPerEntry.toFixed(1)} B\n`)
      }
    }),
  )
  if (json) {
    console.log(JSON.stringify({ loadAtStart, loadAtEnd: load(), results }, null, 2))
    return
  }
  console.log(`load average at start: ${loadAtStart} (a shared machine; memory figures do not depend on it)`)
  console.log('bytes per entry = (heap + ArrayBuffers) ÷ entries; ratio = this ÷ lru-cache (≤ 1 is leaner)')
  const cell = (text, width) => String(text).padStart(width)
  for (const [phase, suffix] of [
    ['filled (capacity keys written)', ''],
    ['steady state (2 × capacity keys written)', '/steady'],
  ]) {
    console.log(`\n${phase}`)
    console.log(
      `${'implementation'.padEnd(20)}${sizes.map((n) => cell(n.toLocaleString('en-US'), 26)).join('')}`,
    )
    for (const impl of IMPLS) {
      const row = sizes.map((n) => {
        const r = results[`${impl}@${n}${suffix}`]
        const ratio = r.bytesPerEntry / results[`lru-cache@${n}${suffix}`].bytesPerEntry
        return cell(`${r.bytesPerEntry.toFixed(1)} B ${ratio.toFixed(2)}× (${rssPerEntry(r, n)})`, 26)
      })
      console.log(impl.padEnd(20) + row.join(''))
    }
  }
  console.log(
    "(in parentheses: RSS growth per entry, B — includes the allocator's slack and freed pages not yet returned)",
  )
  console.log(
    `\nroom for ${ROOM.toLocaleString('en-US')}, holding ${ROOM_HELD.toLocaleString('en-US')}: heap + ArrayBuffers (RSS growth)`,
  )
  for (const impl of IMPLS) {
    const r = results[`${impl}@room`]
    console.log(`${impl.padEnd(20)}${cell(mb(r.heap + r.arrayBuffers), 10)} (${mb(r.rss)})`)
  }
  console.log(`load average at end: ${load()}`)
}

function rssPerEntry(r, n) {
  return (r.rss / n).toFixed(0)
}

function mb(bytes) {
  return `${(bytes / 1e6).toFixed(2)} MB`
}

async function measure(impl, capacity, held, written) {
  const keys = Array.from({ length: written }, (_, i) => `key:${i}`)
  const value = Object.freeze({ id: 1, name: 'product', price: 9.99 })
  // Load the module and warm its code paths (inserts, growth, evictions) on throwaway instances
  // before the first reading, so that compiled code is not counted as the cache's memory.
  for (let round = 0; round < 3; round++) {
    const warm = await make(impl, 1_000)
    for (let i = 0; i < 10_000; i++) await warm.set(`warm:${i}`, value)
  }
  const before = reading()
  const cache = await make(impl, capacity)
  for (const key of keys) await cache.set(key, value)
  const after = reading()
  if (cache.size() !== held) throw new Error(`${impl} holds ${cache.size()} of ${held}`)
  const heap = after.heap - before.heap
  const arrayBuffers = after.arrayBuffers - before.arrayBuffers
  return { bytesPerEntry: (heap + arrayBuffers) / held, heap, arrayBuffers, rss: after.rss - before.rss }
}

function reading() {
  global.gc()
  global.gc()
  const m = process.memoryUsage()
  return { heap: m.heapUsed, arrayBuffers: m.arrayBuffers, rss: m.rss }
}

/** A uniform set/size face; `set` may return a promise (the cache's does). */
async function make(impl, capacity) {
  if (impl.startsWith('lru-cache')) {
    const { LRUCache } = await import('lru-cache')
    const c = new LRUCache(impl === 'lru-cache:ttl' ? { max: capacity, ttl: 3_600_000 } : { max: capacity })
    return { set: (k, v) => c.set(k, v), size: () => c.size }
  }
  const [kind, policy] = impl.split(':')
  if (kind === 'cache') {
    const { createCache } = await import('../dist/index.js')
    const cache = createCache({ l1: { maxEntries: capacity, policy }, l2: false })
    return { set: (k, v) => cache.set(k, v), size: () => cache.stats().l1Entries }
  }
  const { MemoryStore } = await import('../dist/tiers/memory/memory-store.js')
  const store = new MemoryStore({ maxEntries: capacity, maxBytes: Number.POSITIVE_INFINITY, policy })
  return { set: (k, v) => store.set(k, v, Number.POSITIVE_INFINITY, 1, 0, [], 0), size: () => store.size }
}
