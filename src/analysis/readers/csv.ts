import { type EventSink, type LineReader, newRawEvent, resetRawEvent } from '../event.js'
import { DEFAULT_MAX_LINE_BYTES } from '../lines.js'
import { type FieldMap, fillEvent, kindOf, type ResolvedFields, resolveFields } from './fields.js'
import { anyTimeParser } from './time.js'

/**
 * CSV with a header line, like the seed's query log (`timestamp,query_signature,…`). Columns are
 * found by name (see FIELD_CANDIDATES in fields.ts) or named with `--fields`; the text column is a
 * query (`query_signature`, `query`, `sql`), a URL (`url`, `path`) or a key (`key`). Quoted fields
 * ("a,b", "say ""hi""") are read per RFC 4180, newlines inside them too (a multi-line SQL
 * statement: the row is numbered by its first line). A quote still open after `maxRecordChars`
 * gives up: that line is malformed and the lines it held are read again as rows. A row with a
 * different number of fields than the header is malformed.
 */
export function csvReader(map: FieldMap = {}, maxRecordChars = DEFAULT_MAX_LINE_BYTES): LineReader {
  const event = newRawEvent()
  const parseTime = anyTimeParser()
  let header: string[] | undefined
  let fields: ResolvedFields | undefined
  let text: ReturnType<typeof kindOf>
  let index = new Map<string, number>()
  let row: string[] = []
  // A record whose quoted field is still open: its lines so far.
  let held: string[] = []
  let heldLine = 0
  let heldQuotes = 0
  let heldChars = 0
  const get = (name: string): unknown => {
    const i = index.get(name)
    return i === undefined ? undefined : row[i]
  }

  const record = (line: string, cells: string[] | undefined, lineNumber: number, sink: EventSink): void => {
    if (cells === undefined) {
      sink.malformed(lineNumber, 'unterminated quote', line)
      return
    }
    if (cells.length !== (header as string[]).length) {
      sink.malformed(
        lineNumber,
        `wrong field count (${cells.length}, header has ${(header as string[]).length})`,
        line,
      )
      return
    }
    row = cells
    resetRawEvent(event, lineNumber)
    const problem = fillEvent(
      event,
      fields as ResolvedFields,
      text as NonNullable<typeof text>,
      get,
      parseTime,
    )
    if (problem !== undefined) sink.malformed(lineNumber, problem, line)
    else sink.event(event)
  }

  /** The held record never closed: its first line is malformed, the others are read again. */
  const giveUp = (sink: EventSink): void => {
    const [first, ...rest] = held
    const firstLine = heldLine
    held = []
    sink.malformed(firstLine, 'unterminated quote', first as string)
    for (const [i, line] of rest.entries()) reader.line(line, firstLine + 1 + i, sink)
  }

  const reader: LineReader = {
    format: 'csv',
    line(line: string, lineNumber: number, sink: EventSink): void {
      if (held.length > 0) {
        held.push(line)
        heldQuotes += quotes(line)
        heldChars += line.length + 1
        if (heldQuotes % 2 === 0) {
          const joined = held.join('\n')
          held = []
          record(joined, splitCsv(joined), heldLine, sink)
        } else if (heldChars > maxRecordChars) giveUp(sink)
        return
      }
      if (line.trim() === '') {
        sink.skipped(lineNumber)
        return
      }
      const cells = splitCsv(line)
      if (header === undefined) {
        if (cells === undefined) {
          sink.malformed(lineNumber, 'bad CSV header', line)
          return
        }
        header = cells.map((cell) => cell.trim())
        index = new Map(header.map((name, i) => [name, i]))
        fields = resolveFields(header, map)
        text = kindOf(fields)
        if (text === undefined) {
          // A column the header does not name as a time, a duration, a size…: the likely key.
          const described = new Set(Object.values(fields as ResolvedFields))
          const example = header.find((name) => name !== '' && !described.has(name)) ?? 'NAME'
          throw new RangeError(
            `CSV header '${line.slice(0, 200)}' has no query, url or key column: name the column holding the keys with --fields (e.g. --fields key=${example}, or query=NAME for SQL, url=NAME for paths).`,
          )
        }
        sink.skipped(lineNumber)
        return
      }
      if (cells === undefined) {
        const open = quotes(line)
        if (open % 2 === 1) {
          // A quoted field goes on past the line's end: the record goes on on the next lines.
          held = [line]
          heldLine = lineNumber
          heldQuotes = open
          heldChars = line.length
          return
        }
      }
      record(line, cells, lineNumber, sink)
    },
    end(sink: EventSink): void {
      while (held.length > 0) giveUp(sink)
    },
  }
  return reader
}

/** How many double quotes `line` holds. */
function quotes(line: string): number {
  let n = 0
  for (let i = line.indexOf('"'); i !== -1; i = line.indexOf('"', i + 1)) n++
  return n
}

/** One CSV line's fields, or undefined when a quote is left open. */
export function splitCsv(line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(',')
  const out: string[] = []
  let i = 0
  for (;;) {
    if (line[i] === '"') {
      let value = ''
      i++
      for (;;) {
        const q = line.indexOf('"', i)
        if (q === -1) return undefined
        value += line.slice(i, q)
        if (line[q + 1] === '"') {
          value += '"'
          i = q + 2
          continue
        }
        i = q + 1
        break
      }
      out.push(value)
      if (i >= line.length) return out
      if (line[i] !== ',') return undefined
      i++
    } else {
      const comma = line.indexOf(',', i)
      if (comma === -1) {
        out.push(line.slice(i))
        return out
      }
      out.push(line.slice(i, comma))
      i = comma + 1
    }
  }
}
