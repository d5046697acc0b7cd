import { writeFile } from 'node:fs/promises'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CsvKeyColumnError,
  CsvTraceError,
  decodeArc,
  decodeCache2k,
  decodeCsv,
  decodeLines,
  decodeOracleGeneral,
  inferFormat,
  readArc,
  readCache2k,
  readChunks,
  readCsv,
  readLines,
  readOracleGeneral,
  readTraceBatches,
  TraceFormatError,
} from '../../dist/simulation/readers/index.js'
import { collect, splitEverywhere, tempDir, trace } from './helpers.js'

let tmp: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => {
  tmp = await tempDir()
})
afterAll(async () => {
  await tmp.cleanup()
})

const flat = async <T>(batches: AsyncIterable<T[]>): Promise<T[]> => (await collect(batches)).flat()

describe('lines reader', () => {
  const text =
    '1\n2\n  3  \r\n\nabc\n007\n-5\n-0\n12345678901234567\n9007199254740991\n9007199254740993\nfoo bar\nlast'
  const expected = [
    1,
    2,
    3,
    'abc',
    '007',
    -5,
    '-0',
    '12345678901234567',
    9007199254740991,
    '9007199254740993',
    'foo bar',
    'last',
  ]

  it('reads one key per line: canonical integers as numbers, anything else as trimmed text', async () => {
    await writeFile(tmp.path('keys.txt'), text)
    expect(await collect(readLines(tmp.path('keys.txt')))).toEqual(expected)
  })

  it('gunzips .gz files transparently', async () => {
    await writeFile(tmp.path('keys.txt.gz'), gzipSync(text))
    expect(await collect(readLines(tmp.path('keys.txt.gz')))).toEqual(expected)
  })

  it('drops a UTF-8 byte order mark before the first key (an editor that saves with one adds no key)', async () => {
    await writeFile(tmp.path('bom.txt'), `\uFEFF${text}`)
    expect(await collect(readLines(tmp.path('bom.txt')))).toEqual(expected)
  })

  it('joins lines split across chunks anywhere', async () => {
    expect(await flat(decodeLines(splitEverywhere(Buffer.from(text))))).toEqual(expected)
  })

  it('streams a file of many chunks, reporting progress', async () => {
    const n = 300_000
    const lines = Array.from({ length: n }, (_, i) => String((i * 7919) % 100_003))
    await writeFile(tmp.path('big.txt.gz'), gzipSync(`${lines.join('\n')}\n`))
    let lastProgress = 0
    let batches = 0
    let count = 0
    let sum = 0
    for await (const batch of readTraceBatches(tmp.path('big.txt.gz'), 'lines', {
      onProgress: (done, total) => {
        expect(done).toBeLessThanOrEqual(total)
        lastProgress = done / total
      },
    })) {
      batches++
      count += batch.length
      for (const key of batch) sum += key as number
    }
    expect(count).toBe(n)
    expect(sum).toBe(lines.reduce((s, l) => s + Number(l), 0))
    expect(batches).toBeGreaterThan(1)
    expect(lastProgress).toBe(1)
  })
})

describe('lines reader: long lines and broken gzip', () => {
  it('skips a line over 64 KiB, however it is split, and reads the lines around it', async () => {
    const long = 'x'.repeat(100 * 1024)
    const bytes = Buffer.from(`a\n${long}\nb\n${long}`)
    // Pieces of 4 KiB: the long line spans 25 chunks, as it does when read from a file.
    const pieces: Buffer[] = []
    for (let at = 0; at < bytes.length; at += 4096) pieces.push(bytes.subarray(at, at + 4096))
    expect(await flat(decodeLines(pieces))).toEqual(['a', 'b'])
    expect(await flat(decodeLines([bytes]))).toEqual(['a', 'b'])
  })

  it('keeps a line just under the limit, joined from many chunks', async () => {
    const line = 'k'.repeat(64 * 1024 - 1)
    expect(await flat(decodeLines(splitEverywhere(Buffer.from(`${line}\nz\n`), 4096)))).toEqual([line, 'z'])
  })

  it('names a .gz file that is not gzip, and one that is truncated', async () => {
    await writeFile(tmp.path('plain.txt.gz'), '1\n2\n3\n')
    await expect(collect(readLines(tmp.path('plain.txt.gz')))).rejects.toThrow(
      /'.*plain\.txt\.gz' is not valid gzip/,
    )
    const whole = gzipSync(Array.from({ length: 5000 }, (_, i) => String(i)).join('\n'))
    await writeFile(tmp.path('cut.txt.gz'), whole.subarray(0, whole.length - 100))
    await expect(collect(readLines(tmp.path('cut.txt.gz')))).rejects.toThrow(
      /'.*cut\.txt\.gz' is truncated: its gzip stream ends early/,
    )
  })
})

