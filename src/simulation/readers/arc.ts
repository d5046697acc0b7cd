import { type Chunks, flatten, forEachLine, type ReadOptions, readChunks } from './source.js'

const SPACE = 32
const TAB = 9
const CR = 13
const ZERO = 48
const NINE = 57

/**
 * The most blocks one request may touch (4 GiB of 4 KiB blocks): the ARC traces' requests are a
 * few blocks to a few thousand. A corrupt line's count (`5 99999999999 0 2`) was expanded block by
 * block until V8 aborted the process.
 */
export const MAX_ARC_BLOCK_COUNT = 1 << 20

/**
 * A trace in the ARC paper's `.lis` format (Megiddo & Modha, FAST 2003), in batches: each line is
 * `start_block block_count ignored request_id`, and a request touches `block_count` consecutive
 * blocks from `start_block`, each block one key. Only the first two fields are read. Blank lines
 * are skipped; anything else that does not start with two unsigned integers is an error.
 */
export function readArcBatches(path: string, options: ReadOptions = {}): AsyncGenerator<number[]> {
  return decodeArc(readChunks(path, options), path)
}

/** {@link readArcBatches} over any stream of bytes; `name` is for error messages. */
export function decodeArc(chunks: Chunks, name = 'input'): AsyncGenerator<number[]> {
  return forEachLine<number>(
    chunks,
    (buffer, start, end, line, out) => {
      let i = skipBlanks(buffer, start, end)
      if (i === end) return
      let block = 0
      let digits = 0
      for (; i < end; i++, digits++) {
        const c = buffer[i] as number
        if (c < ZERO || c > NINE) break
        block = block * 10 + (c - ZERO)
      }
      i = skipBlanks(buffer, i, end)
      let count = 0
      let countDigits = 0
      for (; i < end; i++, countDigits++) {
        const c = buffer[i] as number
        if (c < ZERO || c > NINE) break
        count = count * 10 + (c - ZERO)
      }
      const wellFormed =
        digits > 0 &&
        countDigits > 0 &&
        (i === end || isBlank(buffer[i] as number)) &&
        Number.isSafeInteger(block + count)
      if (!wellFormed) {
        const text = buffer.toString('utf8', start, Math.min(end, start + 80))
        throw new Error(
          `${name}:${line}: expected 'start_block block_count ignored request_id'; got '${text}'.`,
        )
      }
      if (count > MAX_ARC_BLOCK_COUNT) {
        throw new Error(
          `${name}:${line}: block_count ${count} is more than one request holds (${MAX_ARC_BLOCK_COUNT} blocks at most): a corrupt line? Fix or remove it.`,
        )
      }
      for (let b = 0; b < count; b++) out.push(block + b)
    },
    {
      // As any other line this format cannot read: an error, not a skip.
      onMalformed: (line, reason) => {
        throw new Error(`${name}:${line}: ${reason}; expected 'start_block block_count ignored request_id'.`)
      },
    },
  )
}

/** {@link readArcBatches}, key by key. */
export function readArc(path: string, options: ReadOptions = {}): AsyncGenerator<number> {
  return flatten(readArcBatches(path, options))
}

function skipBlanks(buffer: Buffer, i: number, end: number): number {
  while (i < end && isBlank(buffer[i] as number)) i++
  return i
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === CR
}
