import { StringDecoder } from 'node:string_decoder'
import type { TraceKey } from '../hash.js'
import {
  type Chunks,
  flatten,
  keyFromText,
  MAX_TRACE_LINE_BYTES,
  type ReadOptions,
  readChunks,
} from './source.js'

export interface CsvReadOptions extends ReadOptions {
  /**
   * The header name of the column holding the key. Default: the first of
   * {@link KEY_COLUMN_NAMES} the header has (any case), or its only column; otherwise the reader
   * refuses the file ({@link CsvKeyColumnError}) rather than guess — the first column of a log is
   * usually its timestamp, and keys made of timestamps replay as a hit ratio of nonsense.
   */
  readonly keyColumn?: string
  /** The field separator, one character. Default `,`. */
  readonly delimiter?: string
  /**
   * Records longer than this many characters are skipped (told to `onMalformed`), never assembled;
   * one holding a quoted field is an error (an unbalanced quote would swallow the rest of the file).
   * Default {@link MAX_TRACE_LINE_BYTES}.
   */
  readonly maxLineBytes?: number
}

/** A CSV trace the reader cannot go on with: names the file and the line. */
export class CsvTraceError extends Error {
  override name = 'CsvTraceError'

  constructor(
    readonly file: string,
    /** 1-based line of the file where the problem starts. */
    readonly line: number,
    problem: string,
  ) {
    super(`${file}:${line}: ${problem}`)
  }
}

/** Header names taken for the key column when none is named (any case), in this order. */
export const KEY_COLUMN_NAMES: readonly string[] = [
  'key',
  'cache_key',
  'cachekey',
  'object_id',
  'obj_id',
  'objid',
  'obj',
  'item_id',
  'id',
]

/** A CSV whose key column the reader cannot tell from its header: name it (`keyColumn`). */
export class CsvKeyColumnError extends Error {
  override name = 'CsvKeyColumnError'

  constructor(
    readonly file: string,
    /** The header's columns. */
    readonly columns: readonly string[],
  ) {
    super(
      `${file}: cannot tell which column holds the key (columns: ${columns.join(', ')}): none is named ${KEY_COLUMN_NAMES.join(', ')}. Name it with keyColumn.`,
    )
  }
}

/** The key column `header` names (see {@link KEY_COLUMN_NAMES}), its only column, else undefined. */
export function defaultKeyColumn(header: readonly string[]): number | undefined {
  const names = header.map((name) => name.trim().toLowerCase())
  for (const candidate of KEY_COLUMN_NAMES) {
    const index = names.indexOf(candidate)
    if (index !== -1) return index
  }
  return names.length === 1 ? 0 : undefined
}

const QUOTE = 34
const LF = 10
const CR = 13

/**
 * A CSV trace (RFC 4180: quoted fields, `""` inside quotes, CRLF or LF, newlines inside quotes)
 * with a header line, in batches of the key column's values. A value that is a canonical decimal
 * integer gives a number key, anything else its trimmed text; rows with an empty key are skipped.
 */
export function readCsvBatches(path: string, options: CsvReadOptions = {}): AsyncGenerator<TraceKey[]> {
  return decodeCsv(readChunks(path, options), options, path)
}

