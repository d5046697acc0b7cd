// Shared helpers of the benchmark cases: seeded data, the measuring loop, and the result line.
// A case is run as `node bench/cases/<case>.js <impl>`; it prints exactly one JSON line on stdout.
import path from 'node:path'
import { pathToFileURL } from 'node:url'

/**
 * stratacache's built entry point: this checkout's dist/, or the build named by BENCH_DIST (an
 * absolute path to another build's dist/ — bench/ab.js measures two builds with the same case
 * code that way).
 */
export function strataModule(file = 'index.js') {
  const dist = process.env.BENCH_DIST
  if (dist === undefined || dist === '') return import(new URL(`../../dist/${file}`, import.meta.url).href)
  return import(pathToFileURL(path.join(dist, file)).href)
}

/** Measured rounds per measurement (after the warm-up). Override with BENCH_ROUNDS. */
export const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)

/** mulberry32: a small seeded PRNG, so every implementation sees the same keys, values and order. */
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export const KEY_COUNT = 10_000
/** Length of the access sequence (a power of two, indexed with `& SEQ_MASK`). */
export const SEQ_LENGTH = 1 << 16
export const SEQ_MASK = SEQ_LENGTH - 1

export function makeKeys(n = KEY_COUNT) {
  return Array.from({ length: n }, (_, i) => `product:${i}`)
}

/** A fixed pseudo-random access pattern over `n` keys (uniform, seeded). */
export function makeSequence(n = KEY_COUNT, seed = 42) {
  const next = rng(seed)
  const seq = new Uint32Array(SEQ_LENGTH)
  for (let i = 0; i < SEQ_LENGTH; i++) seq[i] = Math.floor(next() * n)
  return seq
}

const WORDS = [
  'steel',
  'oak',
  'compact',
  'wireless',
  'organic',
  'premium',
  'travel',
  'kitchen',
  'outdoor',
  'classic',
  'ultra',
  'smart',
  'eco',
  'vintage',
  'pro',
  'mini',
]
const COLORS = ['black', 'white', 'red', 'blue', 'green', 'grey', 'navy', 'sand']

function words(next, n) {
  let out = ''
  for (let i = 0; i < n; i++) out += (i ? ' ' : '') + WORDS[Math.floor(next() * WORDS.length)]
  return out
}

function price(next) {
  return Math.round(next() * 50_000) / 100
}

/**
 * A realistic product object. `size` picks the shape: 'small' (~100 B of JSON), 'medium'
 * (~500 B) or 'large' (~2 KB). Same seed, same object.
 */
export function product(next, id, size = 'medium') {
  const base = {
    id,
    sku: `SKU-${(100000 + id).toString(36).toUpperCase()}`,
    name: words(next, 3),
    price: price(next),
    tags: [words(next, 1), words(next, 1)],
  }
  if (size === 'small') return base
  Object.assign(base, {
    currency: 'EUR',
    inStock: next() > 0.2,
    stock: Math.floor(next() * 500),
    category: { id: Math.floor(next() * 200), slug: words(next, 1), path: ['home', words(next, 1)] },
    rating: { average: Math.round(next() * 50) / 10, count: Math.floor(next() * 3000) },
    brand: words(next, 2),
    description: `${words(next, 16)}.`,
    images: [`/img/${id}/1.jpg`, `/img/${id}/2.jpg`],
    updatedAt: '2025-11-20T10:15:00.000Z',
  })
  base.tags.push(words(next, 1), words(next, 1))
  if (size === 'medium') return base
  base.description = `${words(next, 40)}.`
  base.variants = Array.from({ length: 10 }, (_, i) => ({
    sku: `${base.sku}-${i}`,
    color: COLORS[i % COLORS.length],
    size: ['S', 'M', 'L', 'XL'][i % 4],
    price: price(next),
    stock: Math.floor(next() * 100),
    dimensions: { w: Math.round(next() * 1000) / 10, h: Math.round(next() * 1000) / 10, unit: 'cm' },
  }))
  base.attributes = { material: words(next, 2), warranty: '2y', origin: 'PT', weightGrams: 1200 }
  return base
}

/** `n` products of one size, seeded. */
export function products(n, size, seed = 7) {
  const next = rng(seed)
  return Array.from({ length: n }, (_, i) => product(next, i, size))
}

