import { gunzipSync, gzipSync } from 'node:zlib'
import { DecodeError } from './limits.js'

/**
 * The wire format of an L2 entry (pinned by test/serialization/envelope.test.ts):
 *
 * | offset | size | field                                                         |
 * |--------|------|---------------------------------------------------------------|
 * | 0      | 1    | magic 0xC5 ("stratacache"), so foreign bytes are recognised   |
 * | 1      | 1    | format version (2)                                            |
 * | 2      | 1    | flags: bit 0 = payload gzip-compressed                        |
 * | 3      | 8    | created-at, ms since epoch, float64 LE                        |
 * | 11     | 8    | logical expiry, ms since epoch, float64 LE (Infinity = never) |
 * | 19     | 4    | how long the factory took, ms, float32 LE (0 = unknown)       |
 * | 23     | 2    | tag count n, uint16 LE                                        |
 * | 25     | …    | n × (uint16 LE byte length + UTF-8 tag)                       |
 * | …      | …    | payload: the serializer's bytes                               |
 *
 * The logical expiry is the end of freshness; the key itself lives in Redis longer by the grace
 * period, so a stale value can stand in when the origin fails. The factory's duration lets every
 * instance schedule a probabilistic early refresh (XFetch) of an entry it did not compute.
 *
 * Readers refuse any other magic or version (a miss plus a counted error), so a rolling deploy
 * that changes the format degrades to misses instead of misreading values.
 */
export const ENVELOPE_MAGIC = 0xc5
export const ENVELOPE_VERSION = 2
const FLAG_GZIP = 1
const HEADER = 25
const HEADER_V1 = 21

export interface Envelope {
  createdAt: number
  expiresAt: number
  /** How long the factory took to compute the value, in ms (0 when unknown). */
  loadMs: number
  tags: readonly string[]
  payload: Uint8Array
}

/** Bytes that are not a valid entry (a {@link DecodeError}: the only error {@link decodeEnvelope} throws). */
export class EnvelopeError extends DecodeError {}

/** Builds the entry bytes; payloads of at least `compressAbove` bytes are gzipped when it saves space. */
export function encodeEnvelope(
  envelope: Omit<Envelope, 'loadMs'> & { loadMs?: number },
  compressAbove = Number.POSITIVE_INFINITY,
): Buffer {
  let payload = envelope.payload
  let flags = 0
  if (payload.byteLength >= compressAbove) {
    const compressed = gzipSync(payload)
    if (compressed.byteLength < payload.byteLength) {
      payload = compressed
      flags |= FLAG_GZIP
    }
  }
  let tagBytes = 0
  const encodedTags: Buffer[] = []
  for (const tag of envelope.tags) {
    const bytes = Buffer.from(tag, 'utf8')
    if (bytes.byteLength > 0xffff) throw new RangeError('a tag is longer than 65535 bytes')
    encodedTags.push(bytes)
    tagBytes += 2 + bytes.byteLength
  }
  if (encodedTags.length > 0xffff) throw new RangeError('an entry has more than 65535 tags')
  const out = Buffer.allocUnsafe(HEADER + tagBytes + payload.byteLength)
  out[0] = ENVELOPE_MAGIC
  out[1] = ENVELOPE_VERSION
  out[2] = flags
  out.writeDoubleLE(envelope.createdAt, 3)
  out.writeDoubleLE(envelope.expiresAt, 11)
  out.writeFloatLE(envelope.loadMs ?? 0, 19)
  out.writeUInt16LE(encodedTags.length, 23)
  let offset = HEADER
  for (const bytes of encodedTags) {
    out.writeUInt16LE(bytes.byteLength, offset)
    bytes.copy(out, offset + 2)
    offset += 2 + bytes.byteLength
  }
  out.set(payload, offset)
  return out
}

/**
 * Reads entry bytes; throws {@link EnvelopeError} for anything that is not a valid v1/v2
 * envelope. A payload may not be (or inflate to) more than `maxPayloadBytes` (no zip bombs), and
 * no length read from the bytes is trusted beyond the end of the buffer.
 */
export function decodeEnvelope(bytes: Uint8Array, maxPayloadBytes = Number.POSITIVE_INFINITY): Envelope {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  // v1 (no factory duration) is still read: entries written by the previous release stay hits.
  const version = buffer[1]
  const header = version === 1 ? HEADER_V1 : HEADER
  if (buffer.length < header) throw new EnvelopeError(`entry too short (${buffer.length} bytes)`)
  if (buffer[0] !== ENVELOPE_MAGIC) throw new EnvelopeError('not a stratacache entry (bad magic byte)')
  if (version !== ENVELOPE_VERSION && version !== 1)
    throw new EnvelopeError(`unsupported entry format version ${version}`)
  const flags = buffer[2] as number
  const createdAt = buffer.readDoubleLE(3)
  const expiresAt = buffer.readDoubleLE(11)
  const loadMs = version === 1 ? 0 : buffer.readFloatLE(19)
  if (Number.isNaN(createdAt) || Number.isNaN(expiresAt) || !(loadMs >= 0 && loadMs < Infinity))
    throw new EnvelopeError('entry timestamps are not numbers')
  const tagCount = buffer.readUInt16LE(header - 2)
  // Each tag takes at least its 2-byte length: a count the buffer cannot hold is a lie.
  if (header + tagCount * 2 > buffer.length) throw new EnvelopeError('entry truncated in its tags')
  const tags: string[] = []
  let offset = header
  for (let i = 0; i < tagCount; i++) {
    if (offset + 2 > buffer.length) throw new EnvelopeError('entry truncated in its tags')
    const length = buffer.readUInt16LE(offset)
    if (offset + 2 + length > buffer.length) throw new EnvelopeError('entry truncated in its tags')
    tags.push(buffer.toString('utf8', offset + 2, offset + 2 + length))
    offset += 2 + length
  }
  let payload: Uint8Array = buffer.subarray(offset)
  if (flags & ~FLAG_GZIP) throw new EnvelopeError(`unknown entry flags ${flags}`)
  if (flags & FLAG_GZIP) {
    try {
      payload = gunzipSync(
        payload,
        Number.isFinite(maxPayloadBytes) ? { maxOutputLength: maxPayloadBytes } : {},
      )
    } catch (cause) {
      throw new EnvelopeError('entry payload does not inflate (corrupt, or larger than maxValueBytes)', {
        cause,
      })
    }
  } else if (payload.byteLength > maxPayloadBytes) {
    throw new EnvelopeError(`entry payload is larger than ${maxPayloadBytes} bytes`)
  }
  return { createdAt, expiresAt, loadMs, tags, payload }
}
