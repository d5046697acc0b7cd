// The default policy's adaptation, judged on three sets of workloads (docs/eviction.md, "The
// sets"): the TUNING set, the workloads its settings were chosen on; the VALIDATION set (every real
// trace, and generated workloads with other kinds, parameters and seeds), held out until issue 22's
// second round, whose screening looked at its large rows; and the HELD-OUT set, generated after that
// round's settings were fixed. Each at 0.1%, 1%, 5%, 10% and 20% of its distinct keys; the bar on
// every row: default ≥ max(LRU, ARC) − 1.5 and ≥ LRU − 2.
// Usage: node bench/adaptation.js [--set tuning|validation|held-out] [--only TEXT] [--quick] [--json] [--s3fifo] [--opt]
//   --only TEXT  only the workloads whose name contains TEXT
//   --quick      sizes 1% and 10% only (about 2/5 of the time); the acceptance table needs the full run
// Timings are printed beside the load average (os.loadavg()): under load they are provisional.
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { DEFAULTS } from '../dist/index.js'
import { fileTraceSource, simulate, syntheticTraceSource } from '../dist/simulation/index.js'

const TRACES = resolve(import.meta.dirname, '../traces')
const quick = process.argv.includes('--quick')
const SIZES = quick ? ['1%', '10%'] : ['0.1%', '1%', '5%', '10%', '20%']
const load = () =>
  `load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`
const DEFAULT = DEFAULTS.l1Policy
const arg = (name) => {
  const i = process.argv.indexOf(name)
  return i === -1 ? undefined : process.argv[i + 1]
}
const json = process.argv.includes('--json')
const extra = ['s3fifo', 'opt'].filter((p) => process.argv.includes(`--${p}`))
const policies = ['lru', 'arc', DEFAULT, ...extra]

/** [spec, seed]: generated workloads of about 1 million requests each. */
export const TUNING = [
  ['recent:0.3:1e5', 1],
  ['recent:0.6:1e5:5e5:theta=0', 1],
  ['recent:0.5:2e5:5e5:theta=0.5', 1],
  ['recent:0.45:2e5:8e5:theta=0.3', 1],
  ['drift:10000', 1],
  ['phases:0.9:1e5', 1],
  ['zipf:0.8:1e5', 1],
  ['scan-zipf:0.99:1e5', 1],
  ['shifting:1000', 1],
  ['loop:2000', 1],
]
export const VALIDATION_GENERATED = [
  ['recent:0.4:3e5:1e6:theta=0.2', 7],
  ['drift:4000:0.05:1e6:0.8', 7],
  ['phases:0.7:5e4:phase=150k:fresh=0.4:reach=2e5:theta=0.5', 7],
  ['lirs-mix:5000:0.8:1e5', 7],
  ['arc-mix:0.9:1e5', 7],
  ['cdn:0.8:1e5', 7],
  ['zipf:0.99:1e5', 7],
]
/**
 * Generated after the large-cache settings of issue 22's second round were fixed (that round's
 * screening looked at every large row of the validation set, so those rows no longer judge it
 * blind): other parameters and seed 11, measured once, in the final table (docs/eviction.md).
 */
export const HELD_OUT = [
  ['recent:0.5:2.5e5:1e6:theta=0.1', 11],
  ['cdn:0.9:1e5:onehit=0.4', 11],
  ['arc-mix:0.8:1e5:recent-share=0.7', 11],
  ['drift:6000:0.08', 11],
  ['phases:0.8:1e5:fresh=0.5', 11],
]
export const VALIDATION_REAL = [
  ['arc-OLTP.lis.gz', 'arc'],
  ['cache2k-web07.trace.gz', 'cache2k'],
  ['cache2k-web12.trace.gz', 'cache2k'],
  ['cache2k-orm-busy.trace.gz', 'cache2k'],
  ['cache2k-orm-night.trace.gz', 'cache2k'],
]

function sources(set) {
  const generated = (list) =>
    list.map(([spec, seed]) => ({
      set,
      name: `${spec} seed=${seed}`,
      source: syntheticTraceSource(spec, seed),
    }))
  if (set === 'tuning') return generated(TUNING)
  if (set === 'held-out') return generated(HELD_OUT)
  return [
    ...VALIDATION_REAL.map(([file, format]) => {
      const path = resolve(TRACES, file)
      if (!existsSync(path))
        throw new Error(`${path} is missing: the real traces live in traces/ at the repository's root`)
      return { set, name: file, source: fileTraceSource(path, format) }
    }),
    ...generated(VALIDATION_GENERATED),
  ]
}

const only = arg('--set')
if (only !== undefined && only !== 'tuning' && only !== 'validation' && only !== 'held-out')
  throw new Error(`--set takes 'tuning', 'validation' or 'held-out', not '${only}'`)
const sets = only === undefined ? ['tuning', 'validation', 'held-out'] : [only]
const nameFilter = arg('--only')
const rows = []
for (const set of sets) {
  for (const { name, source } of sources(set)) {
    if (nameFilter !== undefined && !name.includes(nameFilter)) continue
    const started = performance.now()
    const result = await simulate(source, { policies, sizes: SIZES })
    for (const size of result.sizes) {
      const row = { set, source: name, size: size.size, capacity: size.capacity }
      for (const p of policies) {
        const r = result.results.find((x) => x.policy === p && x.size === size.size)
        row[p] = Number((100 * r.hitRatio).toFixed(2))
      }
      row.bar = Number(Math.max(row.lru - 2, Math.max(row.lru, row.arc) - 1.5).toFixed(2))
      row.pass = row[DEFAULT] >= row.bar
      rows.push(row)
    }
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    if (!json)
      process.stderr.write(`${set} ${name} (${result.distinctKeys} keys): ${seconds} s (${load()})\n`)
  }
}

if (json) console.log(JSON.stringify({ default: DEFAULT, rows }, null, 2))
else {
  const header = ['set', 'source', 'size', 'capacity', ...policies, 'bar', 'margin']
  const cells = rows.map((r) => [
    r.set,
    r.source,
    r.size,
    String(r.capacity),
    ...policies.map((p) => r[p].toFixed(2)),
    r.bar.toFixed(2),
    (r[DEFAULT] - r.bar).toFixed(2),
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c) => c.map((x, i) => (i < 3 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ')
  console.log(
    `hit ratio % (default: ${DEFAULT}; bar = max(LRU − 2, max(LRU, ARC) − 1.5); margin = default − bar; ${load()})`,
  )
  console.log(line(header))
  for (const c of cells) console.log(line(c))
  for (const set of sets) {
    const mine = rows.filter((r) => r.set === set)
    const failed = mine.filter((r) => !r.pass)
    console.log(`${set}: ${mine.length - failed.length}/${mine.length} rows pass`)
    for (const r of failed) console.log(`  MISS ${r.source} @ ${r.size}: ${r[DEFAULT]} < ${r.bar}`)
  }
}
