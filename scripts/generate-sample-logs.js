#!/usr/bin/env node
// Writes the sample logs of examples/logs/ (one per format `stratacache analyze` reads) from the
// e-commerce workload in src/analysis/generate/workload.ts (SHOP_WORKLOAD): products, users,
// prices, carts and countries with known read shares and change rates — the ground truth
// docs/analyze.md compares the report with. Deterministic (seeded): rerunning gives the same files.
//
//   npm run build && node scripts/generate-sample-logs.js [outDir]
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { SHOP_WORKLOAD, writeWorkloadLog } from '../dist/analysis/generate/index.js'

const out = process.argv[2] ?? new URL('../examples/logs/', import.meta.url).pathname
await mkdir(out, { recursive: true })
const spec = { types: SHOP_WORKLOAD, readsPerSecond: 20, events: 12_000, seed: 2026 }
const files = {
  combined: 'access.log',
  jsonl: 'access.jsonl',
  postgres: 'postgresql.log',
  'redis-monitor': 'redis-monitor.log',
  csv: 'queries.csv',
  keys: 'keys.txt',
}
// The access log also carries the kinds of damage real logs have, to show how they are reported.
const damage = new Map([
  [1500, '10.0.3.17 - - [05/Jan/2026:09:02:11 +0000] "GET /api/products/12'],
  [4200, '\u0000\u0000\u0001garbage\u00ff'],
  [7000, '10.0.3.42 - - [05/Jan/2026:09:05:00 +0000] "GET /api/users/7 HTTP/1.1" 200'],
])
for (const [format, name] of Object.entries(files)) {
  const truth = await writeWorkloadLog(
    join(out, name),
    spec,
    format,
    format === 'combined' ? { inject: damage } : {},
  )
  if (format === 'combined') console.log('ground truth:', JSON.stringify(truth))
  console.log(`wrote ${join(out, name)}`)
}
