import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { type TypeSpec, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import { formatHtml } from '../../dist/analysis/report/html.js'
import { formatTerminal } from '../../dist/analysis/report/terminal.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { tempDir } from './helpers.js'

const TYPES: TypeSpec[] = [
  { name: 'profiles', entities: 300, readShare: 1, skew: 0.8, changeEverySeconds: 600, bytes: 400 },
]
const SPEC = { types: TYPES, readsPerSecond: 50, events: 5000, seed: 3 }
/** A size and a request time of 400 digits: what a corrupted field can hold (Number() reads Infinity). */
const HUGE = '9'.repeat(400)
const CORRUPT = `10.0.0.1 - - [05/Jan/2026:09:00:30 +0000] "GET /api/profiles/7 HTTP/1.1" 200 ${HUGE} "-" "curl/8" ${HUGE}`

let tmp: Awaited<ReturnType<typeof tempDir>>
let clean: AnalysisReport
let dirty: AnalysisReport

beforeAll(async () => {
  tmp = await tempDir()
  await writeWorkloadLog(tmp.path('clean.log'), SPEC, 'combined')
  await writeWorkloadLog(tmp.path('dirty.log'), SPEC, 'combined', { inject: new Map([[1000, CORRUPT]]) })
  clean = await analyzeFile(tmp.path('clean.log'))
  dirty = await analyzeFile(tmp.path('dirty.log'))
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('a duration or size larger than any real one', () => {
  it('is left out of every mean instead of making it Infinity', () => {
    const read = (r: AnalysisReport) => r.signatures.find((s) => s.reads > 0)
    const type = (r: AnalysisReport) => r.types.find((t) => t.type === 'profiles')
    expect(Number.isFinite(read(dirty)?.meanDurationMs)).toBe(true)
    expect(Number.isFinite(read(dirty)?.meanBytes)).toBe(true)
    expect(Number.isFinite(type(dirty)?.meanValueBytes)).toBe(true)
    expect(Number.isFinite(type(dirty)?.originTimeMs)).toBe(true)
    expect(Number.isFinite(dirty.cache.memoryBytes)).toBe(true)
    // The same means as the clean log's (one read more, whose size and time are unknown).
    expect(read(dirty)?.meanBytes).toBeCloseTo(read(clean)?.meanBytes ?? 0, 6)
    expect(read(dirty)?.meanDurationMs).toBeCloseTo(read(clean)?.meanDurationMs ?? 0, 6)
  })

  it('is counted and reported, not dropped silently', () => {
    expect(clean.lines.impossibleValues).toBe(0)
    expect(dirty.lines.impossibleValues).toBe(2)
    expect(formatTerminal(dirty)).toContain(
      'Impossible values: 2 durations or sizes larger than any real one',
    )
    expect(formatHtml(dirty)).toContain('Impossible values: 2 durations or sizes larger than any real one')
  })
})
