import type { InvalidationMode } from './store.js'

/** What one instance tells the others; `source` lets an instance ignore its own messages. */
export type BusMessage =
  | { op: 'delete'; source: string; at: number; version: string; keys: string[] }
  | { op: 'tags'; source: string; at: number; tags: string[]; mode: InvalidationMode }
  | { op: 'clear'; source: string; at: number }
  | { op: 'pattern'; source: string; at: number; version: string; pattern: string }

/** Messages larger than this are dropped unread (a flood or a forged message). */
export const MAX_MESSAGE_BYTES = 1 << 20
const FORMAT = 1

export function encodeMessage(message: BusMessage): Buffer {
  return Buffer.from(JSON.stringify({ v: FORMAT, ...message }), 'utf8')
}

/** Parses and validates a message; undefined for anything malformed (dropped and counted by the caller). */
export function decodeMessage(bytes: Uint8Array): BusMessage | undefined {
  if (bytes.byteLength > MAX_MESSAGE_BYTES) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null) return undefined
  const m = raw as Record<string, unknown>
  if (m.v !== FORMAT || typeof m.source !== 'string' || typeof m.at !== 'number' || !Number.isFinite(m.at)) {
    return undefined
  }
  switch (m.op) {
    case 'delete':
      return typeof m.version === 'string' && isStrings(m.keys)
        ? { op: 'delete', source: m.source, at: m.at, version: m.version, keys: m.keys }
        : undefined
    case 'tags':
      return isStrings(m.tags) && (m.mode === 'delete' || m.mode === 'expire')
        ? { op: 'tags', source: m.source, at: m.at, tags: m.tags, mode: m.mode }
        : undefined
    case 'clear':
      return { op: 'clear', source: m.source, at: m.at }
    case 'pattern':
      return typeof m.version === 'string' && typeof m.pattern === 'string'
        ? { op: 'pattern', source: m.source, at: m.at, version: m.version, pattern: m.pattern }
        : undefined
    default:
      return undefined
  }
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0)
}
