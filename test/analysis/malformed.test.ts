import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { tempDir } from './helpers.js'

let tmp: Awaited<ReturnType<typeof tempDir>>
const good = (i: number): string =>
  `10.0.0.${i % 9} - - [05/Jan/2026:09:${String(Math.floor(i / 60) % 60).padStart(2, '0')}:${String(i % 60).padStart(2, '0')} +0000] "GET /api/items/${i % 50} HTTP/1.1" 200 512 "-" "curl/8"`

beforeAll(async () => {
  tmp = await tempDir()
  const parts: Buffer[] = []
  for (let i = 0; i < 2000; i++) {
    parts.push(Buffer.from(`${good(i)}\n`))
    if (i === 10) parts.push(Buffer.from(`${good(i).slice(0, 40)}\n`)) // truncated → line 12
    if (i === 20) parts.push(Buffer.from([0x00, 0xff, 0xfe, 0x13, 0x37, 0x00, 0x0a])) // binary → line 23
    if (i === 30) parts.push(Buffer.from('1.2.3.4 - - [05/Jan/2026:09:00:00 +0000] "GET"\n')) // wrong field count → line 34
    if (i === 40) parts.push(Buffer.from(`${'A'.repeat(1024 * 1024)}\n`)) // a 1 MB line → line 45
  }
  parts.push(Buffer.from(good(2000).slice(0, 30))) // truncated last line, no newline
  await writeFile(tmp.path('dirty.log'), Buffer.concat(parts))
  await writeFile(tmp.path('garbage.log'), Buffer.from([0, 1, 2, 3, 0xff, 10, 0, 0xfe, 10]))
})
afterAll(async () => {
  await tmp.cleanup()
})

describe('malformed lines', () => {
  it('are counted by reason and sampled with their line numbers, and the analysis continues', async () => {
    const report = await analyzeFile(tmp.path('dirty.log'), { format: 'combined' })
    expect(report.lines.events).toBe(2000)
    expect(report.lines.malformed).toBe(5)
    expect(report.lines.malformedByReason).toEqual({
      'not a combined/common log line': 3,
      'binary data': 1,
      'line too long (1048576 characters)': 1,
    })
    expect(report.lines.malformedSamples.map((s) => [s.line, s.reason])).toEqual([
      [12, 'not a combined/common log line'],
      [23, 'binary data'],
      [34, 'not a combined/common log line'],
      [45, 'line too long (1048576 characters)'],
      [2005, 'not a combined/common log line'],
    ])
    expect(report.lines.malformedSamples[1]?.text).toContain('\\x00')
    expect(report.lines.malformedSamples.every((s) => s.text.length <= 121)).toBe(true)
    expect(report.cache.size).toBeGreaterThan(0)
  })

  it('a file of nothing but garbage yields no events (the CLI then exits non-zero)', async () => {
    const report = await analyzeFile(tmp.path('garbage.log'), { format: 'combined' })
    expect(report.lines.events).toBe(0)
    expect(report.lines.malformed).toBe(2)
  })
})
