import { readFile, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { type TypeSpec, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import { formatHtml } from '../../dist/analysis/report/html.js'
import { formatTerminal } from '../../dist/analysis/report/terminal.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { tempDir } from './helpers.js'

const TYPES: TypeSpec[] = [
  { name: 'profiles', entities: 2000, readShare: 0.7, skew: 0.8, changeEverySeconds: 3600 },
  { name: 'orders', entities: 500, readShare: 0.3, skew: 0.5, changeEverySeconds: 600 },
]

let tmp: Awaited<ReturnType<typeof tempDir>>
let ordered: AnalysisReport
let swapped: AnalysisReport

beforeAll(async () => {
  tmp = await tempDir()
  await writeWorkloadLog(
    tmp.path('ordered.log'),
    { types: TYPES, readsPerSecond: 20, events: 60_000, seed: 9 },
    'combined',
  )
  // Its second half first: two rotated files concatenated newest first.
  const lines = (await readFile(tmp.path('ordered.log'), 'utf8')).trimEnd().split('\n')
  const half = lines.length / 2
  await writeFile(tmp.path('swapped.log'), `${[...lines.slice(half), ...lines.slice(0, half)].join('\n')}\n`)
  const options = { maxStalenessMs: 86_400_000 }
  ordered = await analyzeFile(tmp.path('ordered.log'), options)
  swapped = await analyzeFile(tmp.path('swapped.log'), options)
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('a log whose lines are not in time order', () => {
  it('is replayed in time order: the same prediction as the ordered log', () => {
    expect(swapped.spanMs).toBe(ordered.spanMs)
    // The jitter's draws follow the order of the keys' first reads: within half a point.
    expect(Math.abs(swapped.cache.predictedHitRatio - ordered.cache.predictedHitRatio)).toBeLessThan(0.005)
    expect(Math.abs(swapped.cache.withL2HitRatio - ordered.cache.withL2HitRatio)).toBeLessThan(0.002)
  })

  it('is reported as such', () => {
    expect(ordered.timeOrder).toEqual({ backwardJumps: 0, largestJumpMs: 0 })
    expect(swapped.timeOrder.backwardJumps).toBe(1)
    // The second half's last line, then the first half's first: back by nearly the whole span.
    expect(swapped.timeOrder.largestJumpMs).toBeGreaterThan(0.9 * ordered.spanMs)
    expect(swapped.timeOrder.largestJumpMs).toBeLessThanOrEqual(ordered.spanMs)
    expect(formatTerminal(swapped)).toContain('Not in time order: the log goes back in time 1 time')
    expect(formatHtml(swapped)).toContain('Not in time order: the log goes back in time 1 time')
    expect(formatTerminal(ordered)).not.toContain('Not in time order')
  })
})
