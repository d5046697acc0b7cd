import { isUtf8 } from 'node:buffer'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream'
import { createGunzip } from 'node:zlib'
import type { TraceKey } from '../hash.js'

/** Bytes, chunk by chunk: a file's (see {@link readChunks}), stdin, or an array in tests. */
export type Chunks = AsyncIterable<Buffer> | Iterable<Buffer>

/** Options every trace reader accepts. */
export interface ReadOptions {
  /**
   * Called after each chunk of the file is read, with the bytes read so far and the file's size
   * (both counted on disk, so compressed for a `.gz`): enough to draw a progress bar.
   */
  readonly onProgress?: (bytesRead: number, totalBytes: number) => void
  /** Told of each line a text reader skipped (too long): the caller reports how many. */
  readonly onMalformed?: (lineNumber: number, reason: string) => void
}

const FILE_CHUNK = 1 << 20
const GUNZIP_CHUNK = 1 << 18

/**
 * The bytes of a trace file, chunk by chunk, gunzipped on the fly when the name ends in `.gz`.
 * Never holds more than a chunk or two in memory. Breaking out of the loop closes the file.
 */
export async function* readChunks(path: string, options: ReadOptions = {}): AsyncGenerator<Buffer> {
  const { onProgress } = options
  const total = onProgress === undefined ? 0 : (await stat(path)).size
  let read = 0
  const file = createReadStream(path, { highWaterMark: FILE_CHUNK })
  if (!path.endsWith('.gz')) {
    for await (const chunk of file as AsyncIterable<Buffer>) {
      read += chunk.length
      onProgress?.(read, total)
      yield chunk
    }
    return
  }
  if (onProgress !== undefined) {
    // `pipe` already reads in flowing mode: one more 'data' listener only observes.
    file.on('data', (chunk: Buffer | string) => {
      read += chunk.length
    })
  }
  const gunzip = createGunzip({ chunkSize: GUNZIP_CHUNK })
  // Errors on either side reach the loop below through `gunzip`; an early exit destroys both.
  pipeline(file, gunzip, () => {})
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      onProgress?.(read, total)
      yield chunk
    }
  } catch (error) {
    throw gzipError(path, error)
  }
}

/** A `.gz` trace that zlib refused: says which file and what is wrong with it, not zlib's bare words. */
export class TraceGzipError extends Error {
  override name = 'TraceGzipError'
}

function gzipError(path: string, error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code !== 'string' || !code.startsWith('Z_')) return error // the file itself: ENOENT, EISDIR…
  // zlib's own words ride along as the cause (the CLI prints it on the next line).
  return new TraceGzipError(
    code === 'Z_BUF_ERROR'
      ? `'${path}' is truncated: its gzip stream ends early. Copy or download it again; the keys before the cut can be read with \`gzip -dc '${path}' > trace\`.`
      : `'${path}' is not valid gzip. A name ending in .gz is gunzipped: rename it if it is plain text, or check that it was copied whole.`,
    { cause: error },
  )
}

/** Text handed to a binary trace reader: its bytes would be replayed as garbage keys. */
export class TraceFormatError extends Error {
  override name = 'TraceFormatError'

  constructor(
    /** The file (or stream) read. */
    readonly file: string,
    /** The binary format the reader expected: `oracle`, `cache2k`. */
    readonly format: string,
    /** That format, described: `a cache2k trace (big-endian 32-bit integers)`. */
    readonly description: string,
  ) {
    super(`'${file}' is text, not ${description}: read as one, its lines would be replayed as garbage keys.`)
  }
}

/** Bytes looked at before deciding whether a binary trace is text. */
const SNIFF_BYTES = 4096

/**
 * The bytes of `chunks`, as they come, once their first {@link SNIFF_BYTES} (or all, if fewer) are
 * known not to be text; rejects with a {@link TraceFormatError} (`format`, described as
 * `description`) before handing any over otherwise. A binary trace's records hold zero bytes
 * (the high bytes of small integers) and rarely form valid UTF-8; a text file holds none.
 */
export async function* refuseText(
  chunks: Chunks,
  name: string,
  format: string,
  description: string,
): AsyncGenerator<Buffer> {
  let head: Buffer[] | undefined = []
  let length = 0
  const judge = (complete: boolean): void => {
    const sample = Buffer.concat(head as Buffer[], length).subarray(0, SNIFF_BYTES)
    if (looksLikeText(sample, complete)) {
      throw new TraceFormatError(name, format, description)
    }
  }
  for await (const chunk of chunks) {
    if (head === undefined) {
      yield chunk
      continue
    }
    head.push(chunk)
    length += chunk.length
    if (length < SNIFF_BYTES) continue
    judge(false)
    yield* head
    head = undefined
  }
  if (head === undefined) return
  judge(true)
  yield* head
}

/**
 * Whether `sample` reads as text: valid UTF-8 (a character cut at the end of a sample that is not
 * the whole file allowed), with line breaks and at most 1% other control characters. Empty is not.
 */
export function looksLikeText(sample: Buffer, complete: boolean): boolean {
  if (sample.length === 0 || !sample.includes(LF)) return false
  let controls = 0
  for (const c of sample) if ((c < SPACE && c !== TAB && c !== LF && c !== CR) || c === DEL) controls++
  if (controls * 100 > sample.length) return false
  for (let cut = 0; cut <= (complete ? 0 : 3) && cut < sample.length; cut++) {
    if (isUtf8(sample.subarray(0, sample.length - cut))) return true
  }
  return false
}

