import { headLines } from '../analysis/analyze.js'
import type { EventSink, RawEvent } from '../analysis/event.js'
import { DEFAULT_MAX_LINE_BYTES, splitLines } from '../analysis/lines.js'
import { Normalizer } from '../analysis/normalize/index.js'
import { splitCsv } from '../analysis/readers/csv.js'
import { kindOf, resolveFields } from '../analysis/readers/fields.js'
import { createReader, detectFormat, type LogFormat } from '../analysis/readers/index.js'
import { readChunks } from '../simulation/readers/source.js'
import { SkippedLines, type TraceSource } from '../simulation/simulate.js'

/**
 * The access-log formats `simulate` reads through `analyze`'s readers (`keys` and CSV key columns
 * are its own; a CSV query log, without a key column, is read through them too).
 */
export const LOG_TRACE_FORMATS = ['combined', 'jsonl', 'postgres', 'redis-monitor'] as const
export type LogTraceFormat = (typeof LOG_TRACE_FORMATS)[number]

export function isLogTraceFormat(format: string): format is LogTraceFormat {
  return (LOG_TRACE_FORMATS as readonly string[]).includes(format)
}

/**
 * The format `analyze` would detect in `path`, when it is an access log simulate reads as one, or
 * a CSV (a header naming known columns: its lines as keys would hold the timestamps); otherwise
 * undefined.
 */
export async function detectLogTraceFormat(path: string): Promise<LogTraceFormat | 'csv' | undefined> {
  const format: LogFormat = detectFormat(await headLines(path), path)
  return isLogTraceFormat(format) || format === 'csv' ? format : undefined
}

/** The columns of a CSV's header (its first line that is not blank), or undefined. */
export async function csvHeader(path: string): Promise<string[] | undefined> {
  const first = (await headLines(path)).find((line) => line.trim() !== '')
  return first === undefined ? undefined : splitCsv(first.replace(/^\uFEFF/, ''))?.map((name) => name.trim())
}

/**
 * The header's query or URL column, as `analyze` finds it (query_signature, query, sql…; url,
 * path…): a query log, whose key is that query (or route) with its values — not one column.
 */
export function queryLogColumn(header: readonly string[]): string | undefined {
  const text = kindOf(resolveFields(header, {}))
  return text === undefined || text.kind === 'key' ? undefined : text.field
}

/** The columns `analyze` reads as something other than a key (a time, a duration, a size, an operation…). */
export function describedColumns(header: readonly string[]): Set<string> {
  return new Set(Object.values(resolveFields(header, {})).filter((v): v is string => typeof v === 'string'))
}

const BATCH = 65_536

/**
 * The reads of an access log as a trace: each line read by `analyze`'s reader for `format` and
 * normalised the way `analyze` does, so a request's key is the cache key a read would use (the
 * route or query with its values, not the raw line with its timestamp). Writes and other
 * operations are skipped: only reads can hit. Keys are numbered as they come (4 bytes a request
 * plus the distinct keys), and handed over in batches once the log has been read.
 */
export function logTraceSource(path: string, format: LogTraceFormat | 'csv'): TraceSource {
  const skipped = new SkippedLines()
  return {
    name: path,
    skipped,
    async *batches(onProgress) {
      const ids = new Map<string, number>()
      let trace = new Int32Array(BATCH)
      let length = 0
      const reader = createReader(format)
      const normalizer = new Normalizer()
      const sink: EventSink = {
        event(raw: RawEvent) {
          const access = normalizer.normalize(raw)
          if (access.op !== 'read') return
          let id = ids.get(access.key)
          if (id === undefined) {
            id = ids.size
            ids.set(access.key, id)
          }
          if (length === trace.length) {
            const bigger = new Int32Array(trace.length * 2)
            bigger.set(trace)
            trace = bigger
          }
          trace[length++] = id
        },
        malformed: (line, reason) => skipped.add(line, reason),
        // A well-formed line without an access (a header, a checkpoint): nothing lost.
        skipped() {},
      }
      await splitLines(
        readChunks(path, onProgress === undefined ? {} : { onProgress }),
        {
          line: (text, lineNumber) => reader.line(text, lineNumber, sink),
          bad: (line, reason) => skipped.add(line, reason),
        },
        DEFAULT_MAX_LINE_BYTES,
      )
      reader.end(sink)
      ids.clear()
      for (let from = 0; from < length; from += BATCH) {
        yield Array.from(trace.subarray(from, Math.min(length, from + BATCH)))
      }
    },
  }
}
