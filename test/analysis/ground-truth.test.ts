import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { type GroundTruth, type TypeSpec, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { tempDir } from './helpers.js'

/**
 * A workload whose answers are known: catalog and profiles carry 85% of reads (the hot set); each
 * type's entities change at a known rate, from days (catalog) to seconds (prices).
 */
const TYPES: TypeSpec[] = [
  { name: 'catalog', entities: 4000, readShare: 0.55, skew: 0.9, changeEverySeconds: 7 * 86_400 },
  { name: 'profiles', entities: 2000, readShare: 0.3, skew: 0.8, changeEverySeconds: 3600 },
  { name: 'orders', entities: 1000, readShare: 0.06, skew: 0.5, changeEverySeconds: 300 },
  { name: 'prices', entities: 100, readShare: 0.05, skew: 0.5, changeEverySeconds: 3 },
  { name: 'regions', entities: 50, readShare: 0.04, skew: 0.8, changeEverySeconds: Number.POSITIVE_INFINITY },
]

let tmp: Awaited<ReturnType<typeof tempDir>>
const runs: { format: 'combined' | 'postgres'; truth: GroundTruth; report: AnalysisReport }[] = []

beforeAll(async () => {
  tmp = await tempDir()
  for (const format of ['combined', 'postgres'] as const) {
    const path = tmp.path(`truth.${format}.log`)
    const truth = await writeWorkloadLog(
      path,
      { types: TYPES, readsPerSecond: 100, events: 60_000, seed: 11 },
      format,
    )
    // A week of accepted staleness, so that TTLs are set by the change rates alone.
    runs.push({ format, truth, report: await analyzeFile(path, { maxStalenessMs: 7 * 86_400_000 }) })
  }
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('analyze on a generated log with known ground truth', () => {
  it('finds the hot set: exactly the two types that carry 85% of reads', () => {
    for (const { report } of runs) {
      expect(report.hotSet.signatureCount).toBe(2)
      const hotTypes = report.signatures.filter((s) => s.hot).map((s) => s.type)
      expect(hotTypes.sort()).toEqual(['catalog', 'profiles'])
      expect(report.hotSet.readShare).toBeGreaterThan(0.83)
      expect(report.hotSet.readShare).toBeLessThan(0.87)
    }
  })

  it('reports every read/write ratio within 1 point of the truth', () => {
    for (const { truth, report } of runs) {
      for (const spec of TYPES) {
        const reads = truth.reads[spec.name] ?? 0
        const writes = truth.writes[spec.name] ?? 0
        const type = report.types.find((t) => t.type === spec.name)
        expect(type, spec.name).toBeDefined()
        expect(Math.abs((type?.readRatio ?? 0) - reads / (reads + writes)), spec.name).toBeLessThan(0.01)
      }
    }
  })

  it('estimates change intervals within 25% where writes are frequent enough to measure', () => {
    for (const { report } of runs) {
      for (const spec of TYPES.filter((t) => ['profiles', 'orders', 'prices'].includes(t.name))) {
        const type = report.types.find((t) => t.type === spec.name)
        const measured = (type?.entityChangeIntervalMs ?? 0) / 1000
        expect(measured / spec.changeEverySeconds, spec.name).toBeGreaterThan(0.75)
        expect(measured / spec.changeEverySeconds, spec.name).toBeLessThan(1.25)
      }
    }
  })

  it('recommends TTLs that follow the change rates: slower change, longer TTL; real-time data not cached', () => {
    for (const { format, report } of runs) {
      const rec = (type: string) =>
        report.signatures.find((s) => s.type === type && s.reads > 0)?.recommendation
      const ttl = (type: string) => rec(type)?.ttlMs ?? 0
      expect(ttl('catalog'), format).toBeGreaterThan(ttl('profiles'))
      expect(ttl('profiles'), format).toBeGreaterThan(ttl('orders'))
      // About a fifth of the change interval (≈10% of hits stale), rounded down to a round duration.
      expect(ttl('profiles')).toBeGreaterThanOrEqual(300_000)
      expect(ttl('profiles')).toBeLessThanOrEqual(720_000)
      expect(rec('prices')?.decision).toBe('dont-cache')
      expect(rec('catalog')?.decision).toBe('cache')
      expect(rec('regions')).toMatchObject({ decision: 'cache', invalidation: 'ttl-only', ttl: '7d' })
      expect(rec('profiles')).toMatchObject({ pattern: 'cache-aside', invalidation: 'key-delete' })
    }
  })
  it("predicts over what it recommends caching only; a don't-cache row carries no pattern and no invalidation", () => {
    for (const { format, report } of runs) {
      const skipped = report.signatures.filter((s) => s.recommendation?.decision === 'dont-cache')
      expect(
        skipped.map((s) => s.type),
        format,
      ).toContain('prices')
      for (const s of skipped) {
        expect(s.recommendation, s.signature).toMatchObject({ pattern: null, invalidation: null, tags: [] })
      }
      const cached = report.signatures.filter(
        (s) => s.recommendation !== null && s.recommendation.decision !== 'dont-cache',
      )
      // The prediction's denominator: the reads of the cached signatures, not of every type's.
      expect(report.cache.reads, format).toBe(cached.reduce((sum, s) => sum + s.reads, 0))
      expect(report.cache.signatures, format).toBe(cached.length)
      expect(report.cache.types, format).not.toContain('prices')
      expect(report.cache.overallHitRatio, format).toBeCloseTo(
        (report.cache.predictedHitRatio * report.cache.reads) / report.lines.reads,
        10,
      )
    }
  })
})
