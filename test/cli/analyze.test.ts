import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SHOP_WORKLOAD, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import { main } from '../../dist/cli/main.js'
import { tempDir } from '../analysis/helpers.js'
import { captureCli } from '../helpers/cli.js'

let tmp: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => {
  tmp = await tempDir()
  await writeWorkloadLog(
    tmp.path('shop.log'),
    { types: SHOP_WORKLOAD, readsPerSecond: 100, events: 20_000, seed: 2 },
    'postgres',
  )
  await writeFile(tmp.path('garbage.log'), Buffer.from([0, 1, 2, 0xff, 10, 0, 10]))
})
afterAll(async () => {
  await tmp.cleanup()
})

describe('stratacache analyze', () => {
  it('prints a terminal report: types, recommendations, cache size, the predicted hit ratio with its error band', async () => {
    const c = captureCli()
    expect(
      await main(
        ['analyze', tmp.path('shop.log'), '--max-staleness', '4h', '--max-staleness', 'users=5m'],
        c.ctx,
      ),
    ).toBe(0)
    const out = c.stdout()
    expect(out).toContain('(postgres,')
    expect(out).toMatch(/Hot set: \d+ of \d+ read signatures/)
    expect(out).toContain('SELECT * FROM users WHERE id = ?')
    expect(out).toMatch(
      /Predicted hit ratio: [\d.]+% ± [\d.]+ points .* replayed through the stratacache L1 with these TTLs, the invalidations its writes cause, this size and policy/,
    )
    expect(out).toMatch(/Capacity misses only: [\d.]+%\. With a Redis L2 behind the L1: [\d.]+%/)
    expect(out).toMatch(/Prediction ± [\d.]+ points/)
    expect(out).toMatch(/users=|TTL capped|5m/)
    expect(c.stderr()).toBe('') // no progress bar without a TTY
  })

  it('--json prints one parseable document; a progress bar is drawn only on a TTY stderr without --json', async () => {
    const c = captureCli(true)
    expect(await main(['analyze', '--file', tmp.path('shop.log'), '--json'], c.ctx)).toBe(0)
    const report = JSON.parse(c.stdout())
    expect(report.source.format).toBe('postgres')
    expect(report.cache.policy).toMatch(/lru|sieve|s3fifo|w-tinylfu/)
    // The prediction and its error band, as fractions.
    expect(report.cache.errorBand).toBeGreaterThan(0)
    expect(report.cache.errorBand).toBeLessThan(0.05)
    expect(report.cache.withL2HitRatio).toBeGreaterThanOrEqual(report.cache.predictedHitRatio)
    expect(c.stderr()).toBe('')
    const t = captureCli(true)
    expect(await main(['analyze', tmp.path('shop.log'), '--quiet'], t.ctx)).toBe(0)
    expect(t.stderr()).toBe('')
  })

  it('--emit-config prints a TypeScript module that type-checks against stratacache', async () => {
    const c = captureCli()
    expect(await main(['analyze', tmp.path('shop.log'), '--emit-config'], c.ctx)).toBe(0)
    const module = c.stdout()
    expect(module).toContain("import { type CacheOptions, defineKeys } from 'stratacache'")
    expect(module).toMatch(/usersById: \(id: string \| number\) => id/)
    expect(module).toMatch(/productsByCategory: \['products'\]/)
    // Type-check it inside the package, so that 'stratacache' resolves to this build.
    const dir = new URL('../../test-output/emit-config/', import.meta.url)
    await mkdir(dir, { recursive: true })
    await writeFile(
      new URL('cache-config.ts', dir),
      `${module}\nexport const k: string = keys.usersById(1)\n`,
    )
    const tsc = new URL('../../node_modules/typescript/bin/tsc', import.meta.url).pathname
    const args = [
      '--noEmit',
      '--strict',
      '--exactOptionalPropertyTypes',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2023',
      '--skipLibCheck',
      '--types',
      'node',
      new URL('cache-config.ts', dir).pathname,
    ]
    await expect(
      promisify(execFile)(process.execPath, [tsc, ...args], {
        cwd: new URL('../../', import.meta.url).pathname,
      }),
    ).resolves.toBeDefined()
  }, 60_000)

  it('--emit-config keeps text from the log inside its comments: U+2028, U+2029 and CR are escaped', async () => {
    const log = [
      '/api/c\u2028d/1',
      '/api/c\u2028d/2',
      '/api/e\u2029f/1',
      '/api/c\u2028d/1',
      '/api/e\u2029f/1',
    ]
      .map((url, i) => JSON.stringify({ ts: `2026-01-01T00:00:0${i}.000Z`, url, method: 'GET' }))
      .join('\n')
    await writeFile(tmp.path('terminators.jsonl'), `${log}\n`)
    const c = captureCli()
    expect(await main(['analyze', tmp.path('terminators.jsonl'), '--emit-config'], c.ctx)).toBe(0)
    const module = c.stdout()
    // A raw line terminator ends a // comment: what follows it would be code.
    expect(module).not.toMatch(/[\r\u2028\u2029]/)
    expect(module).toContain('// /api/c\\u2028d/:id')
    expect(module).toContain('// /api/e\\u2029f/:id')
  })

  it('a CSV whose header names no key column, in a file not named .csv: refused naming --fields key=COLUMN, never keyed on whole lines', async () => {
    const rows = Array.from(
      { length: 300 },
      (_, i) => `${1_700_000_000 + Math.floor(i / 3)},sku-${i % 20},${i % 7}`,
    )
    await writeFile(tmp.path('events.log'), `ts,item,latency_ms\n${rows.join('\n')}\n`)
    const c = captureCli()
    expect(await main(['analyze', tmp.path('events.log'), '-q'], c.ctx)).toBe(1)
    expect(c.stdout()).toBe('')
    expect(c.stderr()).toMatch(
      /CSV header 'ts,item,latency_ms' has no query, url or key column: name the column holding the keys with --fields \(e\.g\. --fields key=item, or query=NAME for SQL, url=NAME for paths\)\./,
    )
    const named = captureCli()
    expect(await main(['analyze', tmp.path('events.log'), '--fields', 'key=item', '--json'], named.ctx)).toBe(
      0,
    )
    expect(JSON.parse(named.stdout()).lines.events).toBe(300)
  })

  it('exits 1 with the reasons when nothing could be read; 2 on bad usage', async () => {
    const c = captureCli()
    expect(await main(['analyze', tmp.path('garbage.log'), '--format', 'combined'], c.ctx)).toBe(1)
    expect(c.stderr()).toContain('no access could be read')
    expect(c.stderr()).toContain('binary data')
    const u = captureCli()
    expect(await main(['analyze', tmp.path('shop.log'), '--format', 'combind'], u.ctx)).toBe(2)
    expect(u.stderr()).toContain('Did you mean combined?')
    const m = captureCli()
    expect(await main(['analyze'], m.ctx)).toBe(2)
    const s = captureCli()
    expect(await main(['analyze', tmp.path('shop.log'), '--max-staleness', 'soon'], s.ctx)).toBe(2)
  })
})