describe('csv reader', () => {
  const csv =
    'id,"the key",other\r\n' +
    '1,"a,b",x\r\n' +
    '2,"say ""hi""",y\r\n' +
    '3,"multi\nline",z\r\n' +
    '4,42,w\r\n' +
    '5,,v\r\n' +
    '\r\n' +
    '6, 7 ,u'
  const expected = ['a,b', 'say "hi"', 'multi\nline', 42, 7]

  it('reads the named key column: quotes, escaped quotes, embedded newlines, CRLF, empty keys skipped', async () => {
    await writeFile(tmp.path('trace.csv'), csv)
    expect(await collect(readCsv(tmp.path('trace.csv'), { keyColumn: 'the key' }))).toEqual(expected)
  })

  it('gives the same keys however the bytes are split', async () => {
    expect(await flat(decodeCsv(splitEverywhere(Buffer.from(csv)), { keyColumn: 'the key' }))).toEqual(
      expected,
    )
    expect(await flat(decodeCsv([Buffer.from(csv)], { keyColumn: 'the key' }))).toEqual(expected)
  })

  it("defaults to a column named 'key' (any case), or another key-like name; other delimiters", async () => {
    expect(await flat(decodeCsv([Buffer.from('\uFEFFts,Key\n1,a\n2,b\n')]))).toEqual(['a', 'b'])
    expect(await flat(decodeCsv([Buffer.from('obj,size\n10,1\n11,1\n')]))).toEqual([10, 11])
    expect(
      await flat(decodeCsv([Buffer.from('a;b\n1;x\n2;y\n')], { keyColumn: 'b', delimiter: ';' })),
    ).toEqual(['x', 'y'])
  })

  it('picks the key column by its name, never by its place: a timestamp first is not the key', async () => {
    const rows = (header: string, ...lines: string[]) => [Buffer.from(`${header}\n${lines.join('\n')}\n`)]
    expect(await flat(decodeCsv(rows('timestamp,id,size', '1700000000,7,10', '1700000001,8,10')))).toEqual([
      7, 8,
    ])
    expect(await flat(decodeCsv(rows('ts,obj_id', '1,a', '2,b')))).toEqual(['a', 'b'])
    expect(await flat(decodeCsv(rows('id,Cache_Key', '1,a', '2,b')))).toEqual(['a', 'b']) // a key before an id
    expect(await flat(decodeCsv(rows('page', '/a', '/b')))).toEqual(['/a', '/b']) // one column: that one
  })

  it('refuses a header it cannot tell the key column of, naming its columns', async () => {
    const csv = [Buffer.from('ts,user,latency_ms\n1,ann,3\n2,bob,4\n')]
    await expect(flat(decodeCsv(csv, {}, 'q.csv'))).rejects.toThrow(CsvKeyColumnError)
    await expect(flat(decodeCsv(csv, {}, 'q.csv'))).rejects.toThrow(
      /q\.csv: cannot tell which column holds the key \(columns: ts, user, latency_ms\): none is named key, cache_key, .*id\. Name it with keyColumn\./,
    )
    expect(await flat(decodeCsv(csv, { keyColumn: 'user' }))).toEqual(['ann', 'bob'])
  })

  it('gunzips and names a missing column', async () => {
    await writeFile(tmp.path('trace.csv.gz'), gzipSync(csv))
    expect(await collect(readCsv(tmp.path('trace.csv.gz'), { keyColumn: 'the key' }))).toEqual(expected)
    await expect(collect(readCsv(tmp.path('trace.csv'), { keyColumn: 'nope' }))).rejects.toThrow(
      /no column 'nope'.*id, the key, other/,
    )
  })
})