/** {@link readCsvBatches} over any stream of bytes, split anywhere; `name` is for error messages. */
export async function* decodeCsv(
  chunks: Chunks,
  options: Omit<CsvReadOptions, 'onProgress'> = {},
  name = 'input',
): AsyncGenerator<TraceKey[]> {
  const delimiter = options.delimiter ?? ','
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r') {
    throw new Error(
      `The CSV delimiter must be one character other than a quote or a newline; got '${delimiter}'.`,
    )
  }
  const sep = delimiter.charCodeAt(0)
  const max = options.maxLineBytes ?? MAX_TRACE_LINE_BYTES
  const decoder = new StringDecoder('utf8')

  let header: string[] | undefined
  let keyIndex = -1
  // Parser state, carried across chunks.
  let fields: string[] = []
  let field = ''
  let inQuotes = false
  let quotePending = false // saw a quote inside a quoted field: an escaped quote or the closing one
  let fieldStarted = false
  let out: TraceKey[] = []
  // Where we are, for messages and limits: lines count every LF, quoted ones too.
  let line = 1
  let recordLine = 1 // the line the current record starts on
  let quoteLine = 0 // the line the record's last quoted field opened on (0: none in this record)
  let recordChars = 0 // characters of the current record in earlier chunks
  let skipping = false // inside a record too long to assemble: dropped up to its line's end

  const unbalanced = (): CsvTraceError =>
    new CsvTraceError(
      name,
      quoteLine,
      `a quoted field opened on this line runs past ${max} characters: is a quote unbalanced? A field starting with '"' is quoted up to the next lone '"' (quotes inside are doubled: ""). Fix the line, or raise maxLineBytes.`,
    )
  const tooLong = (length: number): void => {
    if (header === undefined) {
      throw new CsvTraceError(
        name,
        recordLine,
        `the header line is longer than ${max} characters (${length}): is this a CSV trace?`,
      )
    }
    options.onMalformed?.(recordLine, `line too long (${length} characters, more than ${max})`)
  }
  const startRecord = (): void => {
    fields = []
    field = ''
    fieldStarted = false
    recordChars = 0
    recordLine = line
    quoteLine = 0
  }

  const endRecord = (length: number): void => {
    if (length > max) {
      if (quoteLine > 0) throw unbalanced()
      tooLong(length)
    } else if (header === undefined) {
      header = fields
      if (header.length > 0) header[0] = (header[0] as string).replace(/^\uFEFF/, '')
      keyIndex = chooseKeyColumn(header, options.keyColumn, name)
    } else if (!(fields.length === 1 && fields[0] === '')) {
      const value = fields[keyIndex]
      // A short row (a truncated last line, a stray newline) is skipped and counted, as an
      // overlong one: one bad row does not void the replay of the others.
      if (value === undefined) {
        options.onMalformed?.(
          recordLine,
          `row has ${fields.length} field(s); the key is field ${keyIndex + 1}`,
        )
      } else {
        const key = keyFromText(value)
        if (key !== undefined) out.push(key)
      }
    }
    startRecord()
  }

  const consume = (text: string): void => {
    let i = 0
    if (skipping) {
      const nl = text.indexOf('\n')
      if (nl === -1) {
        recordChars += text.length
        return
      }
      tooLong(recordChars + nl)
      skipping = false
      line++
      startRecord()
      i = nl + 1
    }
    let start = i // start of the unquoted run not yet appended to `field`
    let recordStart = i // where the current record starts in `text` (0: in an earlier chunk)
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (inQuotes) {
        if (quotePending) {
          quotePending = false
          if (c === QUOTE) {
            field += '"'
            start = i + 1
            continue
          }
          inQuotes = false // the quote closed the field; fall through to handle `c` unquoted
          start = i
        } else {
          if (c === QUOTE) {
            field += text.slice(start, i)
            quotePending = true
          } else if (c === LF) line++
          continue
        }
      }
      if (c === sep || c === LF) {
        fields.push(field + text.slice(start, i))
        field = ''
        fieldStarted = false
        start = i + 1
        if (c === LF) {
          endRecord(recordChars + i - recordStart)
          line++
          recordLine = line
          recordStart = i + 1
        }
      } else if (c === CR) {
        field += text.slice(start, i) // dropped: a CR is only ever part of a line ending here
        start = i + 1
      } else if (c === QUOTE && !fieldStarted && field === '' && start === i) {
        inQuotes = true
        quoteLine = line
        fieldStarted = true
        start = i + 1
      } else {
        fieldStarted = true
      }
    }
    if (!inQuotes || !quotePending) field += text.slice(start)
    recordChars += text.length - recordStart
    if (recordChars > max) {
      // Not assembled further: memory stays bounded whatever the file holds.
      if (quoteLine > 0) throw unbalanced()
      fields = []
      field = ''
      skipping = true
    }
  }

  for await (const chunk of chunks) {
    consume(decoder.write(chunk))
    if (out.length > 0) {
      yield out
      out = []
    }
  }
  consume(decoder.end())
  if (skipping) tooLong(recordChars)
  else {
    if (inQuotes && !quotePending)
      throw new CsvTraceError(
        name,
        quoteLine,
        `a quoted field opened on this line is never closed: is a quote unbalanced? Quotes inside a quoted field are doubled ("").`,
      )
    if (field !== '' || fields.length > 0 || fieldStarted) {
      fields.push(field)
      endRecord(recordChars)
    }
  }
  if (out.length > 0) yield out
}

/** {@link readCsvBatches}, key by key. */
export function readCsv(path: string, options: CsvReadOptions = {}): AsyncGenerator<TraceKey> {
  return flatten(readCsvBatches(path, options))
}

function chooseKeyColumn(header: readonly string[], wanted: string | undefined, path: string): number {
  const names = header.map((name) => name.trim())
  if (wanted === undefined) {
    const index = defaultKeyColumn(names)
    if (index === undefined) throw new CsvKeyColumnError(path, names)
    return index
  }
  let index = names.indexOf(wanted)
  if (index === -1) index = names.findIndex((name) => name.toLowerCase() === wanted.toLowerCase())
  if (index === -1) {
    throw new Error(`${path}: no column '${wanted}' in the header (columns: ${names.join(', ')}).`)
  }
  return index
}
