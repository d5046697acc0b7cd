import { StringDecoder } from 'node:string_decoder'
import type { TraceKey } from '../hash.js'
import { type Chunks, flatten, keyFromText, type ReadOptions, readChunks } from './source.js'

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
  const decoder = new StringDecoder('utf8')

  let header: string[] | undefined
  let keyIndex = -1
  let row = 0
  // Parser state, carried across chunks.
  let fields: string[] = []
  let field = ''
  let inQuotes = false
  let quotePending = false // saw a quote inside a quoted field: an escaped quote or the closing one
  let fieldStarted = false
  let out: TraceKey[] = []

  const endRecord = (): void => {
    row++
    if (header === undefined) {
      header = fields
      if (header.length > 0) header[0] = (header[0] as string).replace(/^\uFEFF/, '')
      keyIndex = chooseKeyColumn(header, options.keyColumn, name)
    } else if (!(fields.length === 1 && fields[0] === '')) {
      const value = fields[keyIndex]
      if (value === undefined) {
        throw new Error(
          `${name}: record ${row} has ${fields.length} field(s); the key is field ${keyIndex + 1}.`,
        )
      }
      const key = keyFromText(value)
      if (key !== undefined) out.push(key)
    }
    fields = []
  }

  const consume = (text: string): void => {
    let start = 0 // start of the unquoted run not yet appended to `field`
    for (let i = 0; i < text.length; i++) {
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
          }
          continue
        }
      }
      if (c === sep || c === LF) {
        fields.push(field + text.slice(start, i))
        field = ''
        fieldStarted = false
        start = i + 1
        if (c === LF) endRecord()
      } else if (c === CR) {
        field += text.slice(start, i) // dropped: a CR is only ever part of a line ending here
        start = i + 1
      } else if (c === QUOTE && !fieldStarted && field === '' && start === i) {
        inQuotes = true
        fieldStarted = true
        start = i + 1
      } else {
        fieldStarted = true
      }
    }
    if (!inQuotes || !quotePending) field += text.slice(start)
  }

  for await (const chunk of chunks) {
    consume(decoder.write(chunk))
    if (out.length > 0) {
      yield out
      out = []
    }
  }
  consume(decoder.end())
  if (inQuotes && !quotePending) throw new Error(`${name}: a quoted field is never closed.`)
  if (field !== '' || fields.length > 0 || fieldStarted) {
    fields.push(field)
    endRecord()
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
