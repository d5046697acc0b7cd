/**
 * The independent check of `analyze`'s prediction: the log replayed by an application that uses a
 * real `createCache` configured from `--emit-config` (its TTLs, tags, write rules, L1 size and
 * policy), with the cache's clock driven by the log's timestamps — L1 only, and L1 + a real
 * redis-server L2 — against the report's predicted hit ratios.
 */
import { readdirSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile, headLines } from '../../dist/analysis/analyze.js'
import type { RawEvent } from '../../dist/analysis/event.js'
import { type TypeSpec, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import { DEFAULT_MAX_LINE_BYTES, splitLines } from '../../dist/analysis/lines.js'
import { Normalizer } from '../../dist/analysis/normalize/index.js'
import { createReader, detectFormat, type LogFormat } from '../../dist/analysis/readers/index.js'
import { formatConfig } from '../../dist/analysis/report/emit-config.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { createCache, type Duration } from '../../dist/index.js'
import { readChunks } from '../../dist/simulation/readers/source.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { tempDir } from './helpers.js'

/** One access of the log, as the application sees it. */
interface LogAccess {
  readonly op: 'read' | 'write'
  readonly signature: string
  readonly type: string
  readonly key: string
  readonly entity: string
  readonly list: boolean
  readonly time: number
}

/** What `--emit-config` exports (the module is imported as written, bar the package specifier). */
interface EmittedConfig {
  readonly ttls: Readonly<Record<string, Duration>>
  readonly tags: Readonly<Record<string, readonly string[]>>
  readonly patterns: Readonly<Record<string, string>>
  readonly onWrite: Readonly<Record<string, { keys: readonly string[]; tags: readonly string[] }>>
  readonly cacheOptions: {
    l1: { maxEntries: number; policy: 'lru' | 'sieve' | 's3fifo' | 'w-tinylfu' }
    ttl: Duration
  }
}

/** Every sample log of examples/logs (docs/analyze.md walks through them). */
const SAMPLE_DIR = new URL('../../examples/logs/', import.meta.url)
const SAMPLE_LOGS = readdirSync(SAMPLE_DIR).filter((name) => !name.startsWith('.') && name !== 'README.md')

/** Three workloads whose change rates are known (the generator's `changeEverySeconds`). */
const WORKLOADS: readonly { name: string; format: LogFormat; types: TypeSpec[]; events: number }[] = [
  {
    // Profiles changing every 10 minutes: TTL expiries and key deletes both matter.
    name: 'profiles',
    format: 'combined',
    types: [
      { name: 'users', entities: 3000, readShare: 0.8, skew: 0.9, changeEverySeconds: 600 },
      {
        name: 'countries',
        entities: 200,
        readShare: 0.2,
        skew: 1,
        changeEverySeconds: Number.POSITIVE_INFINITY,
      },
    ],
    events: 30_000,
  },
  {
    // A catalog changing every 20 minutes, a third of its reads lists: tag invalidation on every write.
    name: 'catalog',
    format: 'postgres',
    types: [
      {
        name: 'products',
        entities: 4000,
        readShare: 0.9,
        skew: 0.8,
        changeEverySeconds: 1200,
        listShare: 0.3,
        categories: 40,
      },
      { name: 'users', entities: 2000, readShare: 0.1, skew: 0.7, changeEverySeconds: 3600 },
    ],
    events: 30_000,
  },
  {
    // Sessions rewritten every minute, 21% of accesses writes: short TTL, written through.
    name: 'sessions',
    format: 'redis-monitor',
    types: [
      { name: 'sessions', entities: 500, readShare: 0.7, skew: 0.6, changeEverySeconds: 60 },
      { name: 'settings', entities: 300, readShare: 0.3, skew: 0.9, changeEverySeconds: 7200 },
    ],
    events: 30_000,
  },
]

async function accessesOf(path: string): Promise<LogAccess[]> {
  const format = detectFormat(await headLines(path), path)
  const reader = createReader(format)
  const normalizer = new Normalizer()
  const out: LogAccess[] = []
  const sink = {
    event: (raw: RawEvent) => {
      const a = normalizer.normalize(raw)
      if (a.op === 'other') return
      out.push({
        op: a.op,
        signature: a.signature,
        type: a.type,
        key: a.key,
        entity: a.entity,
        list: a.shape === 'list',
        time: raw.time,
      })
    },
    malformed: () => {},
    skipped: () => {},
  }
  await splitLines(
    readChunks(path),
    { line: (text, n) => reader.line(text, n, sink), bad: () => {} },
    DEFAULT_MAX_LINE_BYTES,
  )
  reader.end(sink)
  return out
}

let configCount = 0
/** `--emit-config`'s module, written into the package and imported. */
async function emittedConfig(report: AnalysisReport): Promise<EmittedConfig> {
  const dir = new URL('../../test-output/real-cache/', import.meta.url)
  await mkdir(dir, { recursive: true })
  const file = new URL(`config-${process.pid}-${configCount++}.ts`, dir)
  const module = formatConfig(report)
  expect(module).toContain("from 'stratacache'")
  await writeFile(file, module.replace("from 'stratacache'", "from '../../dist/index.js'"))
  return (await import(file.href)) as EmittedConfig
}

/**
 * The application: reads through `getOrSet` with the emitted TTL and tags of the read's kind; on a
 * write, `onWrite`'s rule — delete (write-through: set) the written entity's keys, invalidate tags.
 * Returns the share of cached reads that did not reach the origin.
 */
async function replayThroughCache(
  accesses: readonly LogAccess[],
  report: AnalysisReport,
  config: EmittedConfig,
  redisUrl: string | undefined,
): Promise<number> {
  let now = accesses.find((a) => !Number.isNaN(a.time))?.time ?? 0
  const cache = createCache({
    ...config.cacheOptions,
    clock: () => now,
    namespace: uniqueNamespace('real-cache'),
    // Generous deadlines: on a loaded machine a slow answer must not turn into a miss.
    l2: redisUrl === undefined ? false : { redis: redisUrl, timeout: '10s' },
  })
  await cache.ready({ timeout: '60s' })
  const kindOf = new Map(report.signatures.map((s) => [s.signature, s.recommendation?.name]))
  const keysOfEntity = new Map<string, Map<string, string>>()
  let reads = 0
  let loads = 0
  try {
    for (const a of accesses) {
      if (report.timed && !Number.isNaN(a.time)) now = a.time
      if (a.op === 'read') {
        const kind = kindOf.get(a.signature)
        if (kind === undefined || !Object.hasOwn(config.ttls, kind)) continue // not cached
        reads++
        const key = `${kind}:${a.key}`
        if (a.entity !== '' && !a.list) {
          const at = `${a.type}\u0000${a.entity}`
          let kinds = keysOfEntity.get(at)
          if (kinds === undefined) {
            kinds = new Map()
            keysOfEntity.set(at, kinds)
          }
          kinds.set(kind, key)
        }
        await cache.getOrSet({
          key,
          factory: () => {
            loads++
            return { at: now }
          },
          ttl: config.ttls[kind] as Duration,
          tags: config.tags[kind] ?? [],
        })
        continue
      }
      const rule = config.onWrite[a.type]
      if (rule === undefined) continue
      if (a.entity !== '') {
        const kinds = keysOfEntity.get(`${a.type}\u0000${a.entity}`)
        for (const kind of rule.keys) {
          const key = kinds?.get(kind)
          if (key === undefined) continue
          if (config.patterns[kind] === 'write-through')
            await cache.set(
              key,
              { at: now },
              { ttl: config.ttls[kind] as Duration, tags: config.tags[kind] ?? [] },
            )
          else await cache.delete(key)
        }
      }
      if (rule.tags.length > 0) await cache.invalidateTags(rule.tags)
    }
  } finally {
    await cache.close()
  }
  return reads === 0 ? 0 : 1 - loads / reads
}

const redis = useRedisServer()
let tmp: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => {
  tmp = await tempDir()
})
afterAll(async () => {
  await tmp.cleanup()
})

