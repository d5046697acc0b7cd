import { type EventSink, type LineReader, newRawEvent, resetRawEvent } from '../event.js'
import { clfTimeParser } from './time.js'

/**
 * nginx / Apache access logs: the Common Log Format and the combined format (referer and user
 * agent appended), optionally followed by a request time — nginx's `$request_time` in seconds
 * (`0.012` or `rt=0.012`) or Apache's `%D` in microseconds (`us=1234`, or a bare integer).
 *
 *   127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "-" "curl/8" 0.004
 *
 * This regular expression is the definition of a line (format detection uses it); the reader
 * below is a hand-written scanner that accepts exactly the same lines and extracts the same
 * fields (test/analysis/readers.test.ts checks the two against each other on random lines): one
 * regex with ten groups per line cost more than the rest of the parsing put together.
 */
export const COMBINED_LINE =
  /^(\S+) (\S+) (\S+) \[([^\]]+)\] "([A-Za-z]+) ([^ "]+)(?: [^"]*)?" (\d{3}) (\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?(.*)$/

const TRAILING_TIME = /^\s+(?:(rt|request_time|us)=)?(\d+(?:\.\d+)?)\s*$/

/** The fields of one combined-log line, as {@link scanCombined} finds them (offsets into the line). */
export interface CombinedFields {
  /** The timestamp between the brackets: [timeStart, timeEnd). */
  timeStart: number
  timeEnd: number
  methodStart: number
  methodEnd: number
  urlStart: number
  urlEnd: number
  /** The response size, or [bytesStart, bytesEnd) is `-`. */
  bytesStart: number
  bytesEnd: number
  /** What follows the size (and the quoted referer and user agent when present): to the line's end. */
  tailStart: number
}

// Character codes.
const TAB = 9
const LF = 10
const CR = 13
const SPACE = 32
const QUOTE = 34
const DASH = 45
const DOT = 46
const ZERO = 48
const NINE = 57
const OPEN_BRACKET = 91
const BACKSLASH = 92

/** `\s` of JavaScript regular expressions (WhiteSpace and LineTerminator of ECMA-262). */
function isSpace(c: number): boolean {
  if (c < 128) return c === SPACE || (c >= TAB && c <= CR)
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  )
}

/** What `.` does not match: line terminators. */
function isLineTerminator(c: number): boolean {
  return c === LF || c === CR || c === 0x2028 || c === 0x2029
}

function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE
}

/** End of `"…"` starting at `i` (the opening quote) with backslash escapes, or -1: `"(?:[^"\\]|\\.)*"`. */
function quotedEnd(text: string, i: number): number {
  const n = text.length
  if (i >= n || text.charCodeAt(i) !== QUOTE) return -1
  for (let k = i + 1; k < n; k++) {
    const c = text.charCodeAt(k)
    if (c === QUOTE) return k + 1
    if (c === BACKSLASH) {
      if (k + 1 >= n || isLineTerminator(text.charCodeAt(k + 1))) return -1
      k++
    }
  }
  return -1
}

/**
 * Scans `text` as {@link COMBINED_LINE} would match it and fills `out`; false when it does not
 * match. Every part of the expression is deterministic (each run stops at the first character
 * it cannot take, and backtracking never finds another split), so one left-to-right pass decides
 * it. Long stretches are crossed with indexOf (native), not character by character.
 */
export function scanCombined(text: string, out: CombinedFields): boolean {
  const n = text.length
  let i = 0
  // (\S+) (\S+) (\S+) — three runs of non-space characters, each followed by one ' '.
  for (let field = 0; field < 3; field++) {
    const start = i
    for (;;) {
      if (i >= n) return false
      const c = text.charCodeAt(i)
      if (c > SPACE && c < 127) {
        i++
        continue
      }
      if (c === SPACE || isSpace(c)) break
      i++
    }
    if (i === start || text.charCodeAt(i) !== SPACE) return false
    i++
  }
  // \[([^\]]+)\] "
  if (text.charCodeAt(i) !== OPEN_BRACKET) return false
  const close = text.indexOf(']', i + 1)
  if (close <= i + 1) return false
  out.timeStart = i + 1
  out.timeEnd = close
  if (text.charCodeAt(close + 1) !== SPACE || text.charCodeAt(close + 2) !== QUOTE) return false
  // ([A-Za-z]+) followed by ' '
  i = close + 3
  const methodStart = i
  for (;;) {
    const c = text.charCodeAt(i) | 0x20 // NaN past the end | 0x20 = 0x20: not a letter
    if (c < 97 || c > 122) break
    i++
  }
  if (i === methodStart || text.charCodeAt(i) !== SPACE) return false
  out.methodStart = methodStart
  out.methodEnd = i
  // ([^ "]+)(?: [^"]*)?" — the URL ends at the first space or quote; the request at the first quote.
  const urlStart = i + 1
  const quote = text.indexOf('"', urlStart)
  if (quote === -1) return false
  const space = text.indexOf(' ', urlStart)
  const urlEnd = space !== -1 && space < quote ? space : quote
  if (urlEnd === urlStart) return false
  out.urlStart = urlStart
  out.urlEnd = urlEnd
  i = quote
  // " (\d{3}) (\d+|-)
  if (
    text.charCodeAt(i + 1) !== SPACE ||
    !isDigit(text.charCodeAt(i + 2)) ||
    !isDigit(text.charCodeAt(i + 3)) ||
    !isDigit(text.charCodeAt(i + 4)) ||
    text.charCodeAt(i + 5) !== SPACE
  )
    return false
  i += 6
  const bytesStart = i
  if (isDigit(text.charCodeAt(i))) {
    do i++
    while (isDigit(text.charCodeAt(i)))
  } else if (text.charCodeAt(i) === DASH) i++
  else return false
  out.bytesStart = bytesStart
  out.bytesEnd = i
  // (?: "…" "…")?(.*)$ — the quoted pair when it is there; the rest must hold no line terminator.
  let tail = i
  if (text.charCodeAt(i) === SPACE && text.charCodeAt(i + 1) === QUOTE) {
    // Without a backslash the quoted strings end at the next quote (the common case: indexOf).
    const escaped = text.indexOf('\\', i) !== -1
    const referer = escaped ? quotedEnd(text, i + 1) : text.indexOf('"', i + 2) + 1
    if (referer > 0 && text.charCodeAt(referer) === SPACE && text.charCodeAt(referer + 1) === QUOTE) {
      const agent = escaped ? quotedEnd(text, referer + 1) : text.indexOf('"', referer + 2) + 1
      if (agent > 0) tail = agent
    }
  }
  for (let k = tail; k < n; k++) if (isLineTerminator(text.charCodeAt(k))) return false
  out.tailStart = tail
  return true
}

/** `GET`, `POST`…: the method as one shared string (the normaliser's memo is keyed by it). */
function methodOf(text: string, start: number, end: number): string {
  const length = end - start
  if (length === 3) {
    if (text.startsWith('GET', start)) return 'GET'
    if (text.startsWith('PUT', start)) return 'PUT'
  } else if (length === 4) {
    if (text.startsWith('POST', start)) return 'POST'
    if (text.startsWith('HEAD', start)) return 'HEAD'
  } else if (length === 5) {
    if (text.startsWith('PATCH', start)) return 'PATCH'
  } else if (length === 6) {
    if (text.startsWith('DELETE', start)) return 'DELETE'
  }
  return text.slice(start, end).toUpperCase()
}

/** The response size: digits (exactly as Number() reads them) or NaN for `-`. */
function bytesOf(text: string, start: number, end: number): number {
  if (text.charCodeAt(start) === DASH) return Number.NaN
  if (end - start > 15) return Number(text.slice(start, end))
  let value = 0
  for (let i = start; i < end; i++) value = value * 10 + (text.charCodeAt(i) - ZERO)
  return value
}

/** Powers of ten that are exact doubles. */
const POW10 = Array.from({ length: 16 }, (_, k) => 10 ** k)

/**
 * The request time after the size (and quoted fields), in ms, or NaN. The common shape — one
 * space and a number — is read without a regex or a string: with at most 15 digits the digits
 * form an exact integer M, and M / 10^k (one correctly rounded division of exact doubles) is the
 * very double Number() returns for the text. Anything else goes through TRAILING_TIME.
 */
function durationOf(text: string, tail: number): number {
  const n = text.length
  if (tail >= n) return Number.NaN
  if (text.charCodeAt(tail) === SPACE && isDigit(text.charCodeAt(tail + 1))) {
    let i = tail + 1
    let mantissa = 0
    let c = text.charCodeAt(i)
    while (isDigit(c)) {
      mantissa = mantissa * 10 + (c - ZERO)
      c = text.charCodeAt(++i)
    }
    let decimals = -1 // -1: no fraction (a bare integer)
    if (c === DOT && isDigit(text.charCodeAt(i + 1))) {
      const point = i
      c = text.charCodeAt(++i)
      while (isDigit(c)) {
        mantissa = mantissa * 10 + (c - ZERO)
        c = text.charCodeAt(++i)
      }
      decimals = i - point - 1
    }
    if (i === n && i - tail - 1 - (decimals === -1 ? 0 : 1) <= 15) {
      if (decimals === -1) return mantissa / 1000
      return (mantissa / (POW10[decimals] as number)) * 1000
    }
  }
  const t = TRAILING_TIME.exec(text.slice(tail))
  if (t === null) return Number.NaN
  const value = Number(t[2])
  // A bare integer is Apache's %D (microseconds); a decimal is nginx's $request_time (seconds).
  return t[1] === 'us' || (t[1] === undefined && !(t[2] as string).includes('.'))
    ? value / 1000
    : value * 1000
}

export function combinedReader(): LineReader {
  const event = newRawEvent()
  event.kind = 'http'
  const parseTime = clfTimeParser()
  const fields: CombinedFields = {
    timeStart: 0,
    timeEnd: 0,
    methodStart: 0,
    methodEnd: 0,
    urlStart: 0,
    urlEnd: 0,
    bytesStart: 0,
    bytesEnd: 0,
    tailStart: 0,
  }
  return {
    format: 'combined',
    line(text: string, lineNumber: number, sink: EventSink): void {
      if (text === '') {
        sink.skipped(lineNumber)
        return
      }
      if (!scanCombined(text, fields)) {
        sink.malformed(lineNumber, 'not a combined/common log line', text)
        return
      }
      resetRawEvent(event, lineNumber)
      event.time = parseTime.within(text, fields.timeStart, fields.timeEnd)
      if (Number.isNaN(event.time)) {
        sink.malformed(lineNumber, 'bad timestamp', text)
        return
      }
      event.verb = methodOf(text, fields.methodStart, fields.methodEnd)
      event.text = text.slice(fields.urlStart, fields.urlEnd)
      event.bytes = bytesOf(text, fields.bytesStart, fields.bytesEnd)
      const duration = durationOf(text, fields.tailStart)
      if (!Number.isNaN(duration)) event.durationMs = duration
      sink.event(event)
    },
    end(): void {},
  }
}
