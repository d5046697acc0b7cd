import { isSealed, type KeyRing, type OpenFailure } from './keyring.js'

/**
 * Security events a cache counts (`cache.stats().security`). Each stands for something refused —
 * a miss or a dropped message — never an error to a caller, and none carries a key, a value or
 * key material.
 */
export interface SecurityStats {
  /** Encrypted entries that failed authentication: tampered with, copied from another key, or relabelled. */
  integrityFailures: number
  /** Encrypted entries under a key id this cache does not hold (retired, or forged). */
  unknownKeyIds: number
  /** Encrypted entries too short or of an unknown format version. */
  malformedEntries: number
  /** Unencrypted bytes (a plaintext envelope or anything else) where this cache requires encryption: a planted value. */
  plaintextRefused: number
  /** Bus messages without a valid HMAC (when `bus.secret` is set). */
  busUnauthenticated: number
  /** Bus messages already received (a replay). */
  busReplayed: number
  /** Bus messages sent longer ago (or further ahead) than `bus.maxAge`. */
  busExpired: number
  /** Bus messages over 1 MiB. */
  busOversized: number
  /** All of the above. */
  securityEvents: number
}

/** The counters (the total is their sum, computed when read). */
export type SecurityCounters = Omit<SecurityStats, 'securityEvents'>

export function emptySecurityStats(): SecurityCounters {
  return {
    integrityFailures: 0,
    unknownKeyIds: 0,
    malformedEntries: 0,
    plaintextRefused: 0,
    busUnauthenticated: 0,
    busReplayed: 0,
    busExpired: 0,
    busOversized: 0,
  }
}

/** The counters plus their total. */
export function securityStats(counters: SecurityCounters): SecurityStats {
  let total = 0
  for (const value of Object.values(counters)) total += value
  return { ...counters, securityEvents: total }
}

const COUNTER: Record<OpenFailure | 'plaintext', keyof SecurityCounters> = {
  integrity: 'integrityFailures',
  'unknown-key': 'unknownKeyIds',
  malformed: 'malformedEntries',
  plaintext: 'plaintextRefused',
}

/**
 * Encryption of one cache's L2 entries: the envelope bytes are sealed under the storage key on
 * write and opened on read; any refusal is counted in `stats` and reads as a miss.
 */
export class EntryCrypto {
  readonly ring: KeyRing
  /** Whether entries are encrypted (and required) unless an entry says otherwise. */
  readonly all: boolean
  readonly stats: SecurityCounters

  constructor(ring: KeyRing, all: boolean, stats: SecurityCounters) {
    this.ring = ring
    this.all = all
    this.stats = stats
  }

  /** The bytes to store under `storageKey`: sealed when `encrypt` (default: the cache's `all`). */
  seal(envelope: Uint8Array, storageKey: string, encrypt: boolean | undefined): Uint8Array {
    return (encrypt ?? this.all) ? this.ring.seal(envelope, storageKey) : envelope
  }

  /**
   * The envelope bytes stored under `storageKey`, or undefined (counted) when they may not be
   * trusted: a sealed entry that does not open, or a plaintext one where encryption is required.
   */
  open(bytes: Uint8Array, storageKey: string, required: boolean | undefined): Uint8Array | undefined {
    if (!isSealed(bytes)) {
      // Where encryption is required, anything unsealed was planted (or mangled): refused here.
      if (required ?? this.all) {
        this.stats[COUNTER.plaintext]++
        return undefined
      }
      return bytes
    }
    const opened = this.ring.open(bytes, storageKey)
    if (opened.ok) return opened.plaintext
    this.stats[COUNTER[opened.reason]]++
    return undefined
  }
}
