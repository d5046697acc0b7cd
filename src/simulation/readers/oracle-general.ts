import type { TraceKey } from '../hash.js'
import { type Chunks, flatten, type ReadOptions, readChunks, refuseText } from './source.js'

/** Bytes per request in libCacheSim's oracleGeneral format. */
export const ORACLE_GENERAL_RECORD_BYTES = 24
const TWO_32 = 4294967296
/** obj_id's high word above which the id is no longer a safe integer. */
const SAFE_HIGH = 2 ** 21

/**
 * A libCacheSim `oracleGeneral` binary trace, in batches: per request, little-endian,
 * `uint32 timestamp, uint64 obj_id, uint32 obj_size, int64 next_access_vtime` (24 bytes). The key
 * is `obj_id`: a number when it is at most 2^53 − 1, else its decimal text. Records split across
 * chunks are reassembled. (libCacheSim's `.zst` files must be decompressed first; `.gz` is read.)
 */
export function readOracleGeneralBatches(
  path: string,
  options: ReadOptions = {},
): AsyncGenerator<TraceKey[]> {
  return decodeOracleGeneral(readChunks(path, options), path)
}

/** What an oracleGeneral trace is, for the error refusing a text file given as one. */
export const ORACLE_GENERAL_DESCRIPTION = `an oracle trace (libCacheSim oracleGeneral: ${ORACLE_GENERAL_RECORD_BYTES}-byte little-endian binary records)`

/**
 * {@link readOracleGeneralBatches} over any stream of bytes, split anywhere; `name` is for error
 * messages. Text is refused (a {@link TraceFormatError}) before any key is read.
 */
export async function* decodeOracleGeneral(input: Chunks, name = 'input'): AsyncGenerator<TraceKey[]> {
  const chunks = refuseText(input, name, 'oracle', ORACLE_GENERAL_DESCRIPTION)
  const pending = Buffer.alloc(ORACLE_GENERAL_RECORD_BYTES)
  let pendingLength = 0
  let offset = 0
  for await (const chunk of chunks) {
    offset += chunk.length // first: a chunk that only adds to the pending record counts too
    const out: TraceKey[] = []
    let i = 0
    if (pendingLength > 0) {
      const take = Math.min(ORACLE_GENERAL_RECORD_BYTES - pendingLength, chunk.length)
      chunk.copy(pending, pendingLength, 0, take)
      pendingLength += take
      i = take
      if (pendingLength < ORACLE_GENERAL_RECORD_BYTES) continue
      out.push(objectId(pending, 0))
      pendingLength = 0
    }
    for (; i + ORACLE_GENERAL_RECORD_BYTES <= chunk.length; i += ORACLE_GENERAL_RECORD_BYTES) {
      out.push(objectId(chunk, i))
    }
    if (i < chunk.length) {
      chunk.copy(pending, 0, i)
      pendingLength = chunk.length - i
    }
    if (out.length > 0) yield out
  }
  if (pendingLength > 0) {
    throw new Error(
      `${name}: ${offset} bytes is not a whole number of ${ORACLE_GENERAL_RECORD_BYTES}-byte oracleGeneral records.`,
    )
  }
}

/** {@link readOracleGeneralBatches}, key by key. */
export function readOracleGeneral(path: string, options: ReadOptions = {}): AsyncGenerator<TraceKey> {
  return flatten(readOracleGeneralBatches(path, options))
}

function objectId(buffer: Buffer, record: number): TraceKey {
  const lo = buffer.readUInt32LE(record + 4)
  const hi = buffer.readUInt32LE(record + 8)
  if (hi < SAFE_HIGH) return hi * TWO_32 + lo
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString()
}
