import type { TraceKey } from '../hash.js'
import {
  type Chunks,
  flatten,
  forEachLine,
  keyFromBytes,
  type LineOptions,
  type ReadOptions,
  readChunks,
} from './source.js'

/**
 * A text trace with one key per line, in batches (one per chunk of the file). A line holding a
 * canonical decimal integer gives a number key, any other line the trimmed text; blank lines are
 * skipped, and so is a byte order mark before the first line. Streams: memory stays at a chunk or two whatever the file's size.
 */
export function readLinesBatches(path: string, options: ReadOptions = {}): AsyncGenerator<TraceKey[]> {
  return decodeLines(readChunks(path, options), options)
}

/** {@link readLinesBatches} over any stream of bytes (one batch per chunk). */
export function decodeLines(chunks: Chunks, options: LineOptions = {}): AsyncGenerator<TraceKey[]> {
  return forEachLine<TraceKey>(
    chunks,
    (buffer, start, end, line, out) => {
      // A UTF-8 byte order mark (an editor's) is not part of the first key.
      if (
        line === 1 &&
        end - start >= 3 &&
        buffer[start] === 0xef &&
        buffer[start + 1] === 0xbb &&
        buffer[start + 2] === 0xbf
      )
        start += 3
      const key = keyFromBytes(buffer, start, end)
      if (key !== undefined) out.push(key)
    },
    options,
  )
}

/** {@link readLinesBatches}, key by key. */
export function readLines(path: string, options: ReadOptions = {}): AsyncGenerator<TraceKey> {
  return flatten(readLinesBatches(path, options))
}