function now() {
  return process.hrtime.bigint()
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const DEFAULTS = { targetMs: 100, warmupMs: 250, minOps: 200, maxOps: 2_000_000, warmupOps: 0 }
/** However many `warmupOps` are asked for, a warm-up stops after this long. */
const WARMUP_CAP_MS = 6_000

/**
 * Warm-up of at least `warmupMs` (and, when asked, at least `warmupOps` operations, up to
 * {@link WARMUP_CAP_MS}) running `run(ops)` (which performs `ops` operations, sync or async),
 * growing `ops` until one call fills about `targetMs`. Returns the calibrated `ops`.
 * (An operation count, not a time, is what brings V8's optimizing tiers in: they count calls. A
 * path of many small functions settles later than one of few — seen: 20,000–25,000 sequential L2
 * reads, 2–3 s at ~100 µs each, where a 400 ms warm-up measured one build still settling.)
 */
export async function warmUp(run, options = {}) {
  const { targetMs, warmupMs, minOps, maxOps, warmupOps } = { ...DEFAULTS, ...options }
  let ops = minOps
  let spent = 0
  let done = 0
  let nsPerOp = 0
  while (spent < warmupMs * 1e6 || (done < warmupOps && spent < WARMUP_CAP_MS * 1e6)) {
    const start = now()
    await run(ops)
    const elapsed = Number(now() - start)
    spent += elapsed
    done += ops
    nsPerOp = elapsed / ops
    ops = Math.min(maxOps, Math.max(minOps, Math.ceil(Math.min(ops * 4, (targetMs * 1e6) / nsPerOp))))
  }
  return Math.min(maxOps, Math.max(minOps, Math.ceil((targetMs * 1e6) / nsPerOp)))
}

/**
 * One measured round: wall ns per op, and this process's CPU time (user + system, all threads)
 * per op — for I/O cases that is the client-side cost.
 */
export async function round(run, ops) {
  const cpuStart = process.cpuUsage()
  const start = now()
  await run(ops)
  const ns = Number(now() - start) / ops
  const used = process.cpuUsage(cpuStart)
  return { ns, cpu: ((used.user + used.system) * 1000) / ops }
}

const MARK = '@@bench '

function send(message) {
  process.stdout.write(`${MARK}${JSON.stringify(message)}\n`)
}

/**
 * Runs a case. `setup()` resolves to { describe, measurements: { name: { run, ...options } },
 * finish?() → extra fields }.
 *
 * Driven by bench/run.js (BENCH_DRIVEN=1): answers commands on stdin — `warmup <name> [<at least this many ops>]`,
 * `round <name>`, `finish` — one protocol line on stdout each, so the runner can interleave the
 * rounds of implementations living in different processes (A B C, B C A, …): drift of a shared
 * machine then hits all of them alike.
 *
 * Standalone (`node bench/cases/x.js impl`, e.g. under --cpu-prof): warms up, runs ROUNDS
 * rounds of each measurement and prints one JSON result.
 */
export function serve(setup) {
  const fail = (error) => {
    console.error(error)
    process.exit(1)
  }
  if (process.env.BENCH_DRIVEN !== '1') {
    ;(async () => {
      const subject = await setup()
      const measurements = {}
      for (const [name, m] of Object.entries(subject.measurements)) {
        const ops = await warmUp(m.run, m)
        const rounds = []
        for (let r = 0; r < ROUNDS; r++) rounds.push(await round(m.run, ops))
        const ns = rounds.map((x) => x.ns)
        const cpu = rounds.map((x) => x.cpu)
        measurements[name] = { ops, rounds: ns, median: median(ns), cpu, cpuMedian: median(cpu) }
      }
      const extra = (await subject.finish?.()) ?? {}
      process.stdout.write(`${JSON.stringify({ describe: subject.describe, measurements, ...extra })}\n`)
      process.exit(0)
    })().catch(fail)
    return
  }
  let subject
  const ops = {}
  let chain = setup().then((s) => {
    subject = s
    send({ type: 'ready', describe: s.describe, names: Object.keys(s.measurements) })
  }, fail)
  let buffered = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk) => {
    buffered += chunk
    let nl = buffered.indexOf('\n')
    while (nl >= 0) {
      const line = buffered.slice(0, nl).trim()
      buffered = buffered.slice(nl + 1)
      nl = buffered.indexOf('\n')
      if (line) chain = chain.then(() => handle(line)).catch(fail)
    }
  })
  async function handle(line) {
    const [cmd, name, warmupOps] = line.split(' ')
    if (cmd === 'warmup') {
      const m = subject.measurements[name]
      ops[name] = await warmUp(m.run, { ...m, warmupOps: Number(warmupOps ?? 0) })
      send({ type: 'warm', name, ops: ops[name] })
    } else if (cmd === 'round') {
      send({
        type: 'round',
        name,
        ops: ops[name],
        ...(await round(subject.measurements[name].run, ops[name])),
      })
    } else if (cmd === 'finish') {
      send({ type: 'final', extra: (await subject.finish?.()) ?? {} })
      process.exit(0)
    } else throw new Error(`unknown command ${line}`)
  }
}