describe('CSV reader: bad rows', () => {
  const malformed = () => {
    const seen: [number, string][] = []
    return { seen, onMalformed: (line: number, reason: string) => void seen.push([line, reason]) }
  }

  it('skips a row too short to hold the key (a truncated last row too), counted with its line number', async () => {
    const bad = malformed()
    const csv = 'ts,key\n1,a\n2\n3,"multi\nline"\n4\n5,b\n6'
    expect(await flat(decodeCsv(splitEverywhere(Buffer.from(csv)), bad))).toEqual(['a', 'multi\nline', 'b'])
    expect(bad.seen).toEqual([
      [3, 'row has 1 field(s); the key is field 2'],
      [6, 'row has 1 field(s); the key is field 2'],
      [8, 'row has 1 field(s); the key is field 2'],
    ])
  })

  it('skips a line longer than the limit without assembling it, counted', async () => {
    const long = 'x'.repeat(200_000)
    const csv = Buffer.from(`key\na\n${long}\nb\n${long},${long}\nc\n`)
    const whole = malformed()
    expect(await flat(decodeCsv([csv], whole))).toEqual(['a', 'b', 'c'])
    expect(whole.seen).toEqual([
      [3, 'line too long (200000 characters, more than 65536)'],
      [5, 'line too long (400001 characters, more than 65536)'],
    ])
    const split = malformed()
    expect(await flat(decodeCsv(splitEverywhere(csv, 4096), { ...split, maxLineBytes: 1000 }))).toEqual([
      'a',
      'b',
      'c',
    ])
    expect(split.seen).toEqual([
      [3, 'line too long (200000 characters, more than 1000)'],
      [5, 'line too long (400001 characters, more than 1000)'],
    ])
  })

  it('stops at a quote never closed once it runs past the limit, naming the line it opened on, instead of holding the rest of the file', async () => {
    let chunksRead = 0
    function* rows(): Generator<Buffer> {
      chunksRead++
      yield Buffer.from('key\na\n"b\n')
      for (let i = 0; i < 1000; i++) {
        chunksRead++
        yield Buffer.from('c,d,e\n'.repeat(10_000))
      }
    }
    const reading = flat(decodeCsv(rows(), {}, 'open.csv'))
    await expect(reading).rejects.toThrow(CsvTraceError)
    await expect(flat(decodeCsv(rows(), {}, 'open.csv'))).rejects.toThrow(
      /open\.csv:3: a quoted field opened on this line runs past 65536 characters: is a quote unbalanced\?/,
    )
    expect(chunksRead).toBeLessThan(10)
    const quotedLong = Buffer.from(`key\na\n"${'x'.repeat(70_000)}"\nb\n`)
    await expect(flat(decodeCsv([quotedLong], {}, 'q.csv'))).rejects.toThrow(
      /q\.csv:3: a quoted field opened/,
    )
  })
})

describe('ARC .lis reader', () => {
  const lis = '10 3 0 1\n20 1 0 2\n\n5 2 0 3\r\n7 1 0 4'

  it('expands each request into block_count consecutive blocks', async () => {
    await writeFile(tmp.path('t.lis'), lis)
    expect(await collect(readArc(tmp.path('t.lis')))).toEqual([10, 11, 12, 20, 5, 6, 7])
    expect(await flat(decodeArc(splitEverywhere(Buffer.from(lis))))).toEqual([10, 11, 12, 20, 5, 6, 7])
  })

  it('names the file and line of a malformed request', async () => {
    await expect(flat(decodeArc([Buffer.from('1 1 0 0\nx 1 0 0\n')], 'bad.lis'))).rejects.toThrow(
      /bad\.lis:2:/,
    )
    await expect(flat(decodeArc([Buffer.from('1\n')], 'bad.lis'))).rejects.toThrow(/bad\.lis:1:/)
    await expect(flat(decodeArc([Buffer.from('1x2 1 0 0\n')], 'bad.lis'))).rejects.toThrow(/bad\.lis:1:/)
  })

  it('refuses a request of an implausible block count (a corrupt line) instead of expanding it until memory runs out', async () => {
    const lis = Buffer.from(`1 3 0 1\n5 ${5_000_000} 0 2\n7 1 0 3\n`)
    await expect(flat(decodeArc([lis], 'corrupt.lis'))).rejects.toThrow(
      /corrupt\.lis:2: block_count 5000000 is more than one request holds \(1048576 blocks at most\): a corrupt line\?/,
    )
  })

  it('hands a chunk of large requests over in bounded batches', async () => {
    const count = 1 << 20
    const lis = Buffer.from(`0 ${count} 0 1\n${count} ${count} 0 2\n${2 * count} ${count} 0 3\n`)
    const batches = await collect(decodeArc([lis]))
    expect(batches.reduce((n, batch) => n + batch.length, 0)).toBe(3 * count)
    expect(Math.max(...batches.map((batch) => batch.length))).toBeLessThanOrEqual(count)
    expect(batches.flat().every((block, i) => block === i)).toBe(true)
  })
})

