import { writeFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { analyzeFile, headLines } from '../../dist/analysis/analyze.js'
import { splitLines } from '../../dist/analysis/lines.js'
import {
  createReader,
  detectFormat,
  type LogFormat,
  parseFieldMap,
} from '../../dist/analysis/readers/index.js'
import { monitorArgs } from '../../dist/analysis/readers/redis-monitor.js'
import { collector, tempDir } from './helpers.js'

function read(format: LogFormat, text: string, fields?: string) {
  const reader = createReader(format, fields === undefined ? {} : { fields: parseFieldMap(fields) })
  const sink = collector()
  for (const [i, line] of text.split('\n').entries()) reader.line(line, i + 1, sink)
  reader.end(sink)
  return sink
}

describe('log readers', () => {
  it('combined: method, URL, time, bytes and nginx request time; a line missing fields is malformed', () => {
    const sink = read(
      'combined',
      [
        '10.0.0.1 - - [05/Jan/2026:09:00:01 +0000] "GET /api/products/42 HTTP/1.1" 200 1234 "-" "curl/8" 0.012',
        '10.0.0.1 - bob [05/Jan/2026:10:00:01 +0100] "PUT /api/products/42 HTTP/1.1" 204 - "-" "curl/8"',
        '10.0.0.1 - - [05/Jan/2026:09:00:01 +0000] "GET /x HTTP/1.1"',
      ].join('\n'),
    )
    expect(sink.events).toHaveLength(2)
    expect(sink.events[0]).toMatchObject({
      verb: 'GET',
      text: '/api/products/42',
      bytes: 1234,
      durationMs: 12,
      kind: 'http',
    })
    expect(sink.events[0]?.time).toBe(Date.UTC(2026, 0, 5, 9, 0, 1))
    expect(sink.events[1]?.time).toBe(Date.UTC(2026, 0, 5, 9, 0, 1)) // +0100
    expect(sink.events[1]?.bytes).toBeNaN()
    expect(sink.bad).toEqual([{ line: 3, reason: 'not a combined/common log line' }])
  })

  it('postgres: duration + statement, continuation lines, DETAIL parameters, log_duration after log_statement', () => {
    const sink = read(
      'postgres',
      [
        '2026-01-05 09:00:01.500 UTC [42] LOG:  duration: 0.412 ms  statement: SELECT *',
        '\tFROM users WHERE id = 7',
        '2026-01-05 09:00:02.000 UTC [42] LOG:  duration: 1.5 ms  execute <unnamed>: SELECT * FROM t WHERE id = $1',
        "2026-01-05 09:00:02.000 UTC [42] DETAIL:  parameters: $1 = '9'",
        '2026-01-05 09:00:03.000 UTC [43] LOG:  statement: UPDATE users SET a = 1 WHERE id = 7',
        '2026-01-05 09:00:03.001 UTC [43] LOG:  duration: 2.000 ms',
        '2026-01-05 09:00:04.000 UTC [44] LOG:  checkpoint starting: time',
        'garbage line',
      ].join('\n'),
    )
    expect(sink.events.map((e) => [e.text, e.durationMs, e.params])).toEqual([
      ['SELECT * FROM users WHERE id = 7', 0.412, undefined],
      ['SELECT * FROM t WHERE id = $1', 1.5, ['9']],
      ['UPDATE users SET a = 1 WHERE id = 7', 2, undefined],
    ])
    expect(sink.events[0]?.time).toBe(Date.UTC(2026, 0, 5, 9, 0, 1, 500))
    expect(sink.bad).toEqual([{ line: 8, reason: 'not a PostgreSQL log line' }])
  })

  it('redis-monitor: one event per key, writes with value sizes, keyless commands skipped', () => {
    const sink = read(
      'redis-monitor',
      [
        '1767603601.250000 [0 127.0.0.1:5000] "GET" "user:1"',
        '1767603601.260000 [0 127.0.0.1:5000] "MGET" "user:1" "user:2"',
        '1767603601.270000 [0 127.0.0.1:5000] "MSET" "a" "xyz" "b" "q"',
        '1767603601.280000 [0 lua] "SET" "say \\"hi\\"" "12345"',
        '1767603601.290000 [0 127.0.0.1:5000] "PING"',
        '1767603601.300000 [0 127.0.0.1:5000] "GET" "unterminated',
      ].join('\n'),
    )
    expect(sink.events.map((e) => [e.op, e.text, Number.isNaN(e.bytes) ? null : e.bytes])).toEqual([
      ['read', 'user:1', null],
      ['read', 'user:1', null],
      ['read', 'user:2', null],
      ['write', 'a', 3],
      ['write', 'b', 1],
      ['write', 'say "hi"', 5],
    ])
    expect(sink.events[0]?.time).toBe(1767603601250)
    expect(sink.skips).toEqual([5])
    expect(sink.bad).toEqual([{ line: 6, reason: 'not a MONITOR line' }])
  })

  it('csv: columns found by name, quoted fields, wrong field count is malformed', () => {
    const sink = read(
      'csv',
      [
        'timestamp,query_signature,params,duration_ms',
        '2026-01-05T09:00:00Z,"SELECT * FROM users WHERE id = ?",7,1.5',
        '2026-01-05T09:00:01Z,"SELECT a, b FROM t WHERE x = ?",q,2',
        '2026-01-05T09:00:02Z,only-two',
      ].join('\n'),
    )
    expect(sink.events.map((e) => [e.kind, e.text, e.params, e.durationMs])).toEqual([
      ['sql', 'SELECT * FROM users WHERE id = ?', ['7'], 1.5],
      ['sql', 'SELECT a, b FROM t WHERE x = ?', ['q'], 2],
    ])
    expect(sink.bad).toEqual([{ line: 4, reason: 'wrong field count (2, header has 4)' }])
  })

  it('csv: a quoted field spanning lines (a multi-line SQL statement) is one row, numbered by its first line', () => {
    const sink = read(
      'csv',
      [
        'timestamp,query,duration_ms',
        '2026-01-05T09:00:00Z,"SELECT *',
        '  FROM users',
        '  WHERE id = 7",1.5',
        '2026-01-05T09:00:01Z,"SELECT ""a"",',
        ' b FROM t WHERE x IN (1,2)",2',
        '2026-01-05T09:00:02Z,SELECT 1,3',
        '2026-01-05T09:00:03Z,"never closed,4',
      ].join('\n'),
    )
    expect(sink.events.map((e) => [e.line, e.text, e.durationMs])).toEqual([
      [2, 'SELECT *\n  FROM users\n  WHERE id = 7', 1.5],
      [5, 'SELECT "a",\n b FROM t WHERE x IN (1,2)', 2],
      [7, 'SELECT 1', 3],
    ])
    expect(sink.bad).toEqual([{ line: 8, reason: 'unterminated quote' }])
    // Detected as CSV too: its records have the header's width, though most of its lines do not.
    const statement = (i: number) => [
      `2026-01-05T09:00:0${i},"SELECT *`,
      '  FROM users',
      `  WHERE id = ${i}",1.5`,
    ]
    expect(detectFormat(['timestamp,query,duration_ms', ...[1, 2, 3, 4].flatMap(statement)])).toBe('csv')
    // A quote left open gives up after 64 KiB: the lines it held are read again as rows, not lost.
    const held = ['key,size', 'a,1', '"open,2', ...Array.from({ length: 9000 }, (_, i) => `k${i},${i}`)]
    const open = read('csv', held.join('\n'))
    expect(open.bad).toEqual([{ line: 3, reason: 'unterminated quote' }])
    expect(open.events).toHaveLength(1 + 9000)
    expect(open.events.map((e) => e.line)).toEqual([2, ...Array.from({ length: 9000 }, (_, i) => i + 4)])
    expect(open.events.at(-1)?.text).toBe('k8999')
  })

  it('jsonl: configurable fields with dotted paths and units; non-JSON is malformed', () => {
    const sink = read(
      'jsonl',
      [
        '{"t": 1767603600, "req": {"path": "/a/1", "verb": "get"}, "lat": 0.25}',
        '{"t": 1767603601',
        '[1,2]',
      ].join('\n'),
      'time=t,url=req.path,method=req.verb,duration=lat:s',
    )
    expect(sink.events).toHaveLength(1)
    expect(sink.events[0]).toMatchObject({
      kind: 'http',
      text: '/a/1',
      verb: 'GET',
      durationMs: 250,
      time: 1767603600000,
    })
    expect(sink.bad.map((b) => b.reason)).toEqual(['not JSON', 'not a JSON object'])
  })

  it('epoch timestamps in seconds, milliseconds, microseconds or nanoseconds all give the same time', () => {
    const at = 1767603600.25 // 2026-01-05T09:00:00.250Z
    const stamps = [
      `${at}`,
      `${at * 1e3}`,
      `${at * 1e6}`,
      `${BigInt(at * 1e6) * 1000n}`, // nanoseconds: as text, past the exact integers of a double
    ]
    const csv = read('csv', ['ts,key', ...stamps.map((t) => `${t},k`)].join('\n'))
    expect(csv.bad).toEqual([])
    expect(csv.events.map((e) => e.time)).toEqual(stamps.map(() => at * 1000))
    const jsonl = read('jsonl', stamps.map((t) => `{"ts": ${t}, "key": "k"}`).join('\n'))
    expect(jsonl.events.map((e) => e.time)).toEqual(stamps.map(() => at * 1000))
  })

  it('detects every format from its first lines', () => {
    expect(detectFormat(['1767603601.25 [0 127.0.0.1:5000] "GET" "k"'])).toBe('redis-monitor')
    expect(detectFormat(['2026-01-05 09:00:01 UTC [1] LOG:  statement: SELECT 1'])).toBe('postgres')
    expect(detectFormat(['1.2.3.4 - - [05/Jan/2026:09:00:01 +0000] "GET / HTTP/1.1" 200 5'])).toBe('combined')
    expect(detectFormat(['{"url": "/"}'])).toBe('jsonl')
    expect(detectFormat(['timestamp,query_signature', '1,SELECT 1'])).toBe('csv')
    expect(detectFormat(['user:1', 'user:2'])).toBe('keys')
  })

  it('detects a CSV by its header of names over rows with a number or a time, whatever its columns are called', () => {
    // Read as keys, each line (its timestamp included) was a key of its own.
    expect(detectFormat(['ts,item', '1700000000,k1', '1700000001,k2', '1700000001,k1'])).toBe('csv')
    expect(detectFormat(['when,thing', '2026-01-05T09:00:00Z,a', '2026-01-05T09:00:01Z,b'])).toBe('csv')
    // Still keys: no header of names, or nothing under it that reads as a value.
    expect(detectFormat(['user,1', 'user,2', 'user,3'])).toBe('keys')
    expect(detectFormat(['a,b', 'c,d', 'e,f'])).toBe('keys')
    expect(detectFormat(['user:1,x', 'user:2,y'])).toBe('keys')
  })

  it('detects a combined log with CRLF line ends, from the lines or from the file', async () => {
    const line = (n: number) =>
      `10.0.0.${n} - - [05/Jan/2026:09:00:0${n} +0000] "GET /api/users/${n} HTTP/1.1" 200 5`
    expect(detectFormat([1, 2, 3].map((n) => `${line(n)}\r`))).toBe('combined')
    const tmp = await tempDir()
    try {
      const path = tmp.path('access.log')
      await writeFile(path, [1, 2, 3, 1].map((n) => `${line(n)}\r\n`).join(''))
      expect(detectFormat(await headLines(path), path)).toBe('combined')
      // And the combined reader reads each CRLF line as an access (the \r is not part of it).
      const report = await analyzeFile(path)
      expect(report.source.format).toBe('combined')
      expect(report.lines.malformed).toBe(0)
      expect(report.lines.reads).toBe(4)
    } finally {
      await tmp.cleanup()
    }
  })

  it('reads a log that starts with a UTF-8 byte order mark: detected as without it, its first line not malformed', async () => {
    const tmp = await tempDir()
    try {
      const cases: [string, LogFormat, string[]][] = [
        ['bom.jsonl', 'jsonl', ['{"ts": 1767603600, "key": "a:1"}', '{"ts": 1767603601, "key": "a:2"}']],
        [
          'bom.log',
          'combined',
          [1, 2, 3].map(
            (n) => `10.0.0.${n} - - [05/Jan/2026:09:00:0${n} +0000] "GET /api/users/${n} HTTP/1.1" 200 5`,
          ),
        ],
        [
          'bom.monitor',
          'redis-monitor',
          ['1767603600.000001 [0 127.0.0.1:5000] "GET" "k:1"', '1767603600.5 [0 127.0.0.1:5000] "GET" "k:2"'],
        ],
      ]
      for (const [name, format, lines] of cases) {
        const path = tmp.path(name)
        await writeFile(path, `\uFEFF${lines.join('\n')}\n`)
        expect(detectFormat(await headLines(path), path), name).toBe(format)
        const report = await analyzeFile(path)
        expect(report.lines.malformedSamples, name).toEqual([])
        expect(report.lines.events, name).toBe(lines.length)
      }
    } finally {
      await tmp.cleanup()
    }
  })

  it('splits lines across chunk boundaries; long and binary lines are reported, not assembled', async () => {
    const lines: [number, string][] = []
    const bad: [number, string][] = []
    const text = `a\r\nbé\n${'x'.repeat(5000)}\nok\nbin\u0000ary\nlast`
    const bytes = Buffer.from(text)
    const chunks = [bytes.subarray(0, 4), bytes.subarray(4, 7), bytes.subarray(7, 3000), bytes.subarray(3000)]
    const total = await splitLines(
      chunks,
      { line: (t, n) => lines.push([n, t]), bad: (n, reason) => bad.push([n, reason]) },
      1000,
    )
    expect(total).toBe(6)
    expect(lines).toEqual([
      [1, 'a'],
      [2, 'bé'],
      [4, 'ok'],
      [6, 'last'],
    ])
    expect(bad).toEqual([
      [3, 'line too long (5000 characters)'],
      [5, 'binary data'],
    ])
  })
})

describe('MONITOR arguments', () => {
  it('unescape what Redis escapes (sdscatrepr: \\a, \\b, \\n, \\r, \\t, \\xHH, \\\\, \\"): a BEL in a key is not the letter a', () => {
    expect(monitorArgs(String.raw`"GET" "x\ay\bz\x41\n\"q\\"`)).toEqual(['GET', 'x\u0007y\u0008zA\n"q\\'])
  })

  it('refuse an \\x escape that is not two hex digits (a malformed line, not a NUL in the key)', () => {
    expect(monitorArgs(String.raw`"GET" "k\xZZ"`)).toBeUndefined()
    expect(monitorArgs(String.raw`"GET" "k\x4"`)).toBeUndefined()
  })
})
