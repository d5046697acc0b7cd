import { type Chunks, flatten, type ReadOptions, readChunks, refuseText } from './source.js'

/**
 * A cache2k benchmark trace, in batches: a stream of big-endian signed 32-bit integers, one key
 * each. An integer split across two chunks of the (gunzipped) stream is reassembled; a file whose
 * length is not a multiple of 4 is an error.
 */
export function readCache2kBatches(path: string, options: ReadOptions = {}): AsyncGenerator<number[]> {
  return decodeCache2k(readChunks(path, options), path)
}

/** What a cache2k trace is, for the error refusing a text file given as one. */
export const CACHE2K_DESCRIPTION = 'a cache2k trace (big-endian 32-bit integers)'

/**
 * {@link readCache2kBatches} over any stream of bytes, split anywhere; `name` is for error
 * messages. Text is refused (a {@link TraceFormatError}) before any key is read.
 */
export async function* decodeCache2k(input: Chunks, name = 'input'): AsyncGenerator<number[]> {
  const chunks = refuseText(input, name, 'cache2k', CACHE2K_DESCRIPTION)
  const pending = Buffer.alloc(4)
  let pendingLength = 0
  let offset = 0
  for await (const chunk of chunks) {
    offset += chunk.length // first: a chunk that only adds to the pending integer counts too
    const out: number[] = []
    let i = 0
    if (pendingLength > 0) {
      while (pendingLength < 4 && i < chunk.length) pending[pendingLength++] = chunk[i++] as number
      if (pendingLength < 4) continue
      out.push(pending.readInt32BE(0))
      pendingLength = 0
    }
    const whole = i + ((chunk.length - i) & ~3)
    for (; i < whole; i += 4) {
      out.push(
        ((chunk[i] as number) << 24) |
          ((chunk[i + 1] as number) << 16) |
          ((chunk[i + 2] as number) << 8) |
          (chunk[i + 3] as number),
      )
    }
    while (i < chunk.length) pending[pendingLength++] = chunk[i++] as number
    if (out.length > 0) yield out
  }
  if (pendingLength > 0) {
    throw new Error(
      `${name}: ${offset} bytes is not a whole number of 32-bit keys (${pendingLength} byte(s) left over).`,
    )
  }
}

/** {@link readCache2kBatches}, key by key. */
export function readCache2k(path: string, options: ReadOptions = {}): AsyncGenerator<number> {
  return flatten(readCache2kBatches(path, options))
}
