// `npm run bench:analyze`: the two scale claims of `stratacache analyze`, measured on this machine.
//  1. A 10-million-line combined access log (generated once into the OS temp dir, ~1.3 GB, deleted
//     after): wall time and peak RSS of `stratacache analyze` run as its own process.
//  2. SHARDS vs exact stack distances on a 1M-event log: mean absolute error of the hit-ratio curve
//     (over 100 evenly spaced sizes, as in the SHARDS paper, and over the log-spaced grid) and speedup.
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
  const time = (profiler) => {
    const t = performance.now()
    for (let i = 0; i < n; i++) profiler.access(keys[i], hashes[i], i)
    return { ms: performance.now() - t, curve: profiler.curve() }
  }
  const exact = time(new ReuseProfiler())
  const sampled = time(new ReuseProfiler({ rate: 0.01 }))
  const at = (curve, size) => {
    let r = 0
    curve.sizes.forEach((z, i) => {
      if (z <= size) r = curve.hitRatios[i]
    })
    return r
  }
  const mae = (sizes) =>
    sizes.reduce((sum, s) => sum + Math.abs(at(exact.curve, s) - at(sampled.curve, s)), 0) / sizes.length
  const even = Array.from({ length: 100 }, (_, i) => Math.round(((i + 1) * exact.curve.distinctKeys) / 100))
  return { exact, sampled, maeEven: mae(even), maeLog: mae(exact.curve.sizes) }
}

const s = shards()
console.log('SHARDS (R = 0.01) vs exact stack distances, 1,000,000 events over 200,000 keys (Zipf 0.9):')
console.log(
  `  exact ${s.exact.ms.toFixed(0)} ms, SHARDS ${s.sampled.ms.toFixed(0)} ms: ${(s.exact.ms / s.sampled.ms).toFixed(1)}x faster`,
)
console.log(
  `  mean absolute error: ${(s.maeEven * 100).toFixed(2)} points over 100 evenly spaced sizes, ` +
    `${(s.maeLog * 100).toFixed(2)} points over the log-spaced grid (1 … ${s.exact.curve.distinctKeys.toLocaleString('en-US')} entries)`,
)

const path = await bigLog()
const { seconds, rss, report, loadAtStart, loadAtEnd } = analyzeRun(path)
console.log(
  `stratacache analyze on ${report.lines.total.toLocaleString('en-US')} lines of combined access log:`,
)
console.log(
  `  ${seconds.toFixed(1)} s wall (${Math.round(report.lines.total / seconds).toLocaleString('en-US')} lines/s), peak RSS ${(rss / 2 ** 20).toFixed(0)} MiB`,
)
// The machine is shared: the load average says how much of it the run had.
const load = (l) => l.map((x) => x.toFixed(2)).join(' ')
console.log(
  `  ${Math.round(report.lines.total / seconds).toLocaleString('en-US')} lines/s; load average (1, 5, 15 min) ` +
    `${load(loadAtStart)} at start, ${load(loadAtEnd)} at end, on ${availableParallelism()} cores`,
)
console.log(
  `  recommended ${report.cache.size.toLocaleString('en-US')} entries ${report.cache.policy}: predicted ${(report.cache.predictedHitRatio * 100).toFixed(1)}%, ` +
    `L1 replay ${(report.cache.measuredL1HitRatio * 100).toFixed(1)}% (sample rate ${(report.cache.rate * 100).toFixed(2)}%)`,
)
if (process.env.KEEP !== '1') rmSync(path, { force: true })
