import { createHmac, timingSafeEqual } from 'node:crypto'
import { inspect } from 'node:util'
import { InvalidOptionError } from '../errors.js'

/** A shared secret for the bus: at least 32 bytes, or a string of at least 32 characters. */
export type BusSecret = string | Uint8Array

export const MAC_BYTES = 32
const MIN_SECRET_BYTES = 32

/**
 * HMAC-SHA256 with one or more shared secrets: signs with the first, accepts any (so a secret can
 * be rotated without a flag day: add the new one second everywhere, then first, then drop the old).
 * Prints as a count only.
 */
export class MessageAuthenticator {
  readonly #secrets: Buffer[]

  constructor(secrets: BusSecret | readonly BusSecret[], what = 'bus.secret') {
    const list = Array.isArray(secrets) ? secrets : [secrets]
    if (list.length === 0) throw new InvalidOptionError(`${what} must list at least one secret.`)
    this.#secrets = list.map((secret, i) => {
      const bytes =
        typeof secret === 'string'
          ? Buffer.from(secret, 'utf8')
          : secret instanceof Uint8Array
            ? Buffer.from(secret)
            : undefined
      if (bytes === undefined || bytes.length < MIN_SECRET_BYTES) {
        throw new InvalidOptionError(
          `${what}${list.length > 1 ? `[${i}]` : ''} must be at least ${MIN_SECRET_BYTES} bytes: generate one with \`openssl rand -base64 32\` and give every instance the same.`,
        )
      }
      if (isPlaceholder(bytes)) {
        // Not quoted: it is a secret all the same.
        throw new InvalidOptionError(
          `${what}${list.length > 1 ? `[${i}]` : ''} is a placeholder (a few characters, or a short run repeated): anyone could guess it and sign messages. Generate one with \`openssl rand -base64 32\` and give every instance the same.`,
        )
      }
      return bytes
    })
  }

  /** The MAC of `parts`, with the signing (first) secret. */
  sign(...parts: Uint8Array[]): Buffer {
    return mac(this.#secrets[0] as Buffer, parts)
  }

  /** Whether `tag` is the MAC of `parts` under any secret (constant-time comparison). */
  verify(tag: Uint8Array, ...parts: Uint8Array[]): boolean {
    if (tag.byteLength !== MAC_BYTES) return false
    for (const secret of this.#secrets) if (timingSafeEqual(mac(secret, parts), tag)) return true
    return false
  }

  toJSON(): string {
    return `[${this.#secrets.length} secret(s)]`
  }

  [inspect.custom](): string {
    return `MessageAuthenticator { secrets: ${this.#secrets.length} }`
  }
}

/**
 * Fewer than 8 distinct bytes ('x' x 32, zeros) or a run repeated ('changeme' x 4): long enough
 * to pass the length check, yet guessable. A passphrase or random bytes are neither.
 */
function isPlaceholder(bytes: Buffer): boolean {
  if (new Set(bytes).size < 8) return true
  for (let period = 1; period <= bytes.length / 2; period++) {
    let repeats = true
    for (let i = period; i < bytes.length && repeats; i++) repeats = bytes[i] === bytes[i - period]
    if (repeats) return true
  }
  return false
}

function mac(secret: Buffer, parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', secret)
  for (const part of parts) h.update(part)
  return h.digest()
}

/**
 * Per-sender anti-replay window (as IPsec's): each sender numbers its messages; a number already
 * seen, or more than 32 behind the highest seen, is refused. Senders are remembered up to
 * `maxSenders` (least recently heard forgotten first); a forgotten sender's old messages are then
 * bounded by the message age check instead.
 *
 * Unauthenticated numbers (no bus secret) are offered with their send time: anyone who can PUBLISH
 * could otherwise forge one message numbered 2^53 under a sender's id and have every later message
 * of that sender refused for good (its invalidations unheard, stale L1 copies served). A message
 * behind the window but sent later than the highest one is taken as the sender's real position, so
 * a forged number holds only until the sender's clock passes its forged send time (at most the
 * bus's maxAge ahead).
 */
export class ReplayWindow {
  readonly #senders = new Map<string, { highest: number; seen: number; highestSent: number }>()
  readonly #maxSenders: number

  constructor(maxSenders = 10_000) {
    this.#maxSenders = maxSenders
  }

  /**
   * True (and recorded) the first time `seq` from `sender` is offered; false for a replay.
   * `unauthenticatedSent`: the message's send time, when its number is not authenticated.
   */
  accept(sender: string, seq: number, unauthenticatedSent?: number): boolean {
    const sent = unauthenticatedSent ?? Number.NEGATIVE_INFINITY
    const state = this.#senders.get(sender)
    if (state === undefined) {
      this.#senders.set(sender, { highest: seq, seen: 1, highestSent: sent })
      if (this.#senders.size > this.#maxSenders)
        this.#senders.delete(this.#senders.keys().next().value as string)
      return true
    }
    this.#senders.delete(sender)
    this.#senders.set(sender, state)
    if (seq > state.highest) {
      const shift = seq - state.highest
      state.seen = shift >= 32 ? 1 : ((state.seen << shift) | 1) >>> 0
      state.highest = seq
      state.highestSent = sent
      return true
    }
    const behind = state.highest - seq
    if (behind >= 32 && unauthenticatedSent !== undefined && unauthenticatedSent > state.highestSent) {
      // The highest number was forged (a genuine sender numbers and dates its messages in step).
      state.highest = seq
      state.seen = 1
      state.highestSent = unauthenticatedSent
      return true
    }
    if (behind >= 32) return false
    const bit = (1 << behind) >>> 0
    if ((state.seen & bit) !== 0) return false
    state.seen = (state.seen | bit) >>> 0
    return true
  }

  get size(): number {
    return this.#senders.size
  }
}