describe('cache2k reader', () => {
  const values = [0, 1, -1, 2147483647, -2147483648, 123456789, -987654321, 0x01020304]
  const encode = (ints: readonly number[]): Buffer => {
    const buffer = Buffer.alloc(ints.length * 4)
    ints.forEach((v, i) => {
      buffer.writeInt32BE(v, i * 4)
    })
    return buffer
  }

  it('reads big-endian signed 32-bit integers, negative ones included', async () => {
    await writeFile(tmp.path('t.trace'), encode(values))
    expect(await collect(readCache2k(tmp.path('t.trace')))).toEqual(values)
  })

  it('reassembles integers split across chunks at every offset', async () => {
    expect(await flat(decodeCache2k(splitEverywhere(encode(values), 7)))).toEqual(values)
    expect(await flat(decodeCache2k(splitEverywhere(encode(values), 3)))).toEqual(values)
  })

  it('reassembles integers that straddle the chunks of a real gunzip stream', async () => {
    // Random ints barely compress, so the .gz spans several 1 MiB reads and the gunzipped chunks
    // come out at sizes that are not multiples of 4.
    const n = 800_000
    const ints = new Array<number>(n)
    let x = 0x12345678
    for (let i = 0; i < n; i++) {
      x ^= x << 13
      x ^= x >>> 17
      x ^= x << 5
      ints[i] = x | 0
    }
    const path = tmp.path('random.trace.gz')
    await writeFile(path, gzipSync(encode(ints)))
    const sizes = (await collect(readChunks(path))).map((chunk) => chunk.length)
    expect(sizes.some((size) => size % 4 !== 0)).toBe(true)
    const read = await collect(readCache2k(path))
    expect(read.length).toBe(n)
    const firstDifference = read.findIndex((v, i) => v !== ints[i])
    expect(firstDifference).toBe(-1)
  })

  it('refuses a file that is not a whole number of integers', async () => {
    await expect(flat(decodeCache2k([Buffer.alloc(10)], 'odd.trace'))).rejects.toThrow(/odd\.trace: 10 bytes/)
    // Split anyhow: a chunk that only adds to the pending integer counts too.
    const odd = [Buffer.alloc(6), Buffer.alloc(1), Buffer.alloc(3)]
    await expect(flat(decodeCache2k(odd, 'odd.trace'))).rejects.toThrow(
      /odd\.trace: 10 bytes .*\(2 byte\(s\) left over\)/,
    )
  })
})

describe('oracleGeneral reader', () => {
  const ids = [1n, 2n ** 32n + 5n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n, 0n]
  const encode = (objectIds: readonly bigint[]): Buffer => {
    const buffer = Buffer.alloc(objectIds.length * 24)
    objectIds.forEach((id, i) => {
      buffer.writeUInt32LE(1000 + i, i * 24) // timestamp
      buffer.writeBigUInt64LE(id, i * 24 + 4)
      buffer.writeUInt32LE(4096, i * 24 + 12) // size
      buffer.writeBigInt64LE(-1n, i * 24 + 16) // next access
    })
    return buffer
  }
  const expected = [1, 2 ** 32 + 5, 2 ** 53 - 1, '9007199254740992', '18446744073709551615', 0]

  it('reads obj_id as the key: a number up to 2^53 − 1, else its decimal text', async () => {
    await writeFile(tmp.path('t.oracleGeneral.bin'), encode(ids))
    expect(await collect(readOracleGeneral(tmp.path('t.oracleGeneral.bin')))).toEqual(expected)
    await writeFile(tmp.path('t.oracleGeneral.bin.gz'), gzipSync(encode(ids)))
    expect(await collect(readOracleGeneral(tmp.path('t.oracleGeneral.bin.gz')))).toEqual(expected)
  })

  it('reassembles records split across chunks; refuses a truncated file', async () => {
    expect(await flat(decodeOracleGeneral(splitEverywhere(encode(ids), 11)))).toEqual(expected)
    await expect(flat(decodeOracleGeneral([encode(ids).subarray(0, 30)], 'cut'))).rejects.toThrow(
      /cut: 30 bytes/,
    )
    // Whatever the chunks, the size named is the file's: a chunk too short to complete a record counts.
    const cut = encode(ids).subarray(0, 53)
    await expect(flat(decodeOracleGeneral(splitEverywhere(cut, 5), 'cut'))).rejects.toThrow(/cut: 53 bytes/)
  })
})

