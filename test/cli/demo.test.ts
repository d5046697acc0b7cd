import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { useRedisServer } from '../helpers/redis-server.js'

const run = promisify(execFile)
const bin = join(import.meta.dirname, '../../bin/stratacache.js')
const catalogDir = mkdtempSync(join(tmpdir(), 'stratacache-demo-test-'))
afterAll(() => rmSync(catalogDir, { recursive: true, force: true }))

/** A small catalog and workload, so the test takes seconds; the code path is the full demo. */
const small = [
  '--products',
  '3000',
  '--categories',
  '50',
  '--requests',
  '3000',
  '--warmup',
  '6000',
  '--origin-latency',
  '0',
]

interface DemoRun {
  mode: string
  label: string
  processes: number
  hitRatio: number
  reads: number
  originReads: number
  originReduction: number | null
  errors: number
  staleReads: number
  cacheStats: Record<string, number> | null
  stampede: { processes: number; reads: number; originQueries: number } | null
  http: { notModifiedShare: number; responseCacheHitRatio: number; purges: number; stored: number } | null
}

interface DemoJson {
  runs: DemoRun[]
  skipped: { mode: string; hint: string }[]
  workload: { requests: number; warmup: number }
  loadAverage: number
}

async function demo(args: string[], timeout = 90_000) {
  const { stdout, stderr } = await run(
    process.execPath,
    [bin, 'demo', '--catalog-dir', catalogDir, ...args],
    {
      timeout,
    },
  )
  return { stdout, stderr }
}

const server = useRedisServer()
const NO_REDIS = ['--redis', 'redis://127.0.0.1:1']

