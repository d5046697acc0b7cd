import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { formatTerminal } from '../../dist/analysis/report/terminal.js'
import { tempDir } from './helpers.js'

let tmp: Awaited<ReturnType<typeof tempDir>>
/** Sets the terminal's title, clears the screen; C1 CSI (\x9b) does the same on some terminals. */
const HOSTILE = '\x1b]0;PWNED\x07\x1b[2J\x9b31m'
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f]/

beforeAll(async () => {
  tmp = await tempDir()
  const keys: string[] = []
  const monitor: string[] = []
  for (let i = 0; i < 400; i++) {
    keys.push(`user:${i % 20}`, `${HOSTILE}evil:${i % 5}`)
    // MONITOR escapes the bytes; the reader unescapes them back into the key.
    monitor.push(`${1700000000 + i}.000000 [0 127.0.0.1:5000] "GET" "\\x1b]0;PWNED\\x07cart:${i % 7}"`)
  }
  await writeFile(tmp.path('hostile.keys'), `${keys.join('\n')}\n`)
  await writeFile(tmp.path('hostile.monitor'), `${monitor.join('\n')}\n`)
})
afterAll(async () => {
  await tmp.cleanup()
})

describe('terminal report', () => {
  it('shows control characters from the keys escaped, never raw (no terminal escape sequence reaches the screen)', async () => {
    for (const [file, format] of [
      ['hostile.keys', 'keys'],
      ['hostile.monitor', 'redis-monitor'],
    ] as const) {
      const report = await analyzeFile(tmp.path(file), { format })
      const text = formatTerminal(report)
      expect(report.lines.events, file).toBe(800 / (format === 'keys' ? 1 : 2))
      expect(text.match(CONTROL), file).toBeNull()
      expect(text, file).toContain('\\x1b]0;PWNED\\x07')
    }
  })
})