describe('format inference', () => {
  it('looks past .gz at the extension', () => {
    expect(inferFormat('traces/arc-OLTP.lis.gz')).toBe('arc')
    expect(inferFormat('cache2k-web07.trace.gz')).toBe('cache2k')
    expect(inferFormat('x.CSV')).toBe('csv')
    expect(inferFormat('/data/w01.oracleGeneral.bin')).toBe('oracle')
    expect(inferFormat('keys.txt.gz')).toBe('lines')
    expect(inferFormat('mystery.bin')).toBeUndefined()
  })
})

describe('the real traces', () => {
  it('arc-OLTP: 914,145 requests over 186,880 blocks', async () => {
    let count = 0
    const distinct = new Set<number>()
    for await (const batch of readTraceBatches(trace('arc-OLTP.lis.gz'), 'arc')) {
      count += batch.length
      for (const key of batch) distinct.add(key as number)
    }
    expect(count).toBe(914_145)
    expect(distinct.size).toBe(186_880)
  })

  it('cache2k-web07: 76,118 requests over 20,484 keys', async () => {
    const keys = await collect(readCache2k(trace('cache2k-web07.trace.gz')))
    expect(keys.length).toBe(76_118)
    expect(new Set(keys).size).toBe(20_484)
  })

  it('stops reading (and closes the file) when the consumer stops', async () => {
    let count = 0
    for await (const _ of readCache2k(trace('cache2k-orm-busy.trace.gz'))) {
      if (++count === 1000) break
    }
    expect(count).toBe(1000)
  })
})

describe('binary readers given text', () => {
  // 2,400 keys of 7 or 8 bytes: 18,720 bytes, a whole number of cache2k integers and of 24-byte
  // oracleGeneral records, so neither reader's length check catches it (it read as 780 garbage
  // records and simulate printed their hit ratios).
  const text = Array.from({ length: 2400 }, (_, i) => `user:${i % 50}\n`).join('')
  const short = 'GET /a\nGET /b\nGET /c\nGET /d\n' // 28 bytes: 7 integers, under one sample

  it('refuse it, naming the format expected, however the bytes are split', async () => {
    expect(Buffer.byteLength(text) % 24).toBe(0)
    for (const chunks of [[Buffer.from(text)], splitEverywhere(Buffer.from(text), 1000)]) {
      await expect(flat(decodeOracleGeneral(chunks, 'keys.txt'))).rejects.toThrow(
        /'keys\.txt' is text, not an oracle trace \(libCacheSim oracleGeneral: 24-byte little-endian binary records\)/,
      )
    }
    await expect(flat(decodeCache2k([Buffer.from(short)], 'short.txt'))).rejects.toThrow(
      /'short\.txt' is text, not a cache2k trace \(big-endian 32-bit integers\)/,
    )
    await expect(
      flat(decodeCache2k(splitEverywhere(Buffer.from(text), 7), 'keys.txt')),
    ).rejects.toBeInstanceOf(TraceFormatError)
  })

  it('refuse it gunzipped too, and UTF-8 text as well as ASCII', async () => {
    await writeFile(tmp.path('text.oracleGeneral.gz'), gzipSync(text))
    await expect(collect(readOracleGeneral(tmp.path('text.oracleGeneral.gz')))).rejects.toMatchObject({
      name: 'TraceFormatError',
      format: 'oracle',
    })
    const utf8 = Array.from({ length: 300 }, (_, i) => `café-${i % 9}\n`).join('')
    await expect(flat(decodeCache2k([Buffer.from(utf8)], 'cafe'))).rejects.toBeInstanceOf(TraceFormatError)
  })
})