/** Analyses `path`, then replays it through the real cache, L1 only and L1 + L2. */
async function check(path: string, profilerKeys?: number): Promise<AnalysisReport> {
  const report = await analyzeFile(path, profilerKeys === undefined ? {} : { profilerKeys })
  const config = await emittedConfig(report)
  const accesses = await accessesOf(path)
  const l1 = await replayThroughCache(accesses, report, config, undefined)
  const l1l2 = await replayThroughCache(accesses, report, config, redis().url)
  const cache = report.cache
  const p = (x: number) => `${(x * 100).toFixed(2)}%`
  const label =
    `${basename(path)}: L1 predicted ${p(cache.predictedHitRatio)} ± ${p(cache.errorBand)}, real ${p(l1)}; ` +
    `L1 + L2 predicted ${p(cache.withL2HitRatio)}, real ${p(l1l2)} (capacity only ${p(cache.capacityHitRatio)}, rate ${cache.rate})`
  console.info(label) // the evidence, in the test log
  expect(Math.abs(cache.predictedHitRatio - l1), label).toBeLessThan(0.02)
  expect(Math.abs(cache.withL2HitRatio - l1l2), label).toBeLessThan(0.02)
  // The band the report prints covers the difference.
  expect(Math.abs(cache.predictedHitRatio - l1), label).toBeLessThanOrEqual(cache.errorBand)
  return report
}

describe('the predicted hit ratio vs a real createCache configured by --emit-config', () => {
  it('the sample logs are there: one per format at least for three formats', () => {
    expect(SAMPLE_LOGS.length).toBeGreaterThanOrEqual(3)
  })

  for (const name of SAMPLE_LOGS) {
    it(`examples/logs/${name}: within 2 points, L1 only and L1 + Redis L2`, async () => {
      const report = await check(new URL(name, SAMPLE_DIR).pathname)
      expect(report.cache.size).toBeGreaterThan(0)
    }, 300_000)
  }

  for (const workload of WORKLOADS) {
    it(`a generated ${workload.name} workload (${workload.format}): within 2 points`, async () => {
      const path = tmp.path(`${workload.name}.log`)
      await writeWorkloadLog(
        path,
        { types: workload.types, readsPerSecond: 60, events: workload.events, seed: 11 },
        workload.format,
      )
      const report = await check(path)
      // The TTLs and invalidations cost hits: the capacity-only figure would overstate them.
      expect(report.cache.capacityHitRatio - report.cache.predictedHitRatio).toBeGreaterThan(0.02)
    }, 300_000)
  }

  it('on a key sample (SHARDS + miniature replay) the prediction and its band hold too', async () => {
    const workload = WORKLOADS[0] as (typeof WORKLOADS)[number]
    const path = tmp.path('profiles-sampled.log')
    const types = workload.types.map((t) => ({ ...t, entities: t.entities * 4 }))
    await writeWorkloadLog(path, { types, readsPerSecond: 120, events: 60_000, seed: 12 }, 'combined')
    const report = await check(path, 2048)
    expect(report.cache.rate).toBeLessThan(0.5)
  }, 300_000)
})
