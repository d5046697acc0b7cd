import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { type GroundTruth, type TypeSpec, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import { formatHtml } from '../../dist/analysis/report/html.js'
import { formatTerminal } from '../../dist/analysis/report/terminal.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { tempDir } from './helpers.js'

const TYPES: TypeSpec[] = [
  { name: 'profiles', entities: 500, readShare: 0.6, skew: 0.8, changeEverySeconds: 600 },
  { name: 'orders', entities: 200, readShare: 0.4, skew: 0.5, changeEverySeconds: 120 },
]
const SPEC = { types: TYPES, readsPerSecond: 50, events: 20_000, seed: 5 }

/** A combined-log read dated `ms` (the generator's own line shape). */
function readAt(ms: number): string {
  const d = new Date(ms)
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
  const p = (n: number): string => String(n).padStart(2, '0')
  const when = `${p(d.getUTCDate())}/${months[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  return `10.0.0.1 - - [${when}] "GET /api/profiles/7 HTTP/1.1" 200 512 "-" "curl/8" 0.002`
}

const EPOCH = 0
const YEARS_AHEAD = Date.UTC(2029, 5, 1, 12, 0, 0)

let tmp: Awaited<ReturnType<typeof tempDir>>
let truth: GroundTruth
let clean: AnalysisReport
let dirty: AnalysisReport

beforeAll(async () => {
  tmp = await tempDir()
  truth = await writeWorkloadLog(tmp.path('clean.log'), SPEC, 'combined')
  // Event 100's line is line 101: the epoch-0 line is line 102; the line dated three years ahead
  // follows event 15,000 (line 15,001 + the one injected before it).
  await writeWorkloadLog(tmp.path('dirty.log'), SPEC, 'combined', {
    inject: new Map([
      [100, readAt(EPOCH)],
      [15_000, readAt(YEARS_AHEAD)],
    ]),
  })
  clean = await analyzeFile(tmp.path('clean.log'))
  dirty = await analyzeFile(tmp.path('dirty.log'))
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('timestamps far outside the rest of the log', () => {
  it('are left out of the span: one epoch-0 line and one dated years ahead do not stretch it', () => {
    expect(clean.timeOutliers).toEqual({ count: 0, samples: [] })
    expect(clean.spanMs / truth.spanMs).toBeGreaterThan(0.99)
    expect(dirty.spanMs).toBe(clean.spanMs)
  })

  it('are reported with their lines and times, never silently', () => {
    expect(dirty.timeOutliers).toEqual({
      count: 2,
      samples: [
        { line: 102, time: EPOCH },
        { line: 15_003, time: YEARS_AHEAD },
      ],
    })
    const text = formatTerminal(dirty)
    expect(text).toContain('Time outliers: 2 lines dated far outside the rest of the log')
    expect(text).toContain('line 102 (1970-01-01T00:00:00.000Z)')
    expect(text).toContain('line 15003 (2029-06-01T12:00:00.000Z)')
    expect(formatHtml(dirty)).toContain('line 102 (1970-01-01T00:00:00.000Z)')
  })

  it('leave every rate, interval and TTL as the clean log gives them', () => {
    for (const type of clean.types) {
      const other = dirty.types.find((t) => t.type === type.type)
      expect(other, type.type).toBeDefined()
      expect(other?.typeChangeIntervalMs, type.type).toBe(type.typeChangeIntervalMs)
      // The extra read names an entity already read: the same entities, so the same per-entity rate.
      expect(other?.entityChangeIntervalMs, type.type).toBeCloseTo(type.entityChangeIntervalMs ?? 0, 6)
    }
    const ttls = (report: AnalysisReport) =>
      report.signatures.map((s) => [s.signature, s.recommendation?.ttl ?? null, s.recommendation?.decision])
    expect(ttls(dirty)).toEqual(ttls(clean))
    // The prediction replays the log at its own times: within its own error band of the clean log's.
    expect(Math.abs(dirty.cache.predictedHitRatio - clean.cache.predictedHitRatio)).toBeLessThan(
      clean.cache.errorBand,
    )
  })
})
