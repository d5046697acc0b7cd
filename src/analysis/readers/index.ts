import type { LineReader } from '../event.js'
import { COMBINED_LINE, combinedReader } from './combined.js'
import { csvReader, splitCsv } from './csv.js'
import { FIELD_CANDIDATES, type FieldMap } from './fields.js'
import { jsonlReader } from './jsonl.js'
import { keysReader } from './keys.js'
import { postgresReader } from './postgres.js'
import { redisMonitorReader } from './redis-monitor.js'

export { type FieldMap, parseFieldMap } from './fields.js'

export const LOG_FORMATS = ['csv', 'jsonl', 'combined', 'postgres', 'redis-monitor', 'keys'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

export interface ReaderOptions {
  readonly fields?: FieldMap
}

export function createReader(format: LogFormat, options: ReaderOptions = {}): LineReader {
  switch (format) {
    case 'csv':
      return csvReader(options.fields)
    case 'jsonl':
      return jsonlReader(options.fields)
    case 'combined':
      return combinedReader()
    case 'postgres':
      return postgresReader()
    case 'redis-monitor':
      return redisMonitorReader()
    case 'keys':
      return keysReader()
  }
}

const MONITOR = /^\d+(?:\.\d+)? \[\d+ [^\]]*\] "/
const POSTGRES = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}.*\b(?:LOG|ERROR|WARNING|DETAIL|STATEMENT|FATAL): {2}/
const KNOWN_COLUMNS = new Set(Object.values(FIELD_CANDIDATES).flat())
const COLUMN_NAME = /^[A-Za-z_][\w.@ -]*$/
const VALUE = /^-?\d+(?:\.\d+)?$|^\d{4}-\d{2}-\d{2}/

/**
 * A CSV header whose names are none of the known ones: every cell a name, over rows of which most
 * hold a number or a date in one column (a timestamp, a latency). Read as keys, each such line —
 * its timestamp included — was a key of its own; read as CSV, it is refused unless `--fields`
 * names the key.
 */
function headerOverValues(header: readonly string[], rows: readonly string[]): boolean {
  if (rows.length === 0 || !header.every((cell) => COLUMN_NAME.test(cell.trim()))) return false
  const cells = rows.map((row) => splitCsv(row) ?? [])
  return header.some(
    (_, column) => cells.filter((row) => VALUE.test((row[column] ?? '').trim())).length >= 0.8 * cells.length,
  )
}

/**
 * CSV records from lines (blank ones left out): a line whose quoted field is left open goes on
 * with the next ones until its quotes balance, as the CSV reader reads them.
 */
function csvRecords(lines: readonly string[]): string[] {
  const records: string[] = []
  let open: string[] = []
  let quotes = 0
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw
    if (open.length === 0 && line.trim() === '') continue
    open.push(line)
    quotes += line.split('"').length - 1
    if (quotes % 2 === 0) {
      records.push(open.join('\n'))
      open = []
      quotes = 0
    }
  }
  if (open.length > 0) records.push(open.join('\n'))
  return records
}

/**
 * The format of a log from its first lines (blank and binary lines ignored): the format most of
 * them parse as, tried from the most specific (MONITOR, PostgreSQL, combined) to the least (a
 * CSV header naming a known column, JSON objects); anything else is a key per line. `name` breaks
 * ties (`.csv`, `.jsonl`/`.ndjson`).
 */
export function detectFormat(lines: readonly string[], name = ''): LogFormat {
  // A trailing \r (CRLF files, lines split on \n only) would defeat the `$`-anchored patterns
  // (a combined log read as keys); the readers see lines without it (src/analysis/lines.ts).
  const sample = lines
    .map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line))
    .filter((line) => line.trim() !== '')
    .slice(0, 50)
  if (sample.length === 0) return 'keys'
  const share = (test: (line: string) => boolean): number =>
    sample.filter((line) => test(line)).length / sample.length
  if (share((line) => MONITOR.test(line) || line === 'OK') >= 0.5) return 'redis-monitor'
  // Continuation lines (indented) count, but only beside a line with PostgreSQL's prefix: an
  // indented multi-line SQL statement in a CSV is not a PostgreSQL log.
  if (
    share((line) => POSTGRES.test(line) || /^\s/.test(line)) >= 0.5 &&
    sample.some((line) => POSTGRES.test(line))
  )
    return 'postgres'
  if (share((line) => COMBINED_LINE.test(line)) >= 0.5) return 'combined'
  if (share((line) => line.trimStart().startsWith('{')) >= 0.5) return 'jsonl'
  const header = splitCsv(sample[0] as string)
  if (header !== undefined && header.length >= 2) {
    const known = header.some((cell) => KNOWN_COLUMNS.has(cell.trim().toLowerCase()))
    const width = header.length
    const records = csvRecords(lines).slice(0, 50)
    const consistent =
      records.filter((record) => splitCsv(record)?.length === width).length >= 0.8 * records.length
    const named = known || /\.csv(\.gz)?$/i.test(name) || headerOverValues(header, records.slice(1))
    if (named && consistent) return 'csv'
  }
  if (/\.(jsonl|ndjson)(\.gz)?$/i.test(name)) return 'jsonl'
  return 'keys'
}
