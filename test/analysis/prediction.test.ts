import { readFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { SHOP_WORKLOAD, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { MemoryStore, MISS } from '../../dist/tiers/memory/memory-store.js'
import { tempDir } from './helpers.js'

let tmp: Awaited<ReturnType<typeof tempDir>>
let keys: string[]
let exact: AnalysisReport
let sampled: AnalysisReport

/** Replays every key of the log through the real L1 store: get, and set on a miss. */
function l1HitRatio(policy: 'lru' | 'sieve' | 's3fifo' | 'w-tinylfu', maxEntries: number): number {
  const store = new MemoryStore({ maxEntries, maxBytes: Number.POSITIVE_INFINITY, policy })
  let hits = 0
  for (const key of keys) {
    if (store.get(key, 0) !== MISS) hits++
    else store.set(key, 1, Number.POSITIVE_INFINITY, 1, 0, [], 0)
  }
  return hits / keys.length
}

beforeAll(async () => {
  tmp = await tempDir()
  const path = tmp.path('trace.keys')
  const types = SHOP_WORKLOAD.map((t) => ({ ...t, entities: t.entities * 4 }))
  await writeWorkloadLog(path, { types, readsPerSecond: 500, events: 150_000, seed: 5 }, 'keys')
  keys = (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '')
  exact = await analyzeFile(path, { format: 'keys' })
  // Few tracked keys: the curve and the replays run on a spatial sample (SHARDS).
  sampled = await analyzeFile(path, { format: 'keys', profilerKeys: 4096 })
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('predicted hit ratio vs the real L1', () => {
  it('an exact analysis predicts, at its recommended size and policy, the hit ratio the L1 measures (±2 points)', () => {
    const cache = exact.cache
    expect(cache.rate).toBe(1)
    expect(cache.types.length).toBeGreaterThan(0)
    const measured = l1HitRatio(cache.policy, cache.size)
    // The prediction is a replay through the same L1 store (no times, no writes here: capacity alone)…
    expect(Math.abs(cache.predictedHitRatio - measured)).toBeLessThan(0.005)
    // …and the simulator's capacity-only figure (the table's) agrees with it.
    expect(Math.abs(cache.capacityHitRatio - measured)).toBeLessThan(0.02)
    expect(cache.predictedHitRatio).toBeGreaterThan(0.5)
  })

  it('a sampled analysis (SHARDS + miniature simulation) also lands within 2 points of the full replay', () => {
    const cache = sampled.cache
    expect(cache.rate).toBeLessThan(0.5)
    const measured = l1HitRatio(cache.policy, cache.size)
    expect(Math.abs(cache.predictedHitRatio - measured)).toBeLessThan(0.02)
  })

  it('the recommended size reaches the target share of an unbounded cache, and not much less would', () => {
    const cache = exact.cache
    expect(cache.predictedHitRatio).toBeGreaterThanOrEqual(0.9 * cache.maxHitRatio - 0.005)
    expect(l1HitRatio(cache.policy, Math.floor(cache.size * 0.8))).toBeLessThan(0.9 * cache.maxHitRatio)
  })
})
