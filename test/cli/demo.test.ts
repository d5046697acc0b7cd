import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
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
const small = ['--products', '3000', '--categories', '50', '--requests', '3000', '--origin-latency', '0']

interface DemoRun {
  mode: string
  hitRatio: number
  originReads: number
  errors: number
  staleReads: number
  http: { notModifiedShare: number; responseCacheHitRatio: number; purges: number; stored: number } | null
}

async function demo(...args: string[]) {
  const { stdout, stderr } = await run(
    process.execPath,
    [bin, 'demo', ...small, '--catalog-dir', catalogDir, ...args],
    {
      timeout: 60_000,
    },
  )
  return { stdout, stderr }
}

const server = useRedisServer()

describe('stratacache demo', () => {
  it('runs without Redis: no cache, L1 and HTTP API columns, and says how to enable the L1 + L2 one', async () => {
    const { stdout } = await demo('--json', '--redis', 'redis://127.0.0.1:1')
    const report = JSON.parse(stdout) as { runs: DemoRun[]; skipped: { mode: string; hint: string }[] }
    expect(report.runs.map((r) => r.mode)).toEqual(['no-cache', 'l1', 'http'])
    expect(report.skipped).toEqual([
      expect.objectContaining({ mode: 'l1+l2', hint: expect.stringMatching(/redis-server/) }),
    ])
    const [none, l1] = report.runs as [DemoRun, DemoRun]
    expect(none.hitRatio).toBe(0)
    expect(l1.hitRatio).toBeGreaterThan(0.5)
    expect(l1.originReads).toBeLessThan(none.originReads / 2)
    expect(l1.errors).toBe(0)
    expect(none.http).toBeNull()

    // The HTTP API column: the same workload through stratacache/http over real sockets.
    const http = report.runs[2] as DemoRun
    expect(http.errors).toBe(0)
    expect(http.staleReads).toBe(0)
    expect(http.originReads).toBeLessThan(none.originReads / 2)
    // Same workload, same keys: the response cache hits about as often as the L1 does.
    expect(http.hitRatio).toBeGreaterThan(l1.hitRatio - 0.05)
    expect(http.http?.responseCacheHitRatio).toBeGreaterThan(0.5)
    // Clients revalidate every copy they hold: most repeat reads are answered 304.
    expect(http.http?.notModifiedShare).toBeGreaterThan(0.3)
    expect(http.http?.purges).toBeGreaterThan(0)
  })

  it('--skip-http leaves the HTTP API column out', async () => {
    const { stdout } = await demo('--json', '--redis', 'redis://127.0.0.1:1', '--skip-http')
    expect((JSON.parse(stdout) as { runs: DemoRun[] }).runs.map((r) => r.mode)).toEqual(['no-cache', 'l1'])
  })

  it('adds the L1 + L2 column when Redis is reachable', async () => {
    const { stdout } = await demo('--json', '--redis', server().url, '--l1-size', '200')
    const report = JSON.parse(stdout) as { runs: DemoRun[] }
    expect(report.runs.map((r) => r.mode)).toEqual(['no-cache', 'l1', 'l1+l2', 'http'])
    const l1l2 = report.runs[2] as DemoRun
    expect(l1l2.errors).toBe(0)
    expect(l1l2.hitRatio).toBeGreaterThan(0.5)
  })

  it('prints a table on stdout without --json', async () => {
    const { stdout } = await demo('--quiet', '--redis', 'redis://127.0.0.1:1')
    expect(stdout).toMatch(/No cache\s+L1 only\s+HTTP API/)
    expect(stdout).toMatch(/304 share/)
    expect(stdout).toMatch(/response-cache hits/)
    expect(stdout).toMatch(/hit ratio/)
    expect(stdout).toMatch(/p99 latency/)
    expect(stdout).toMatch(/skipped/i)
  })
})