/** The keys of a batched reader one by one. */
export async function* flatten<K extends TraceKey>(
  batches: AsyncIterable<readonly K[]> | Iterable<readonly K[]>,
): AsyncGenerator<K> {
  for await (const batch of batches) yield* batch
}

/**
 * Lines longer than this many bytes are skipped (never assembled): no trace format writes one
 * legitimately, and holding one would let a file without newlines fill memory. As analyze's limit
 * (src/analysis/lines.ts).
 */
export const MAX_TRACE_LINE_BYTES = 64 * 1024

/**
 * Keys handed over at most per batch: a chunk's lines usually give fewer, but one line may stand
 * for many keys (an ARC request of block_count blocks), and a chunk of such lines would otherwise
 * be expanded whole before any of it is handed over.
 */
export const MAX_BATCH_KEYS = 1 << 20

/** `onMalformed` is told of each line skipped for its length (without it: skipped silently). */
export interface LineOptions extends Pick<ReadOptions, 'onMalformed'> {
  /** Default {@link MAX_TRACE_LINE_BYTES}. */
  readonly maxLineBytes?: number
}

/**
 * Calls `onLine(buffer, start, end)` for every line of the stream (without its `\n`; a trailing
 * `\r` is left to the callback), handing over whatever the callback pushed after each chunk. Works
 * on bytes: no string is made for a line unless the callback makes one. A line split across chunks
 * is kept as a list of its pieces and joined once, when it ends (joining at every chunk was
 * quadratic in the line's length); one longer than `maxLineBytes` is dropped as it arrives.
 */
export async function* forEachLine<K>(
  chunks: Chunks,
  onLine: (buffer: Buffer, start: number, end: number, lineNumber: number, out: K[]) => void,
  options: LineOptions = {},
): AsyncGenerator<K[]> {
  const max = options.maxLineBytes ?? MAX_TRACE_LINE_BYTES
  const tooLong = (lineNumber: number, length: number): void =>
    options.onMalformed?.(lineNumber, `line too long (${length} bytes, more than ${max})`)
  let pieces: Buffer[] = [] // the unfinished line's bytes from earlier chunks (copies)
  let carried = 0 // their length; still counted once the pieces are dropped
  let lineNumber = 0
  const finish = (last: Buffer | undefined, out: K[]): void => {
    const length = carried + (last?.length ?? 0)
    lineNumber++
    if (length > max) tooLong(lineNumber, length)
    else {
      const line = Buffer.concat(last === undefined ? pieces : [...pieces, last], length)
      onLine(line, 0, length, lineNumber, out)
    }
    pieces = []
    carried = 0
  }
  for await (const chunk of chunks) {
    let out: K[] = []
    let start = 0
    let nl = chunk.indexOf(10)
    if (carried > 0 && nl !== -1) {
      finish(chunk.subarray(0, nl), out)
      start = nl + 1
      nl = chunk.indexOf(10, start)
    }
    for (; nl !== -1; nl = chunk.indexOf(10, start)) {
      if (nl - start > max) tooLong(++lineNumber, nl - start)
      else onLine(chunk, start, nl, ++lineNumber, out)
      start = nl + 1
      if (out.length >= MAX_BATCH_KEYS) {
        yield out
        out = []
      }
    }
    if (start < chunk.length) {
      carried += chunk.length - start
      // Copied: the stream may hand the chunk's memory back to a pool.
      if (carried <= max) pieces.push(Buffer.from(chunk.subarray(start)))
      else pieces = []
    }
    if (out.length > 0) yield out
  }
  if (carried > 0) {
    const out: K[] = []
    finish(undefined, out)
    if (out.length > 0) yield out
  }
}

const SPACE = 32
const TAB = 9
const LF = 10
const CR = 13
const DEL = 127
const MINUS = 45
const ZERO = 48
const NINE = 57

/**
 * The key written in `buffer[start, end)`, surrounding blanks trimmed: a number when the text is a
 * canonical decimal integer (`42`, `-7`; not `007`, `+1`, `1.0` or `-0`) within the safe range,
 * else the text itself; `undefined` for a blank line.
 */
export function keyFromBytes(buffer: Buffer, start: number, end: number): TraceKey | undefined {
  while (start < end && isBlank(buffer[start] as number)) start++
  while (end > start && isBlank(buffer[end - 1] as number)) end--
  if (start === end) return undefined
  let i = start
  const negative = buffer[i] === MINUS
  if (negative) i++
  const digits = end - i
  if (digits > 0 && digits <= 16 && !(digits > 1 && buffer[i] === ZERO)) {
    let n = 0
    for (; i < end; i++) {
      const c = buffer[i] as number
      if (c < ZERO || c > NINE) break
      n = n * 10 + (c - ZERO)
    }
    if (i === end && n <= Number.MAX_SAFE_INTEGER && !(negative && n === 0)) return negative ? -n : n
  }
  return buffer.toString('utf8', start, end)
}

/** {@link keyFromBytes} for text already decoded (CSV fields). */
export function keyFromText(text: string): TraceKey | undefined {
  const trimmed = text.trim()
  if (trimmed === '') return undefined
  if (/^-?(?:0|[1-9]\d{0,15})$/.test(trimmed) && trimmed !== '-0') {
    const n = Number(trimmed)
    if (Number.isSafeInteger(n)) return n
  }
  return trimmed
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === CR
}
