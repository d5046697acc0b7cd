import { DEFAULTS } from '../base/defaults.js'
import { assertPattern } from '../keys/limits.js'
import { type BusSecret, MAC_BYTES, MessageAuthenticator, ReplayWindow } from '../security/hmac.js'
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

/**
 * The v2 wire format of a bus message (pinned by test/security/bus-messages.test.ts):
 *
 * | offset | size | field                                                              |
 * |--------|------|--------------------------------------------------------------------|
 * | 0      | 1    | magic 0xB5                                                         |
 * | 1      | 1    | format version (2)                                                 |
 * | 2      | 1    | flags: bit 0 = authenticated (an HMAC follows)                     |
 * | 3      | 32   | HMAC-SHA256 of bytes 0–2 and the body (only when bit 0 is set)     |
 * | …      | …    | body: JSON of the message plus `seq` (per sender) and `sent` (ms)   |
 *
 * `seq` feeds the receiver's anti-replay window, `sent` (the sender's wall clock) bounds how old
 * an accepted message may be. Both are inside the MAC.
 */
export const MESSAGE_MAGIC = 0xb5
export const MESSAGE_VERSION = 2
const FLAG_MAC = 1
const HEADER = 3

/** Why a received message was dropped (each counted by the cache). */
export type DropReason = 'oversized' | 'malformed' | 'unauthenticated' | 'replayed' | 'expired'

export type Decoded =
  | { message: BusMessage; dropped?: undefined }
  | { message?: undefined; dropped: DropReason }

export interface BusCodecOptions {
  /** Shared secret(s): messages are signed with the first and must verify under one of them. */
  secret?: BusSecret | readonly BusSecret[] | undefined
  /** Oldest (or furthest in the future) `sent` time accepted, in ms. Default 5 minutes. */
  maxAgeMs?: number
  /** Wall clock for `sent` and the age check. Default `Date.now`. */
  now?: () => number
}

export const DEFAULT_MAX_AGE_MS: number = DEFAULTS.busMaxAgeMs

/**
 * Encodes this instance's messages and decodes (validates, authenticates, de-duplicates) others'.
 * Stateful: it numbers what it sends and remembers what it heard. Without a secret, messages are
 * still versioned, validated and replay-checked, but anyone who can PUBLISH on the channel can
 * forge them (docs/security.md says what that allows).
 */
export class BusCodec {
  readonly authenticated: boolean
  readonly #auth: MessageAuthenticator | undefined
  readonly #replays = new ReplayWindow()
  readonly #maxAgeMs: number
  readonly #now: () => number
  #seq = 0

  constructor(options: BusCodecOptions = {}) {
    this.#auth = options.secret === undefined ? undefined : new MessageAuthenticator(options.secret)
    this.authenticated = this.#auth !== undefined
    this.#maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AGE_MS
    this.#now = options.now ?? Date.now
  }

  encode(message: BusMessage): Buffer {
    const body = Buffer.from(JSON.stringify({ ...message, seq: ++this.#seq, sent: this.#now() }), 'utf8')
    const header = Buffer.from([MESSAGE_MAGIC, MESSAGE_VERSION, this.#auth === undefined ? 0 : FLAG_MAC])
    if (this.#auth === undefined) return Buffer.concat([header, body])
    return Buffer.concat([header, this.#auth.sign(header, body), body])
  }

  /** Never throws: anything it cannot accept comes back as a drop reason. */
  decode(bytes: Uint8Array): Decoded {
    if (bytes.byteLength > MAX_MESSAGE_BYTES) return { dropped: 'oversized' }
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    if (buffer[0] !== MESSAGE_MAGIC) {
      // A v1 message (bare JSON, no MAC, no sequence): from an instance of the previous release.
      if (this.#auth !== undefined) return { dropped: 'unauthenticated' }
      const message = parseBody(buffer, 0, FORMAT)
      return message === undefined ? { dropped: 'malformed' } : { message: message.message }
    }
    if (buffer.length < HEADER || buffer[1] !== MESSAGE_VERSION) return { dropped: 'malformed' }
    const flags = buffer[2] as number
    let bodyAt = HEADER
    if (flags & FLAG_MAC) {
      if (buffer.length < HEADER + MAC_BYTES) return { dropped: 'malformed' }
      bodyAt += MAC_BYTES
      if (
        this.#auth !== undefined &&
        !this.#auth.verify(
          buffer.subarray(HEADER, bodyAt),
          buffer.subarray(0, HEADER),
          buffer.subarray(bodyAt),
        )
      ) {
        return { dropped: 'unauthenticated' }
      }
    } else if (this.#auth !== undefined) return { dropped: 'unauthenticated' }
    const parsed = parseBody(buffer, bodyAt, undefined)
    if (parsed === undefined || parsed.seq === undefined || parsed.sent === undefined)
      return { dropped: 'malformed' }
    if (Math.abs(this.#now() - parsed.sent) > this.#maxAgeMs) return { dropped: 'expired' }
    if (!this.#replays.accept(parsed.message.source, parsed.seq)) return { dropped: 'replayed' }
    return { message: parsed.message }
  }
}

const unauthenticated = new BusCodec()

/** A v2 message without a MAC (as a cache without `bus.secret` sends). */
export function encodeMessage(message: BusMessage): Buffer {
  return unauthenticated.encode(message)
}

/**
 * Parses and validates one message as a receiver without a secret would, without replay state
 * (each call stands alone); undefined for anything it would drop.
 */
export function decodeMessage(bytes: Uint8Array): BusMessage | undefined {
  return new BusCodec().decode(bytes).message
}

function parseBody(
  buffer: Buffer,
  at: number,
  format: number | undefined,
): { message: BusMessage; seq: number | undefined; sent: number | undefined } | undefined {
  let raw: unknown
  try {
    raw = JSON.parse(buffer.toString('utf8', at))
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
  const m = raw as Record<string, unknown>
  if (format !== undefined && m.v !== format) return undefined
  if (typeof m.source !== 'string' || m.source.length === 0 || m.source.length > 128) return undefined
  if (typeof m.at !== 'number' || !Number.isFinite(m.at)) return undefined
  let seq: number | undefined
  let sent: number | undefined
  if (format === undefined) {
    if (!Number.isSafeInteger(m.seq) || (m.seq as number) < 1) return undefined
    if (typeof m.sent !== 'number' || !Number.isFinite(m.sent)) return undefined
    seq = m.seq as number
    sent = m.sent
  }
  const message = validate(m, m.source, m.at)
  return message === undefined ? undefined : { message, seq, sent }
}

/** Builds a fresh message from validated fields only (nothing else of the parsed object survives). */
function validate(m: Record<string, unknown>, source: string, at: number): BusMessage | undefined {
  switch (m.op) {
    case 'delete':
      return typeof m.version === 'string' && isStrings(m.keys)
        ? { op: 'delete', source, at, version: m.version, keys: [...m.keys] }
        : undefined
    case 'tags':
      return isStrings(m.tags) && (m.mode === 'delete' || m.mode === 'expire')
        ? { op: 'tags', source, at, tags: [...m.tags], mode: m.mode }
        : undefined
    case 'clear':
      return { op: 'clear', source, at }
    case 'pattern':
      if (typeof m.version !== 'string' || typeof m.pattern !== 'string' || m.pattern.length === 0)
        return undefined
      try {
        // A forged pattern must not make the receiver's L1 regex burn CPU.
        assertPattern(m.pattern)
      } catch {
        return undefined
      }
      return { op: 'pattern', source, at, version: m.version, pattern: m.pattern }
    default:
      return undefined
  }
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0)
}
