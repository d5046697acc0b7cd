import { DEFAULTS } from '../base/defaults.js'
import { assertPattern } from '../keys/limits.js'
import { type BusSecret, MAC_BYTES, MessageAuthenticator, ReplayWindow } from '../security/hmac.js'
import type { InvalidationMode } from './store.js'

/** One change an instance announces: keys deleted (or replaced), tags invalidated, the namespace cleared, a pattern deleted. */
export type BusChange =
  | { op: 'delete'; at: number; version: string; keys: string[]; ats?: number[] }
  | { op: 'tags'; at: number; tags: string[]; mode: InvalidationMode; ats?: number[] }
  | { op: 'clear'; at: number }
  | { op: 'pattern'; at: number; version: string; pattern: string }

/**
 * `ats`, when present, is when each key (or tag) changed, aligned with `keys` (or `tags`): the
 * changes of one tick merged into one (see {@link coalesce}); `at` is then the earliest of them,
 * what a release that does not read `ats` uses for all.
 *
 * What one instance tells the others; `source` lets an instance ignore its own messages. A
 * `batch` carries the changes of one tick that {@link coalesce} could not merge into one change
 * (a set and a tag invalidation, say); a receiver applies them in order.
 */
export type BusMessage =
  | (BusChange & { source: string })
  | { op: 'batch'; source: string; at: number; changes: BusChange[] }

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
    // A sequence number under a verified MAC is genuine; otherwise the window also weighs the send
    // time, so that a forged number cannot silence a sender for good (see ReplayWindow).
    const verified = this.#auth !== undefined
    if (!this.#replays.accept(parsed.message.source, parsed.seq, verified ? undefined : parsed.sent))
      return { dropped: 'replayed' }
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
  if (m.op !== 'batch') return validateChange(m, source, at)
  if (!Array.isArray(m.changes) || m.changes.length > MAX_BATCH_CHANGES) return undefined
  const changes: BusChange[] = []
  for (const raw of m.changes as unknown[]) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined
    const c = raw as Record<string, unknown>
    if (typeof c.at !== 'number' || !Number.isFinite(c.at)) return undefined
    // A kind of change this release does not know (a newer sender's) is skipped, not the batch:
    // the changes it does know still apply.
    if (!KNOWN_CHANGES.has(c.op)) continue
    const change = validateChange(c, source, c.at)
    if (change === undefined) return undefined
    const { source: _, ...rest } = change
    changes.push(rest as BusChange)
  }
  return { op: 'batch', source, at, changes }
}

const KNOWN_CHANGES = new Set<unknown>(['delete', 'tags', 'clear', 'pattern'])
/** More changes than one tick can produce (coalesce merges by kind): a forged message. */
const MAX_BATCH_CHANGES = 10_000

