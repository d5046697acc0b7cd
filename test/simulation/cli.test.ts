import { readFile, writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SHOP_WORKLOAD, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import type { CommandModule } from '../../dist/cli/command.js'
import * as simulateModule from '../../dist/cli/simulate.js'
import { run, simulateCommand } from '../../dist/cli/simulate.js'
import { captureCli } from '../helpers/cli.js'
import { tempDir, trace } from './helpers.js'

let tmp: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => {
  tmp = await tempDir()
  // a b c a b d a b c as numbers: LRU @ 2 → 0 hits, OPT @ 2 → 4 hits (see opt.test.ts)
  await writeFile(tmp.path('abc.txt'), 'a\nb\nc\na\nb\nd\na\nb\nc\n')
  await writeFile(tmp.path('keys.log.gz'), gzipSync('1\n2\n1\n2\n'))
  await writeFile(tmp.path('t.csv'), 'ts,obj\n1,x\n2,y\n3,x\n')
})
afterAll(async () => {
  await tmp.cleanup()
})

describe('stratacache simulate', () => {
  it('prints a table: policies by sizes, hit ratios in %, OPT as the upper bound', async () => {
    const c = captureCli()
    const code = await simulateCommand(
      ['--trace', tmp.path('abc.txt'), '--policies', 'lru,opt', '--sizes', '2,3'],
      c.ctx,
    )
    expect(code).toBe(0)
    const out = c.stdout()
    expect(out).toMatch(/abc\.txt \(lines\)/)
    expect(out).toMatch(/9 requests, 4 distinct keys/)
    expect(out).toMatch(/hit ratio %\s+2\s+3/)
    expect(out).toMatch(/lru\s+0\.00\s+44\.44\n/)
    expect(out).toMatch(/opt \(upper bound\)\s+44\.44\s+55\.56/)
    expect(out).toMatch(/Bélády/)
    expect(c.stderr()).toBe('')
  })

  it('--json: one document with every (policy, size)', async () => {
    const c = captureCli()
    expect(
      await simulateCommand(
        ['--synthetic', 'loop:100:1000', '--policies', 'lru,opt', '--sizes', '99,100%', '--json'],
        c.ctx,
      ),
    ).toBe(0)
    const doc = JSON.parse(c.stdout())
    expect(doc.source).toEqual({ kind: 'synthetic', name: 'loop n=100 requests=1,000', seed: 1 })
    expect(doc.requests).toBe(1000)
    expect(doc.distinctKeys).toBe(100)
    expect(
      doc.results.map((r: { policy: string; capacity: number; hits: number }) => [
        r.policy,
        r.capacity,
        r.hits,
      ]),
    ).toEqual([
      ['lru', 99, 0],
      ['lru', 100, 900],
      ['opt', 99, 891],
      ['opt', 100, 900],
    ])
  })

  it('--csv: a header and one row per (policy, size)', async () => {
    const c = captureCli()
    expect(
      await simulateCommand(
        ['--trace', tmp.path('keys.log.gz'), '--policies', 'lru', '--sizes', '1,2', '--csv'],
        c.ctx,
      ),
    ).toBe(0)
    expect(c.stdout()).toBe(
      'policy,size,capacity,requests,hits,misses,hit_ratio\nlru,1,1,4,0,4,0.000000\nlru,2,2,4,2,2,0.500000\n',
    )
  })

  it('reads a CSV column; infers formats from names', async () => {
    const c = captureCli()
    expect(
      await simulateCommand(
        ['--trace', tmp.path('t.csv'), '--key-column', 'obj', '--policies', 'lru', '--sizes', '5', '--csv'],
        c.ctx,
      ),
    ).toBe(0)
    expect(c.stdout()).toMatch(/lru,5,5,3,1,2,/)
  })

  it('draws a progress bar only on a terminal, and erases it', async () => {
    const tty = captureCli(true)
    expect(
      await simulateCommand(
        ['--synthetic', 'zipf:0.9:1000:300000', '--policies', 'lru,opt', '--sizes', '100'],
        tty.ctx,
      ),
    ).toBe(0)
    expect(tty.stderr()).toMatch(/reading/)
    expect(tty.stderr().endsWith('\r\x1b[K')).toBe(true)
    const quiet = captureCli(true)
    await simulateCommand(['--synthetic', 'zipf:0.9:1000:3000', '--sizes', '100', '--quiet'], quiet.ctx)
    expect(quiet.stderr()).toBe('')
    const json = captureCli(true)
    await simulateCommand(['--synthetic', 'zipf:0.9:1000:3000', '--sizes', '100', '--json'], json.ctx)
    expect(json.stderr()).toBe('')
  })

  it('bad usage: exit code 2 and a pointer to --help', async () => {
    const cases: [string[], RegExp][] = [
      [[], /either --trace FILE or --synthetic SPEC/],
      [['--synthetic', 'loop:10', '--trace', 'x'], /exactly one/],
      [
        ['--synthetic', 'loop:10', '--policies', 'lru,sieeve'],
        /unknown policy 'sieeve'. Did you mean sieve\?/,
      ],
      [['--synthetic', 'loop:10', '--sizes', '0'], /--sizes/],
      [['--synthetic', 'zipf:0.99'], /needs n/],
      [['--trace', '/nonexistent/trace.lis'], /no such file/],
      [['--trace', tmp.path('abc.txt'), '--format', 'parquet'], /--format must be one of/],
      [['--trace', tmp.path('abc.txt'), '--key-column', 'k'], /--key-column applies to csv/],
      [['--synthetic', 'loop:10', '--json', '--csv'], /exclusive/],
      [['--synthetic', 'loop:10', '--polices', 'lru'], /Did you mean --policies\?/],
    ]
    for (const [argv, message] of cases) {
      const c = captureCli()
      expect(await simulateCommand(argv, c.ctx), argv.join(' ')).toBe(2)
      expect(c.stderr()).toMatch(message)
      expect(c.stderr()).toMatch(/Run 'stratacache simulate --help'/)
    }
  })

  it('a text file read as a binary trace (--format, or a misleading name): refused with the formats, never a table', async () => {
    const text = Array.from({ length: 2400 }, (_, i) => `user:${i % 50}\n`).join('') // 780 × 24 bytes
    await writeFile(tmp.path('keys.log'), text)
    await writeFile(tmp.path('keys.oracleGeneral'), text)
    const cases: [string[], RegExp][] = [
      [
        ['--trace', tmp.path('keys.log'), '--format', 'oracle'],
        /'.*keys\.log' is text, not an oracle trace \(libCacheSim oracleGeneral: 24-byte little-endian binary records\)/,
      ],
      [
        ['--trace', tmp.path('keys.log'), '--format', 'cache2k'],
        /'.*keys\.log' is text, not a cache2k trace \(big-endian 32-bit integers\)/,
      ],
      [
        ['--trace', tmp.path('keys.oracleGeneral')],
        /is text, not an oracle trace \(.*\), as its name says: /,
      ],
    ]
    for (const [argv, message] of cases) {
      const c = captureCli()
      expect(await simulateCommand([...argv, '-q'], c.ctx), argv.join(' ')).toBe(2)
      expect(c.stdout()).toBe('')
      expect(c.stderr()).toMatch(message)
      expect(c.stderr()).toMatch(
        /Give its format with --format: lines, csv, arc, combined, jsonl, postgres or redis-monitor \(text\); cache2k and oracle are binary\./,
      )
    }
  })

  describe('a CSV: the key column by its header, never the first column (a timestamp)', () => {
    // A query log: 5 reads of 2 distinct (query, value) pairs, each at a timestamp of its own.
    const queryLog = [
      'timestamp,query_signature,params,operation',
      '2026-01-05T09:00:00.001Z,"SELECT * FROM users WHERE id = ?",1,read',
      '2026-01-05T09:00:00.002Z,"SELECT * FROM users WHERE id = ?",2,read',
      '2026-01-05T09:00:00.003Z,"SELECT * FROM users WHERE id = ?",1,read',
      '2026-01-05T09:00:00.004Z,"UPDATE users SET name = ? WHERE id = ?",x|1,write',
      '2026-01-05T09:00:00.005Z,"SELECT * FROM users WHERE id = ?",2,read',
      '2026-01-05T09:00:00.006Z,"SELECT * FROM users WHERE id = ?",1,read',
      '',
    ].join('\n')
    const json = async (argv: string[]) => {
      const c = captureCli()
      const code = await simulateCommand([...argv, '--policies', 'lru', '--sizes', '2', '--json'], c.ctx)
      return { code, stderr: c.stderr(), doc: code === 0 ? JSON.parse(c.stdout()) : undefined }
    }

    it('a query log (timestamp,query_signature,params,…) is keyed as analyze keys it: the query with its values, reads only', async () => {
      await writeFile(tmp.path('queries.csv'), queryLog)
      const { code, stderr, doc } = await json(['--trace', tmp.path('queries.csv')])
      expect(stderr).toBe('')
      expect(code).toBe(0)
      expect(doc.source.format).toBe('csv')
      expect([doc.requests, doc.distinctKeys, doc.results[0].hits]).toEqual([5, 2, 3])
    })

    it('detected as CSV by its header when its name does not say so (queries.log)', async () => {
      await writeFile(tmp.path('queries.log'), queryLog)
      const { code, doc } = await json(['--trace', tmp.path('queries.log')])
      expect(code).toBe(0)
      expect([doc.source.format, doc.requests, doc.distinctKeys]).toEqual(['csv', 5, 2])
    })

    it('an id column is the key when no column is named key', async () => {
      await writeFile(tmp.path('ids.csv'), 'timestamp,id,bytes\n100,7,1\n101,8,1\n102,7,1\n103,7,1\n')
      const { code, doc } = await json(['--trace', tmp.path('ids.csv')])
      expect(code).toBe(0)
      expect([doc.requests, doc.distinctKeys, doc.results[0].hits]).toEqual([4, 2, 2])
    })

    it('a header it cannot tell: bad usage naming the columns and --key-column', async () => {
      await writeFile(tmp.path('events.csv'), 'ts,user,latency_ms\n1,ann,3\n2,bob,4\n3,ann,5\n')
      const c = captureCli()
      expect(await simulateCommand(['--trace', tmp.path('events.csv'), '-q'], c.ctx)).toBe(2)
      expect(c.stdout()).toBe('')
      expect(c.stderr()).toMatch(
        /cannot tell which column of '.*events\.csv' holds the keys \(columns: ts, user, latency_ms\): none is named key, cache_key, .*id, nor query or url\. Give it with --key-column NAME \(e\.g\. --key-column user\)\./,
      )
      const named = captureCli()
      expect(
        await simulateCommand(
          ['--trace', tmp.path('events.csv'), '--key-column', 'user', '--sizes', '1', '--json'],
          named.ctx,
        ),
      ).toBe(0)
      expect(JSON.parse(named.stdout()).distinctKeys).toBe(2)
    })
  })

  it('a failure while reading: exit code 1', async () => {
    await writeFile(tmp.path('bad.lis'), '1 1 0 0\nnot a request\n')
    const c = captureCli()
    expect(await simulateCommand(['--trace', tmp.path('bad.lis'), '--sizes', '10'], c.ctx)).toBe(1)
    expect(c.stderr()).toMatch(/bad\.lis:2:/)
  })

  it('nothing read (an empty file, or the wrong --format): exit code 1 and a hint, never "0 requests"', async () => {
    await writeFile(tmp.path('empty.txt'), '')
    const c = captureCli()
    expect(await simulateCommand(['--trace', tmp.path('empty.txt'), '--sizes', '10'], c.ctx)).toBe(1)
    expect(c.stderr()).toMatch(
      /no access could be read from '.*empty\.txt' as lines \(the file is empty\)\. Check --format/,
    )
    expect(c.stdout()).toBe('')
    // Keys, read as a combined access log: every line skipped.
    const w = captureCli()
    expect(
      await simulateCommand(['--trace', tmp.path('abc.txt'), '--format', 'combined', '--sizes', '10'], w.ctx),
    ).toBe(1)
    expect(w.stderr()).toMatch(/no access could be read from '.*abc\.txt' as combined\. Check --format/)
  })

  it('says how many lines it left out of the replay, and the first; an ARC trace refuses an over-long line', async () => {
    // A key trace with one line over the 64 KiB limit: replayed without it, and said so.
    await writeFile(tmp.path('long.txt'), `a\nb\n${'x'.repeat(70_000)}\na\nb\n`)
    const c = captureCli()
    expect(await simulateCommand(['--trace', tmp.path('long.txt'), '--sizes', '10', '--json'], c.ctx)).toBe(0)
    expect(JSON.parse(c.stdout()).requests).toBe(4)
    expect(c.stderr()).toMatch(
      /1 line\(s\) of .*long\.txt could not be read as lines and were left out of the replay \(the first, line 3: line too long \(70000 bytes/,
    )
    // An access log with a line that is not one: the same report.
    await writeFile(
      tmp.path('mixed.log'),
      [
        '127.0.0.1 - - [10/Oct/2025:13:55:36 +0000] "GET /a HTTP/1.1" 200 10 "-" "x"',
        'not a log line',
        '127.0.0.1 - - [10/Oct/2025:13:55:37 +0000] "GET /a HTTP/1.1" 200 10 "-" "x"',
      ].join('\n'),
    )
    const m = captureCli()
    expect(
      await simulateCommand(
        ['--trace', tmp.path('mixed.log'), '--sizes', '10', '--format', 'combined'],
        m.ctx,
      ),
    ).toBe(0)
    expect(m.stderr()).toMatch(
      /1 line\(s\) of .*mixed\.log could not be read as combined .*\(the first, line 2: /,
    )
    // A clean trace says nothing.
    const clean = captureCli()
    expect(await simulateCommand(['--trace', tmp.path('abc.txt'), '--sizes', '2', '-q'], clean.ctx)).toBe(0)
    expect(clean.stderr()).toBe('')
    // ARC reads every line or fails: an over-long one is an error, not a skip.
    await writeFile(tmp.path('long.lis'), `1 1 0 0\n${'1'.repeat(70_000)} 1 0 0\n`)
    const arc = captureCli()
    expect(await simulateCommand(['--trace', tmp.path('long.lis'), '--sizes', '10'], arc.ctx)).toBe(1)
    expect(arc.stderr()).toMatch(/long\.lis:2: line too long/)
  })

  it('--help; run() is a CommandModule for src/cli/main.ts', async () => {
    const c = captureCli()
    expect(await run(['--help'], c.ctx)).toBe(0)
    expect(c.stdout()).toMatch(/Usage: stratacache simulate/)
    expect(c.stdout()).toMatch(/zipf:ALPHA:N/)
    await expect(run(['--bogus'], captureCli().ctx)).rejects.toMatchObject({ name: 'UsageError' })
    const command: CommandModule = simulateModule // what `load: () => import('./simulate.js')` must give
    expect(typeof command.run).toBe('function')
  })

  it("reads an access log as analyze does: docs/eviction.md's `simulate --trace access.log` works", async () => {
    const log = tmp.path('access.log')
    await writeWorkloadLog(
      log,
      { types: SHOP_WORKLOAD, readsPerSecond: 100, events: 5000, seed: 4 },
      'combined',
    )
    const gets = (await readFile(log, 'utf8')).split('\n').filter((line) => line.includes('"GET ')).length
    const c = captureCli()
    // The command of docs/eviction.md, as written there.
    const argv = ['--trace', log, '--policies', 'lru,sieve,s3fifo,w-tinylfu,opt', '--sizes', '1%,5%,10%']
    expect(await simulateCommand([...argv, '--json'], c.ctx)).toBe(0)
    expect(c.stderr()).toBe('')
    const doc = JSON.parse(c.stdout())
    expect(doc.source).toMatchObject({ kind: 'trace', format: 'combined' })
    // Every GET is a read, replayed by its route and values (the PUTs are writes: skipped).
    expect(doc.requests).toBe(gets)
    expect(doc.distinctKeys).toBeLessThan(gets / 2)
    const tinylfu = doc.results.find(
      (r: { policy: string; size: string }) => r.policy === 'w-tinylfu' && r.size === '10%',
    )
    expect(tinylfu.hitRatio).toBeGreaterThan(0.2)
  })

  it('refuses a trace whose keys (nearly) all differ, with a hint: raw log lines are not keys', async () => {
    const log = tmp.path('raw.log')
    await writeWorkloadLog(
      log,
      { types: SHOP_WORKLOAD, readsPerSecond: 100, events: 2000, seed: 4 },
      'combined',
    )
    const c = captureCli()
    expect(await simulateCommand(['--trace', log, '--format', 'lines', '--sizes', '10%'], c.ctx)).toBe(1)
    expect(c.stdout()).toBe('')
    expect(c.stderr()).toMatch(/have a key of their own: no policy could hit more than 0\.\d+% at any size/)
    expect(c.stderr()).toMatch(/--format combined\|jsonl\|postgres\|redis-monitor/)
  })

  it('aliases: tinylfu, belady; the OLTP anchor through the CLI', async () => {
    const c = captureCli()
    const code = await simulateCommand(
      ['--trace', trace('arc-OLTP.lis.gz'), '--policies', 'lru,belady', '--sizes', '1000', '--csv'],
      c.ctx,
    )
    expect(code).toBe(0)
    expect(c.stdout()).toMatch(/^lru,1000,1000,914145,\d+,\d+,0\.328\d+$/m)
    expect(c.stdout()).toMatch(/^opt,1000,1000,914145,\d+,\d+,0\.536\d+$/m)
  })
})