// Each run spawns the real CLI (and with Redis, its worker processes): seconds on a quiet machine,
// much more on a loaded one.
describe('stratacache demo', { timeout: 150_000 }, () => {
  it('--warmup 0 is reported as a cold start, not as the steady state a warm-up gives', async () => {
    const cold = small.map((arg, i) => (small[i - 1] === '--warmup' ? '0' : arg))
    const { stdout } = await demo([...cold, '--skip-http', '--quiet', ...NO_REDIS])
    expect(stdout).toMatch(/warm-up {3}none \(--warmup 0\): the cached runs start cold/)
    expect(stdout).not.toContain('steady state')
    const warm = await demo([...small, '--skip-http', '--quiet', ...NO_REDIS])
    expect(warm.stdout).toContain('6,000 requests first (untimed) for the cached runs: steady state')
  })

  it('runs without Redis: no cache, L1, and HTTP without then with the cache; says how to add L1 + L2', async () => {
    const { stdout } = await demo([...small, '--json', ...NO_REDIS])
    const report = JSON.parse(stdout) as DemoJson
    expect(report.runs.map((r) => r.mode)).toEqual(['no-cache', 'l1', 'http', 'http+cache'])
    expect(report.skipped).toEqual([
      expect.objectContaining({ mode: 'l1+l2', hint: expect.stringMatching(/redis-server/) }),
    ])
    const [none, l1, http, cachedHttp] = report.runs as [DemoRun, DemoRun, DemoRun, DemoRun]
    expect(none.hitRatio).toBe(0)
    expect(l1.hitRatio).toBeGreaterThan(0.5)
    expect(l1.originReads).toBeLessThan(none.originReads / 2)
    expect(l1.errors).toBe(0)
    expect(none.http).toBeNull()

    // The uncached HTTP column: the same server with caching off, every read reaches the database.
    expect(http.hitRatio).toBe(0)
    expect(http.originReads).toBe(http.reads)
    expect(http.errors).toBe(0)
    expect(http.http).toBeNull()

    // The cached one: the same requests through stratacache/http over real sockets.
    expect(cachedHttp.errors).toBe(0)
    expect(cachedHttp.staleReads).toBe(0)
    expect(cachedHttp.originReads).toBeLessThan(none.originReads / 2)
    // Same workload, same keys: the response cache hits about as often as the L1 does.
    expect(cachedHttp.hitRatio).toBeGreaterThan(l1.hitRatio - 0.05)
    // Shares of the measured window's reads, warm-up excluded: never above 100%.
    expect(cachedHttp.http?.responseCacheHitRatio).toBeGreaterThan(0.5)
    expect(cachedHttp.http?.responseCacheHitRatio).toBeLessThanOrEqual(1)
    // Clients revalidate every copy they hold: most repeat reads are answered 304.
    expect(cachedHttp.http?.notModifiedShare).toBeGreaterThan(0.3)
    expect(cachedHttp.http?.notModifiedShare).toBeLessThanOrEqual(1)
    expect(cachedHttp.http?.purges).toBeGreaterThan(0)
  })

  it('--skip-http leaves both HTTP columns out', async () => {
    const { stdout } = await demo([...small, '--json', ...NO_REDIS, '--skip-http'])
    expect((JSON.parse(stdout) as DemoJson).runs.map((r) => r.mode)).toEqual(['no-cache', 'l1'])
  })

  it('with Redis: the L1 + L2 run in 2 processes by default, its L2 hits and a one-query stampede', async () => {
    const { stdout } = await demo([...small, '--json', '--redis', server().url, '--skip-http'])
    const report = JSON.parse(stdout) as DemoJson
    expect(report.runs.map((r) => r.mode)).toEqual(['no-cache', 'l1', 'l1+l2'])
    const l1l2 = report.runs[2] as DemoRun
    expect(l1l2.processes).toBe(2)
    expect(l1l2.label).toBe('L1 + L2 ×2')
    expect(l1l2.errors).toBe(0)
    expect(l1l2.hitRatio).toBeGreaterThan(0.5)
    // What one process loaded, the other read from Redis.
    expect(l1l2.cacheStats?.l2Hits).toBeGreaterThan(0)
    // Every process read one cold key 32 times at once: one database query for all of them.
    expect(l1l2.stampede).toEqual({ processes: 2, reads: 64, originQueries: 1 })
  })

  it('--processes 1 runs the L1 + L2 replay in this process', async () => {
    const { stdout } = await demo([
      ...small,
      '--json',
      '--redis',
      server().url,
      '--skip-http',
      '--processes',
      '1',
    ])
    const l1l2 = (JSON.parse(stdout) as DemoJson).runs[2] as DemoRun
    expect(l1l2).toMatchObject({ mode: 'l1+l2', label: 'L1 + L2', processes: 1, errors: 0 })
    expect(l1l2.stampede).toEqual({ processes: 1, reads: 32, originQueries: 1 })
  })

  it('the default workload, at steady state: ≥ 80% hits and ≥ 80% fewer database queries', async () => {
    // Defaults except the added origin latency (what it changes is time, not hits or queries).
    const { stdout } = await demo(
      ['--json', '--redis', server().url, '--skip-http', '--origin-latency', '0'],
      240_000,
    )
    const report = JSON.parse(stdout) as DemoJson
    expect(report.workload).toMatchObject({ requests: 20_000, warmup: 100_000 })
    for (const run of report.runs.filter((r) => r.mode !== 'no-cache')) {
      expect(run.hitRatio, run.label).toBeGreaterThanOrEqual(0.8)
      expect(run.originReduction, run.label).toBeGreaterThanOrEqual(0.8)
    }
    expect(report.runs.map((r) => r.mode)).toEqual(['no-cache', 'l1', 'l1+l2'])
  }, 250_000)

  it('prints a table that fits 100 columns, with the uncached and cached HTTP columns side by side', async () => {
    const { stdout } = await demo([...small, '--quiet', '--redis', server().url])
    expect(stdout).toMatch(/No cache\s+L1 only\s+L1 \+ L2 ×2\s+HTTP\s+HTTP\+cache/)
    for (const row of [
      'hit ratio',
      'DB queries',
      'L2 hits',
      'stampede reads→DB',
      '304 share',
      'p99 latency',
    ]) {
      expect(stdout).toContain(row)
    }
    expect(stdout).toMatch(/load average \d+\.\d\d/)
    const widest = Math.max(...stdout.split('\n').map((line) => line.length))
    expect(widest).toBeLessThanOrEqual(100)
  })
})

describe('the demo modules', () => {
  it('import one another without a cycle (cli/demo/http and cli/demo/run used to)', () => {
    const dir = join(import.meta.dirname, '../../src/cli/demo')
    const imports = new Map<string, string[]>()
    for (const file of readdirSync(dir).filter((name) => name.endsWith('.ts'))) {
      const source = readFileSync(join(dir, file), 'utf8')
      const local = [...source.matchAll(/from '\.\/([\w-]+)\.js'/g)].map((m) => `${m[1]}.ts`)
      imports.set(file, local)
    }
    const cycles: string[] = []
    const visit = (file: string, path: string[]): void => {
      if (path.includes(file)) {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '))
        return
      }
      for (const next of imports.get(file) ?? []) visit(next, [...path, file])
    }
    for (const file of imports.keys()) visit(file, [])
    expect(cycles).toEqual([])
  })
})
