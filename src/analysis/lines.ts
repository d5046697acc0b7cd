import { StringDecoder } from 'node:string_decoder'
import type { Chunks } from '../simulation/readers/source.js'

/** Lines longer than this (in characters) are malformed by default: no log format here writes one legitimately. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024

/** Control characters other than tab and line ends. U+FFFD (what invalid UTF-8 decodes to) is searched apart. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const BINARY = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/

export interface LineHandler {
  line(text: string, lineNumber: number): void
  /** A line that cannot be text: too long (only its length is known) or binary. */
  bad(lineNumber: number, reason: string, preview: string): void
}

/**
 * Splits a byte stream into lines (`\n`, a trailing `\r` removed, a leading byte order mark too) and
 * hands each to `handler`.
 * Each chunk is decoded once (a multi-byte character cut by a chunk boundary is completed by the
 * next one) and lines are slices of it; the binary check runs once per chunk, and per line only in
 * the rare chunks where it found something. Bounded memory: a line longer than `maxLineBytes`
 * characters is never assembled — it is dropped as it arrives and reported once, with its length.
 * Lines with NUL or other control characters, or invalid UTF-8, are reported as binary.
 */
export async function splitLines(
  chunks: Chunks,
  handler: LineHandler,
  maxLineBytes = DEFAULT_MAX_LINE_BYTES,
): Promise<number> {
  const decoder = new StringDecoder('utf8')
  let carry = ''
  let lineNumber = 0
  let overlong = 0 // characters of an overlong line seen so far (0: not in one)
  let overlongPreview = ''
  let suspicious = false

  const emit = (text: string): void => {
    lineNumber++
    if (text.length > 0 && text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1)
    // A byte order mark (Windows editors write one) would make the first line malformed in every
    // format but CSV, or a key of its own.
    if (lineNumber === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    if (text.length > maxLineBytes) {
      handler.bad(lineNumber, `line too long (${text.length} characters)`, text.slice(0, 80))
      return
    }
    if (suspicious && (text.indexOf('\ufffd') !== -1 || BINARY.test(text))) {
      handler.bad(lineNumber, 'binary data', text.slice(0, 80))
      return
    }
    handler.line(text, lineNumber)
  }

  const feed = (chunk: string): void => {
    if (chunk === '') return
    let start = 0
    let nl = chunk.indexOf('\n')
    if (overlong > 0) {
      if (nl === -1) {
        overlong += chunk.length
        return
      }
      overlong += nl
      lineNumber++
      handler.bad(lineNumber, `line too long (${overlong} characters)`, overlongPreview)
      overlong = 0
      start = nl + 1
      nl = chunk.indexOf('\n', start)
    } else if (carry !== '') {
      if (nl === -1) {
        if (carry.length + chunk.length > maxLineBytes) {
          overlong = carry.length + chunk.length
          overlongPreview = carry.slice(0, 80)
          carry = ''
        } else carry += chunk
        return
      }
      const joined = carry + chunk.slice(0, nl)
      carry = ''
      const wasSuspicious = suspicious
      suspicious = suspicious || joined.indexOf('\ufffd') !== -1 || BINARY.test(joined)
      emit(joined)
      suspicious = wasSuspicious
      start = nl + 1
      nl = chunk.indexOf('\n', start)
    }
    while (nl !== -1) {
      emit(chunk.slice(start, nl))
      start = nl + 1
      nl = chunk.indexOf('\n', start)
    }
    if (start < chunk.length) {
      if (chunk.length - start > maxLineBytes) {
        overlong = chunk.length - start
        overlongPreview = chunk.slice(start, start + 80)
      } else {
        // A flat copy: a slice would keep the whole chunk alive.
        carry = Buffer.from(chunk.slice(start)).toString()
      }
    }
  }

  for await (const chunk of chunks) {
    // NUL bytes and invalid UTF-8 (decoded as U+FFFD) mark binary data; both are found natively.
    // Other control characters are looked for line by line only in a chunk that has either.
    const text = decoder.write(chunk)
    suspicious = chunk.indexOf(0) !== -1 || text.indexOf('\ufffd') !== -1
    feed(text)
  }
  const rest = decoder.end()
  suspicious = rest.indexOf('\ufffd') !== -1 || BINARY.test(rest)
  feed(rest)
  if (overlong > 0) {
    lineNumber++
    handler.bad(lineNumber, `line too long (${overlong} characters)`, overlongPreview)
  } else if (carry !== '') {
    suspicious = carry.indexOf('\ufffd') !== -1 || BINARY.test(carry)
    emit(carry)
  }
  return lineNumber
}
