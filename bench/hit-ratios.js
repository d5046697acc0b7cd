// Hit ratio of every eviction policy against OPT (and ARC, as a reference) on the real traces in
// traces/ (the repository's copy, with sources and licences) and on the synthetic suite, and the acceptance checks of the default policy.
// Usage: node bench/hit-ratios.js [--json] [--quick]
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { resolve } from 'node:path'
import { POLICY_NAMES } from '../dist/eviction/index.js'
import { DEFAULTS } from '../dist/index.js'
import {
  defaultPolicyFactory,
  fileTraceSource,
  PerfectLfuPolicy,
  simulate,
  syntheticTraceSource,
} from '../dist/simulation/index.js'

const TRACES = resolve(import.meta.dirname, '../traces')
const json = process.argv.includes('--json')
const quick = process.argv.includes('--quick')
const policies = [...POLICY_NAMES, 'arc', 'opt']
const DEFAULT = DEFAULTS.l1Policy

const real = [
  ['arc-OLTP.lis.gz', 'arc', [250, 1000, 2000, 5000]],
  ['cache2k-web07.trace.gz', 'cache2k', [250, 1000, 2000, 5000]],
  ['cache2k-web12.trace.gz', 'cache2k', [250, 1000, 2000, 5000]],
  ['cache2k-orm-busy.trace.gz', 'cache2k', [250, 1000, 2000, 5000]],
  ['cache2k-orm-night.trace.gz', 'cache2k', [250, 1000, 2000, 5000]],
]
const synthetic = [
  'zipf:0.6:1e5',
  'zipf:0.8:1e5',
  'zipf:0.99:1e5',
  'zipf:1.2:1e5',
  'scan-zipf:0.99:1e5',
  'loop:2000',
  'shifting:1000',
  'cdn:0.8:1e5',
]
const syntheticSizes = ['0.1%', '1%', '10%']
/**
 * The Zipf anchor (10,000 entries, 100,000 keys) on a steady-state trace: 10 million requests.
 * On the suite's 1-million-request trace the 100,000 cold misses alone cost any policy 1.6 points
 * (even perfect LFU reaches only 79.4 there); the issue asks about the policy, not the warm-up.
 * Perfect LFU (exact counts of the whole past) runs beside it as the bound for frequency-based
 * policies.
 */
const STEADY_ZIPF = 'zipf:0.99:1e5:1e7'

/** The concrete anchors: [source, size, minimum hit ratio %]. */
const anchors = [
  ['arc-OLTP.lis.gz', '1000', 40.5],
  ['cache2k-orm-busy.trace.gz', '1000', 77.5],
  ['loop:2000', '1000', 45],
  [STEADY_ZIPF, '10000', 79.5],
]

const rows = []
const lfuFactory = (name, capacity) =>
  name === 'lfu' ? new PerfectLfuPolicy(capacity) : defaultPolicyFactory(name, capacity)
async function run(name, source, sizes, extra = []) {
  const started = performance.now()
  const result = await simulate(source, {
    policies: [...policies, ...extra],
    sizes,
    policyFactory: lfuFactory,
  })
  for (const size of result.sizes) {
    const ratio = (p) =>
      100 * (result.results.find((r) => r.policy === p && r.size === size.size)?.hitRatio ?? Number.NaN)
    const row = { source: name, size: size.size, capacity: size.capacity }
    for (const p of [...policies, ...extra]) row[p] = Number(ratio(p).toFixed(2))
    rows.push(row)
  }
  if (!json)
    process.stderr.write(
      `${name}: ${((performance.now() - started) / 1000).toFixed(1)} s (load ${loadavg()
        .map((x) => x.toFixed(2))
        .join(' ')})\n`,
    )
}

for (const [file, format, sizes] of real) {
  const path = resolve(TRACES, file)
  if (!existsSync(path))
    throw new Error(`${path} is missing: the real traces live in traces/ at the repository's root`)
  await run(file, fileTraceSource(path, format), quick ? sizes.slice(1, 2) : sizes)
}
for (const spec of synthetic) {
  const sizes = spec === 'loop:2000' ? ['1000', ...syntheticSizes] : syntheticSizes
  await run(spec, syntheticTraceSource(spec, 42), quick ? sizes.slice(0, 1) : sizes)
}
if (!quick) await run(STEADY_ZIPF, syntheticTraceSource(STEADY_ZIPF, 42), ['10000'], ['lfu'])

// The default must be within 1.5 points of the better of LRU and ARC, and never more than 2 below LRU.
const checks = []
for (const row of rows) {
  const bar = Math.max(row.lru - 2, Math.max(row.lru, row.arc) - 1.5)
  checks.push({
    what: `${row.source} @ ${row.size}`,
    value: row[DEFAULT],
    bar: Number(bar.toFixed(2)),
    pass: row[DEFAULT] >= bar,
  })
}
for (const [source, size, min] of anchors) {
  const row = rows.find((r) => r.source === source && (r.size === size || String(r.capacity) === size))
  if (row)
    checks.push({
      what: `anchor ${source} @ ${size}`,
      value: row[DEFAULT],
      bar: min,
      pass: row[DEFAULT] >= min,
    })
}

if (json) {
  console.log(JSON.stringify({ default: DEFAULT, rows, checks }, null, 2))
} else {
  const header = ['source', 'size', ...policies]
  const widths = header.map((h, i) =>
    Math.max(h.length, ...rows.map((r) => String(i < 2 ? r[h] : r[h].toFixed(2)).length)),
  )
  const line = (cells) =>
    cells.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')
  console.log(`hit ratio % (default policy: ${DEFAULT}; arc and opt are references)`)
  console.log(line(header))
  for (const r of rows) console.log(line(header.map((h, i) => (i < 2 ? r[h] : r[h].toFixed(2)))))
  const steady = rows.find((r) => r.source === STEADY_ZIPF)
  if (steady)
    console.log(
      `${STEADY_ZIPF} @ 10000: perfect LFU (exact counts of the whole past) ${steady.lfu.toFixed(2)}, OPT ${steady.opt.toFixed(2)}`,
    )
  const failed = checks.filter((c) => !c.pass)
  console.log(
    `\n${DEFAULT}: ${checks.length - failed.length}/${checks.length} checks pass (≥ max(LRU, ARC) − 1.5 and ≥ LRU − 2 per row; the issue's anchors)`,
  )
  for (const c of failed) console.log(`  MISS ${c.what}: ${c.value.toFixed(2)} < ${c.bar.toFixed(2)}`)
}