function validateChange(
  m: Record<string, unknown>,
  source: string,
  at: number,
): (BusChange & { source: string }) | undefined {
  switch (m.op) {
    case 'delete': {
      if (typeof m.version !== 'string' || !isStrings(m.keys)) return undefined
      const change: BusChange & { source: string } = {
        op: 'delete',
        source,
        at,
        version: m.version,
        keys: [...m.keys],
      }
      return withTimes(change, m.ats, change.keys.length)
    }
    case 'tags': {
      if (!isStrings(m.tags) || (m.mode !== 'delete' && m.mode !== 'expire')) return undefined
      const change: BusChange & { source: string } = {
        op: 'tags',
        source,
        at,
        tags: [...m.tags],
        mode: m.mode,
      }
      return withTimes(change, m.ats, change.tags.length)
    }
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

/** `change` with its per-item times, if `ats` has one finite time per item; undefined if `ats` is malformed. */
function withTimes<C extends { ats?: number[] }>(change: C, ats: unknown, count: number): C | undefined {
  if (ats === undefined) return change
  if (!Array.isArray(ats) || ats.length !== count) return undefined
  if (!ats.every((t) => typeof t === 'number' && Number.isFinite(t))) return undefined
  change.ats = [...(ats as number[])]
  return change
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0)
}

/** Keys (in UTF-16 units) one change carries at most, so a message stays far below {@link MAX_MESSAGE_BYTES}. */
const MAX_CHANGE_CHARS = 128 * 1024

/** Whether a change goes out as it is: anything but a delete or tag invalidation over {@link MAX_CHANGE_CHARS}. */
function fitsOneMessage(change: BusChange): boolean {
  if (change.op !== 'delete' && change.op !== 'tags') return true
  let chars = 0
  for (const item of change.op === 'delete' ? change.keys : change.tags) chars += item.length + 24
  return chars <= MAX_CHANGE_CHARS
}

/** Items (keys or tags) of one merged change, each with when it changed (the later, if twice). */
class Merged {
  readonly times = new Map<string, number>()
  chars = 0

  constructor(readonly change: BusChange & { op: 'delete' | 'tags' }) {}

  add(item: string, time: number): void {
    const known = this.times.get(item)
    if (known === undefined) this.chars += item.length + 24
    if (known === undefined || time > known) this.times.set(item, time)
  }

  /** The change with its items and their times (`ats` only when they differ; `at` the earliest). */
  finish(): BusChange {
    const items = [...this.times.keys()]
    const times = [...this.times.values()]
    const at = Math.min(...times)
    const change = { ...this.change, at }
    if (change.op === 'delete') change.keys = items
    else change.tags = items
    if (times.some((t) => t !== at)) change.ats = times
    else delete change.ats
    return change
  }
}

/**
 * The changes one instance made in one tick, as few messages as possible — one, unless they
 * carry hundreds of kilobytes of keys. Deletes of one version merge into one change, and so do
 * tag invalidations of one mode, each key and tag keeping its own time (`ats`): a receiver
 * refuses exactly what it would have refused hearing them one by one. Clears merge into the
 * latest. A tick of one kind of change goes out as that change's own message, which every
 * release understands (an older one applies the earliest time to every key: it may keep a load
 * that started microseconds before a change); changes of several kinds go out as one `batch`.
 */
export function coalesce(source: string, changes: readonly BusChange[]): BusMessage[] {
  if (changes.length === 1 && fitsOneMessage(changes[0] as BusChange)) {
    return [{ ...(changes[0] as BusChange), source }]
  }
  const order: (Merged | BusChange)[] = []
  const open = new Map<string, Merged>()
  let clear: { op: 'clear'; at: number } | undefined
  const patterns = new Set<string>()
  // Item by item: one change too large for a message (60,000 keys of one deleteMany) is split
  // over several, where every receiver would refuse it whole.
  const into = (
    id: string,
    fresh: () => Merged,
    items: readonly string[],
    at: number,
    ats: readonly number[] | undefined,
  ): void => {
    let merged = open.get(id)
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as string
      if (merged === undefined || merged.chars + item.length + 24 > MAX_CHANGE_CHARS) {
        merged = fresh()
        open.set(id, merged)
        order.push(merged)
      }
      merged.add(item, ats?.[i] ?? at)
    }
  }
  for (const change of changes) {
    switch (change.op) {
      case 'delete':
        into(
          `d\u0000${change.version}`,
          () => new Merged({ op: 'delete', at: change.at, version: change.version, keys: [] }),
          change.keys,
          change.at,
          change.ats,
        )
        break
      case 'tags':
        into(
          `t\u0000${change.mode}`,
          () => new Merged({ op: 'tags', at: change.at, tags: [], mode: change.mode }),
          change.tags,
          change.at,
          change.ats,
        )
        break
      case 'clear':
        if (clear === undefined) {
          clear = { op: 'clear', at: change.at }
          order.push(clear)
        } else clear.at = Math.max(clear.at, change.at)
        break
      case 'pattern': {
        const id = `${change.version}\u0000${change.pattern}`
        if (!patterns.has(id)) {
          patterns.add(id)
          order.push({ ...change })
        }
        break
      }
    }
  }
  const merged = order.map((c) =>
    c instanceof Merged ? { change: c.finish(), chars: c.chars } : { change: c, chars: 256 },
  )
  if (merged.length === 1) return [{ ...(merged[0]?.change as BusChange), source }]
  // Several changes: one batch, unless the keys alone would make it too large.
  const out: BusMessage[] = []
  let batch: BusChange[] = []
  let chars = 0
  for (const { change, chars: size } of merged) {
    if (batch.length > 0 && chars + size > MAX_CHANGE_CHARS) {
      out.push(batchOf(source, batch))
      batch = []
      chars = 0
    }
    batch.push(change)
    chars += size
  }
  out.push(batchOf(source, batch))
  return out
}

function batchOf(source: string, changes: BusChange[]): BusMessage {
  if (changes.length === 1) return { ...(changes[0] as BusChange), source }
  return { op: 'batch', source, at: Math.max(...changes.map((c) => c.at)), changes }
}
