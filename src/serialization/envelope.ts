import { gunzipSync, gzipSync } from 'node:zlib'

/**
 * The wire format of an L2 entry (pinned by test/serialization/envelope.test.ts):
 *
 * | offset | size | field                                                         |
 * |--------|------|---------------------------------------------------------------|
 * | 0      | 1    | magic 0xC5 ("stratacache"), so foreign bytes are recognised   |
 * | 1      | 1    | format version (1)                                            |
 * | 2      | 1    | flags: bit 0 = payload gzip-compressed                        |
 * | 3      | 8    | created-at, ms since epoch, float64 LE                        |
 * | 11     | 8    | logical expiry, ms since epoch, float64 LE (Infinity = never) |
 * | 19     | 2    | tag count n, uint16 LE                                        |
 * | 21     | …    | n × (uint16 LE byte length + UTF-8 tag)                       |
 * | …      | …    | payload: the serializer's bytes                               |
 *
 * Readers refuse any other magic or version (a miss plus a counted error), so a rolling deploy
 * that changes the format degrades to misses instead of misreading values.
 */
export const ENVELOPE_MAGIC = 0xc5
export const ENVELOPE_VERSION = 1
const FLAG_GZIP = 1
const HEADER = 21

export interface Envelope {
  createdAt: number
  expiresAt: number
  tags: readonly string[]
  payload: Uint8Array
}

export class EnvelopeError extends Error {}

/** Builds the entry bytes; payloads of at least `compressAbove` bytes are gzipped when it saves space. */
export function encodeEnvelope(envelope: Envelope, compressAbove = Number.POSITIVE_INFINITY): Buffer {
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
  out.writeUInt16LE(encodedTags.length, 19)
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
 * Reads entry bytes; throws {@link EnvelopeError} (or a zlib error) for anything that is not a
 * valid v1 envelope. A compressed payload may not inflate past `maxPayloadBytes` (no zip bombs).
 */
export function decodeEnvelope(bytes: Uint8Array, maxPayloadBytes = Number.POSITIVE_INFINITY): Envelope {
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (buffer.length < HEADER) throw new EnvelopeError(`entry too short (${buffer.length} bytes)`)
  if (buffer[0] !== ENVELOPE_MAGIC) throw new EnvelopeError('not a stratacache entry (bad magic byte)')
  if (buffer[1] !== ENVELOPE_VERSION) throw new EnvelopeError(`unsupported entry format version ${buffer[1]}`)
  const flags = buffer[2] as number
  const createdAt = buffer.readDoubleLE(3)
  const expiresAt = buffer.readDoubleLE(11)
  if (Number.isNaN(createdAt) || Number.isNaN(expiresAt))
    throw new EnvelopeError('entry timestamps are not numbers')
  const tagCount = buffer.readUInt16LE(19)
  const tags: string[] = []
  let offset = HEADER
  for (let i = 0; i < tagCount; i++) {
    if (offset + 2 > buffer.length) throw new EnvelopeError('entry truncated in its tags')
    const length = buffer.readUInt16LE(offset)
    if (offset + 2 + length > buffer.length) throw new EnvelopeError('entry truncated in its tags')
    tags.push(buffer.toString('utf8', offset + 2, offset + 2 + length))
    offset += 2 + length
  }
  let payload: Uint8Array = buffer.subarray(offset)
  if (flags & FLAG_GZIP) {
    payload = gunzipSync(
      payload,
      Number.isFinite(maxPayloadBytes) ? { maxOutputLength: maxPayloadBytes } : {},
    )
  }
  return { createdAt, expiresAt, tags, payload }
}
