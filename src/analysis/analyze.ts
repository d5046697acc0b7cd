import { open, stat } from 'node:fs/promises'
import { gunzipSync } from 'node:zlib'
import { readChunks } from '../simulation/readers/source.js'
import { Analyzer, type AnalyzerOptions } from './analyzer.js'
import { DEFAULT_MAX_LINE_BYTES, splitLines } from './lines.js'
import { createReader, detectFormat, type FieldMap, type LogFormat } from './readers/index.js'
import { buildReport } from './recommend.js'
import type { AnalysisReport } from './report-model.js'

export interface AnalyzeOptions extends AnalyzerOptions {
  /** Default: detected from the first lines. */
  readonly format?: LogFormat
  readonly fields?: FieldMap
  /** Default staleness tolerance, ms. Default 1 hour. */
  readonly maxStalenessMs?: number
  readonly maxStalenessByType?: Readonly<Record<string, number>>
  /** Share of an unbounded cache's hit ratio the recommended size must reach. Default 0.9. */
  readonly target?: number
  readonly maxLineBytes?: number
  /** Bytes read so far and the file's size (on disk). */
  readonly onProgress?: (bytesRead: number, totalBytes: number) => void
}

export const DEFAULT_MAX_STALENESS_MS = 3_600_000

/** The first lines of a file (up to 64 KiB, gunzipped when it ends in .gz), for format detection. */
export async function headLines(path: string): Promise<string[]> {
  const handle = await open(path, 'r')
  try {
    const buffer = Buffer.alloc(64 * 1024)
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0)
    let head = buffer.subarray(0, bytesRead)
    if (path.endsWith('.gz')) {
      try {
        head = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH: a truncated stream is fine */ })
      } catch {
        head = Buffer.alloc(0)
      }
    }
    // CRLF too: a trailing \r would keep the line-anchored patterns of detectFormat from matching.
    // A byte order mark is no part of the first line: `\s` matches it, and a BOM'd JSON log read
    // was read as PostgreSQL's (whose continuation lines start with a blank).
    const lines = head
      .toString('utf8')
      .replace(/^\uFEFF/, '')
      .split(/\r?\n/)
    if (bytesRead === buffer.length) lines.pop() // cut mid-line
    return lines.slice(0, 200)
  } finally {
    await handle.close()
  }
}

/**
 * Reads a log once, streaming, and returns the whole analysis: per-signature and per-type
 * statistics, miss-ratio curves, and the recommendations (see docs/analyze.md).
 */
export async function analyzeFile(path: string, options: AnalyzeOptions = {}): Promise<AnalysisReport> {
  const started = performance.now()
  const format = options.format ?? detectFormat(await headLines(path), path)
  const reader = createReader(format, options.fields === undefined ? {} : { fields: options.fields })
  const analyzer = new Analyzer(options)
  await splitLines(
    readChunks(path, options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    {
      line: (text, lineNumber) => reader.line(text, lineNumber, analyzer),
      bad: (lineNumber, reason, preview) => analyzer.malformed(lineNumber, reason, preview),
    },
    options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES,
  )
  reader.end(analyzer)
  analyzer.end()
  const { size } = await stat(path)
  return buildReport(analyzer, {
    file: path,
    format,
    bytes: size,
    elapsedMs: performance.now() - started,
    maxStalenessMs: options.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS,
    ...(options.maxStalenessByType === undefined ? {} : { maxStalenessByType: options.maxStalenessByType }),
    target: options.target ?? 0.9,
  })
}
