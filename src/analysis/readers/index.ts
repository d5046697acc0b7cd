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
  if (share((line) => POSTGRES.test(line) || /^\s/.test(line)) >= 0.5) return 'postgres'
  if (share((line) => COMBINED_LINE.test(line)) >= 0.5) return 'combined'
  if (share((line) => line.trimStart().startsWith('{')) >= 0.5) return 'jsonl'
  const header = splitCsv(sample[0] as string)
  if (header !== undefined && header.length >= 2) {
    const known = header.some((cell) => KNOWN_COLUMNS.has(cell.trim().toLowerCase()))
    const width = header.length
    const consistent = share((line) => splitCsv(line)?.length === width) >= 0.8
    const named = known || /\.csv(\.gz)?$/i.test(name) || headerOverValues(header, sample.slice(1))
    if (named && consistent) return 'csv'
  }
  if (/\.(jsonl|ndjson)(\.gz)?$/i.test(name)) return 'jsonl'
  return 'keys'
}
