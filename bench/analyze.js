// `npm run bench:analyze`: the two scale claims of `stratacache analyze`, measured on this machine.
//  1. A 10-million-line combined access log (generated once into the OS temp dir, ~1.3 GB, deleted
//     after): wall time and peak RSS of `stratacache analyze` run as its own process.
//  2. SHARDS (R = 0.01, with reuse times for small caches) vs exact stack distances on a 1M-event
//     log: mean absolute error of the hit-ratio curve over 100 log-spaced sizes (the grid users
//     read) and 100 evenly spaced ones (the SHARDS paper's), and CPU time of each.
import { spawnSync } from 'node:child_process'
import { existsSync, rmSync } from 'node:fs'
import { availableParallelism, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { SHOP_WORKLOAD, writeWorkloadLog } from '../dist/analysis/generate/index.js'
import { ReuseProfiler } from '../dist/analysis/mrc/reuse-profiler.js'
import { hashKey } from '../dist/eviction/policy.js'
import { Random } from '../dist/simulation/random.js'
import { ScrambledZipfianGenerator } from '../dist/simulation/zipf.js'

const LINES = Number(process.env.LINES ?? 10_000_000)

async function bigLog() {
  const path = join(tmpdir(), `stratacache-bench-${LINES}.log`)
  if (!existsSync(path)) {
    const t = performance.now()
    const types = SHOP_WORKLOAD.map((type) => ({ ...type, entities: type.entities * 40 }))
    await writeWorkloadLog(path, { types, readsPerSecond: 2000, events: LINES, seed: 7 }, 'combined')
    console.log(
      `generated ${LINES.toLocaleString('en-US')} lines in ${((performance.now() - t) / 1000).toFixed(1)} s: ${path}`,
    )
  }
  return path
}

function analyzeRun(path) {
  const bin = new URL('../bin/stratacache.js', import.meta.url).pathname
  const loadAtStart = loadavg()
  const t = performance.now()
  // /usr/bin/time -v reports the child's peak RSS (max resident set size).
  const run = spawnSync('/usr/bin/time', ['-v', process.execPath, bin, 'analyze', path, '--json'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  const seconds = (performance.now() - t) / 1000
  if (run.status !== 0) throw new Error(`analyze failed (${run.status}): ${run.stderr.slice(-2000)}`)
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(run.stderr)?.[1] ?? Number.NaN) * 1024
  const report = JSON.parse(run.stdout)
  return { seconds, rss, report, loadAtStart, loadAtEnd: loadavg() }
}

function shards() {
  const random = new Random(3)
  const zipf = new ScrambledZipfianGenerator(200_000, 0.9)
  const n = 1_000_000
  const keys = new Array(n)
  const hashes = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    keys[i] = `item:${zipf.next(random)}`
    hashes[i] = hashKey(keys[i])
  }
  const exact = () => new ReuseProfiler()
  const sampled = () => new ReuseProfiler({ rate: 0.01, reuseTimeBits: 15 })
  // CPU time of this process (user + system) for one pass and its curve.
  const run = (make, events = n) => {
    const profiler = make()
    const started = process.cpuUsage()
    for (let i = 0; i < events; i++) profiler.access(keys[i], hashes[i], i)
    const curve = profiler.curve()
    const used = process.cpuUsage(started)
    return { ms: (used.user + used.system) / 1000, curve }
  }
  run(exact, 100_000) // warm-up (JIT)
  run(sampled, 100_000)
  const rounds = { exact: [], sampled: [] }
  for (let round = 0; round < 5; round++) {
    // Rotated: which one runs first alternates.
    const order = round % 2 === 0 ? ['exact', 'sampled'] : ['sampled', 'exact']
    for (const name of order) rounds[name].push(run(name === 'exact' ? exact : sampled))
  }
  const stats = (runs) => {
    const ms = runs.map((r) => r.ms).sort((a, b) => a - b)
    return { median: ms[Math.floor(ms.length / 2)], min: ms[0], max: ms[ms.length - 1] }
  }
  const e = rounds.exact[0].curve
  const s = rounds.sampled[0].curve
  const at = (curve, size) => {
    let r = 0
    curve.sizes.forEach((z, i) => {
      if (z <= size) r = curve.hitRatios[i]
    })
    return r
  }
  const mae = (sizes) =>
    sizes.reduce((sum, size) => sum + Math.abs(at(e, size) - at(s, size)), 0) / sizes.length
  const even = Array.from({ length: 100 }, (_, i) => Math.round(((i + 1) * e.distinctKeys) / 100))
  const log = Array.from({ length: 100 }, (_, i) =>
    Math.max(1, Math.round(Math.exp((i * Math.log(e.distinctKeys)) / 99))),
  )
  return {
    exact: stats(rounds.exact),
    sampled: stats(rounds.sampled),
    maeEven: mae(even),
    maeLog: mae(log),
    keys: e.distinctKeys,
  }
}

// The machine is shared: the load average says how much of it the run had.
const load = (l) => l.map((x) => x.toFixed(2)).join(' ')
const loadBefore = loadavg()
const s = shards()
console.log(
  'SHARDS (R = 0.01, reuse times below 32/R) vs exact stack distances, 1,000,000 events over 200,000 keys (Zipf 0.9):',
)
console.log(
  `  CPU time, median of 5 rotated rounds (min–max): exact ${s.exact.median.toFixed(0)} ms (${s.exact.min.toFixed(0)}–${s.exact.max.toFixed(0)}), ` +
    `sampled ${s.sampled.median.toFixed(0)} ms (${s.sampled.min.toFixed(0)}–${s.sampled.max.toFixed(0)}): ${(s.exact.median / s.sampled.median).toFixed(1)}x less`,
)
console.log(
  `  mean absolute error: ${(s.maeLog * 100).toFixed(2)} points over 100 log-spaced sizes (1 … ${s.keys.toLocaleString('en-US')} entries), ` +
    `${(s.maeEven * 100).toFixed(2)} points over 100 evenly spaced sizes`,
)
console.log(
  `  load average (1, 5, 15 min) ${load(loadBefore)} before, ${load(loadavg())} after, on ${availableParallelism()} cores (shared machine)`,
)

const path = await bigLog()
const { seconds, rss, report, loadAtStart, loadAtEnd } = analyzeRun(path)
console.log(
  `stratacache analyze on ${report.lines.total.toLocaleString('en-US')} lines of combined access log:`,
)
console.log(
  `  ${seconds.toFixed(1)} s wall (${Math.round(report.lines.total / seconds).toLocaleString('en-US')} lines/s), peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
)
console.log(
  `  ${Math.round(report.lines.total / seconds).toLocaleString('en-US')} lines/s; load average (1, 5, 15 min) ` +
    `${load(loadAtStart)} at start, ${load(loadAtEnd)} at end, on ${availableParallelism()} cores`,
)
console.log(
  `  recommended ${report.cache.size.toLocaleString('en-US')} entries ${report.cache.policy}: predicted ${(report.cache.predictedHitRatio * 100).toFixed(1)}% ± ${(report.cache.errorBand * 100).toFixed(1)} points, ` +
    `capacity only ${(report.cache.capacityHitRatio * 100).toFixed(1)}%, with an L2 ${(report.cache.withL2HitRatio * 100).toFixed(1)}% (sample rate ${(report.cache.rate * 100).toFixed(2)}%)`,
)
if (process.env.KEEP !== '1') rmSync(path, { force: true })
