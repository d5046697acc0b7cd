import { headLines } from '../analysis/analyze.js'
import type { EventSink, RawEvent } from '../analysis/event.js'
import { DEFAULT_MAX_LINE_BYTES, splitLines } from '../analysis/lines.js'
import { Normalizer } from '../analysis/normalize/index.js'
import { createReader, detectFormat, type LogFormat } from '../analysis/readers/index.js'
import { readChunks } from '../simulation/readers/source.js'
import { SkippedLines, type TraceSource } from '../simulation/simulate.js'

/** The access-log formats `simulate` reads through `analyze`'s readers (`keys` and CSV key columns are its own). */
export const LOG_TRACE_FORMATS = ['combined', 'jsonl', 'postgres', 'redis-monitor'] as const
export type LogTraceFormat = (typeof LOG_TRACE_FORMATS)[number]

export function isLogTraceFormat(format: string): format is LogTraceFormat {
  return (LOG_TRACE_FORMATS as readonly string[]).includes(format)
}

/** The access-log format `analyze` would detect in `path`, when it is one simulate reads as a log. */
export async function detectLogTraceFormat(path: string): Promise<LogTraceFormat | undefined> {
  const format: LogFormat = detectFormat(await headLines(path), path)
  return isLogTraceFormat(format) ? format : undefined
}

const BATCH = 65_536

/**
 * The reads of an access log as a trace: each line read by `analyze`'s reader for `format` and
 * normalised the way `analyze` does, so a request's key is the cache key a read would use (the
 * route or query with its values, not the raw line with its timestamp). Writes and other
 * operations are skipped: only reads can hit. Keys are numbered as they come (4 bytes a request
 * plus the distinct keys), and handed over in batches once the log has been read.
 */
export function logTraceSource(path: string, format: LogTraceFormat): TraceSource {
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
