import { basename } from 'node:path'
import type { TraceKey } from '../hash.js'
import { readArcBatches } from './arc.js'
import { readCache2kBatches } from './cache2k.js'
import { type CsvReadOptions, readCsvBatches } from './csv.js'
import { readLinesBatches } from './lines.js'
import { readOracleGeneralBatches } from './oracle-general.js'
import type { ReadOptions } from './source.js'

export { decodeArc, readArc, readArcBatches } from './arc.js'
export { decodeCache2k, readCache2k, readCache2kBatches } from './cache2k.js'
export {
  CsvKeyColumnError,
  type CsvReadOptions,
  CsvTraceError,
  decodeCsv,
  defaultKeyColumn,
  KEY_COLUMN_NAMES,
  readCsv,
  readCsvBatches,
} from './csv.js'
export { decodeLines, readLines, readLinesBatches } from './lines.js'
export {
  decodeOracleGeneral,
  ORACLE_GENERAL_RECORD_BYTES,
  readOracleGeneral,
  readOracleGeneralBatches,
} from './oracle-general.js'
export {
  type Chunks,
  flatten,
  looksLikeText,
  type ReadOptions,
  readChunks,
  TraceFormatError,
} from './source.js'

/** The trace formats the simulator reads. */
export type TraceFormat = 'lines' | 'csv' | 'arc' | 'cache2k' | 'oracle'

export const TRACE_FORMATS: readonly TraceFormat[] = ['lines', 'csv', 'arc', 'cache2k', 'oracle']

/**
 * The format a file name implies, looking past a final `.gz`: `.lis` → arc, `.trace` → cache2k,
 * `.csv` → csv, a name containing `oracleGeneral` → oracle, `.txt`/`.keys` → lines; otherwise
 * `undefined` (the caller decides; `lines` is the usual fallback).
 */
export function inferFormat(path: string): TraceFormat | undefined {
  const name = basename(path).replace(/\.gz$/i, '').toLowerCase()
  if (name.endsWith('.lis')) return 'arc'
  if (name.endsWith('.trace')) return 'cache2k'
  if (name.endsWith('.csv')) return 'csv'
  if (name.includes('oraclegeneral')) return 'oracle'
  if (name.endsWith('.txt') || name.endsWith('.keys')) return 'lines'
  return undefined
}

/** Options of {@link readTraceBatches}: the CSV ones apply only to `csv`. */
export type TraceReadOptions = CsvReadOptions

/** The keys of a trace file in `format`, in batches (one per chunk read), streamed. */
export function readTraceBatches(
  path: string,
  format: TraceFormat,
  options: TraceReadOptions = {},
): AsyncGenerator<TraceKey[]> {
  const base: ReadOptions = {
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.onMalformed === undefined ? {} : { onMalformed: options.onMalformed }),
  }
  switch (format) {
    case 'lines':
      return readLinesBatches(path, base)
    case 'csv':
      return readCsvBatches(path, options)
    case 'arc':
      return readArcBatches(path, base)
    case 'cache2k':
      return readCache2kBatches(path, base)
    case 'oracle':
      return readOracleGeneralBatches(path, base)
    default:
      throw new Error(`Unknown trace format '${String(format)}': use one of ${TRACE_FORMATS.join(', ')}.`)
  }
}
