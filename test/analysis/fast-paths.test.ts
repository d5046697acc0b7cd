import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { normalizeUrl, UrlNormalizer } from '../../dist/analysis/normalize/url.js'
import { COMBINED_LINE, type CombinedFields, scanCombined } from '../../dist/analysis/readers/combined.js'
import { createReader } from '../../dist/analysis/readers/index.js'
import { hashKey } from '../../dist/eviction/policy.js'
import { collector } from './helpers.js'

// The analyser's hot path replaces general code (a regular expression, normalizeUrl per line) with
// hand-written scanners and templates. These properties pin them to the general code they replace.

const fields = (): CombinedFields => ({
  timeStart: 0,
  timeEnd: 0,
  methodStart: 0,
  methodEnd: 0,
  urlStart: 0,
  urlEnd: 0,
  bytesStart: 0,
  bytesEnd: 0,
  tailStart: 0,
})

/** Characters that change how a combined line parses: separators, quotes, escapes, odd spaces. */
const TRICKY = [
  ' ',
  '  ',
  '\t',
  '"',
  '\\',
  '\\"',
  ']',
  '[',
  '-',
  '0',
  '42',
  '\r',
  '\u2028',
  '\u00a0',
  'a',
  '.',
]

const wellFormed = fc
  .record({
    ip: fc.constantFrom('10.0.0.1', '::1', '-'),
    user: fc.constantFrom('-', 'bob', 'a[b'),
    time: fc.constantFrom('05/Jan/2026:09:00:01 +0000', '10/Oct/2000:13:55:36 -0700', 'x'),
    method: fc.constantFrom('GET', 'post', 'Patch', 'DELETE', 'HEAD', 'PUT'),
    url: fc.constantFrom('/api/products/42', '/a?b=1&c=2', '/', '/x%20y', '*'),
    protocol: fc.constantFrom(' HTTP/1.1', '', ' HTTP/1.0 extra'),
    status: fc.constantFrom('200', '304', '99'),
    bytes: fc.constantFrom('1234', '-', '0', '12345678901234567890'),
    quoted: fc.constantFrom('', ' "-" "curl/8"', ' "https://r/\\"q\\"" "Mozilla \\\\ 5"', ' "a" "b'),
    tail: fc.constantFrom('', ' 0.012', ' 12', ' rt=0.5', ' us=1234', ' request_time=3', ' 1.', ' x', '  7 '),
  })
  .map(
    (p) =>
      `${p.ip} - ${p.user} [${p.time}] "${p.method} ${p.url}${p.protocol}" ${p.status} ${p.bytes}${p.quoted}${p.tail}`,
  )

/** A line, then a few characters inserted, replaced or removed anywhere. */
const line = fc
  .tuple(
    wellFormed,
    fc.array(
      fc.record({ at: fc.nat(), remove: fc.nat({ max: 2 }), insert: fc.constantFrom(...TRICKY, '') }),
      { maxLength: 3 },
    ),
  )
  .map(([text, edits]) => {
    let out = text
    for (const edit of edits) {
      const at = edit.at % (out.length + 1)
      out = out.slice(0, at) + edit.insert + out.slice(at + edit.remove)
    }
    return out
  })

describe('analysis fast paths', () => {
  it('the combined-log scanner accepts exactly the lines COMBINED_LINE matches, with the same fields', () => {
    fc.assert(
      fc.property(line, (text) => {
        const m = COMBINED_LINE.exec(text)
        const f = fields()
        const scanned = scanCombined(text, f)
        expect(scanned).toBe(m !== null)
        if (m === null) return
        expect([
          text.slice(f.timeStart, f.timeEnd),
          text.slice(f.methodStart, f.methodEnd),
          text.slice(f.urlStart, f.urlEnd),
          text.slice(f.bytesStart, f.bytesEnd),
          text.slice(f.tailStart),
        ]).toEqual([m[4], m[5], m[6], m[8], m[9]])
      }),
      { numRuns: 5000 },
    )
  })

  it('request times read without a regex are the doubles Number() reads from the text', () => {
    const reader = createReader('combined')
    const decimal = fc
      .tuple(fc.nat({ max: 99_999 }), fc.nat({ max: 10 }), fc.boolean())
      .map(([n, zeros, fraction]) =>
        fraction ? `${Math.floor(n / 1000)}.${'0'.repeat(zeros)}${n % 1000}` : `${n}`,
      )
    fc.assert(
      fc.property(decimal, (time) => {
        const sink = collector()
        reader.line(`1.2.3.4 - - [05/Jan/2026:09:00:01 +0000] "GET / HTTP/1.1" 200 5 ${time}`, 1, sink)
        const value = Number(time)
        expect(sink.events[0]?.durationMs).toBe(time.includes('.') ? value * 1000 : value / 1000)
      }),
      { numRuns: 2000 },
    )
  })

  it("route templates give normalizeUrl's result and the key and entity hashes for every path, however often the route repeats", () => {
    const segment = fc.constantFrom(
      '',
      'api',
      'v2',
      'products',
      'Users',
      'views',
      'likes',
      '42',
      '7',
      '0',
      '-3',
      '2026-01-05',
      '3f2b8c1e-1234-4abc-8def-0123456789ab',
      'deadbeefcafe1234',
      'aZ9_aZ9_aZ9_aZ9_x',
      'app.3f9a8b7c.js',
      'style.css',
      'report.pdf',
      '123.png',
      'item42',
    )
    const path = fc
      .tuple(fc.array(segment, { minLength: 0, maxLength: 5 }), fc.constantFrom('', '/', '?a=1', '#f', '%41'))
      .map(([parts, end]) => `/${parts.join('/')}${end}`)
    const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', '')
    const urls = new UrlNormalizer()
    fc.assert(
      fc.property(fc.array(fc.tuple(path, method), { minLength: 1, maxLength: 20 }), (requests) => {
        for (const [url, verb] of [...requests, ...requests]) {
          const templated = urls.normalize(url, verb)
          if (templated === undefined) {
            expect(/[?#%]/.test(url)).toBe(true)
            continue
          }
          const { keyHash, entityHash, ...access } = templated
          expect(access).toEqual(normalizeUrl(url, verb))
          expect([keyHash, entityHash]).toEqual([
            hashKey(access.key),
            access.entity === '' ? 0 : hashKey(access.entity),
          ])
        }
      }),
      { numRuns: 1000 },
    )
  })
})
