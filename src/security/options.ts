import { DEFAULTS } from '../base/defaults.js'
import { describeValue } from '../base/describe.js'
import { type Duration, parseDuration } from '../base/duration.js'
import { InvalidOptionError } from '../errors.js'
import { LIMIT_DEFAULTS, tenantScope } from '../keys/limits.js'
import type { BusSecret } from './hmac.js'
import { type EncryptionOptions, KeyRing } from './keyring.js'

/** `bus` as an object: the bus is on, with these settings. */
export interface BusOptions {
  /**
   * Shared secret(s), at least 32 bytes each: messages are signed (HMAC-SHA256) with the first
   * and must verify under one of them; anything else is dropped and counted. Without a secret,
   * anyone who can PUBLISH on the channel can make every instance drop its L1 (docs/security.md).
   */
  secret?: BusSecret | readonly BusSecret[]
  /** Oldest message accepted (also bounds how far ahead a sender's clock may be). Default `'5m'`. */
  maxAge?: Duration
  /** How often each instance publishes a heartbeat on the bus. Default `'1s'`. */
  heartbeat?: Duration
  /**
   * Silence on the bus (no heartbeat heard, own or others') after which the L1 is unverified:
   * reads go to the L2 or the origin until the bus is heard again. Default `'5s'`; at least twice
   * `heartbeat`. An invalidated value is served at most this plus one L2 deadline (docs/invalidation.md).
   */
  maxSilence?: Duration
}

/** The security options of a cache, validated (keys as `KeyObject`s inside the ring). */
export interface ResolvedSecurity {
  /** What the cache's keys, tag markers, locks and bus channel are scoped by: `<namespace>[@<tenant>]`. */
  scope: string
  encryption: { ring: KeyRing; all: boolean } | undefined
  busSecret: BusSecret | readonly BusSecret[] | undefined
  busMaxAgeMs: number
  busHeartbeatMs: number
  busMaxSilenceMs: number
  maxKeyLength: number
  maxTags: number
}

export const DEFAULT_BUS_MAX_AGE_MS: number = DEFAULTS.busMaxAgeMs
/**
 * The smallest `bus.maxAge` accepted: below it, ordinary clock skew between hosts and delivery
 * delays make genuine messages read as expired — all of them at 0, which reads like "no limit".
 */
export const MIN_BUS_MAX_AGE_MS = 1_000

export function resolveSecurity(options: {
  namespace: string
  tenant?: string | undefined
  encryption?: EncryptionOptions | undefined
  bus?: boolean | BusOptions | undefined
  maxKeyLength?: number | undefined
  maxTags?: number | undefined
}): ResolvedSecurity {
  const bus = typeof options.bus === 'object' && options.bus !== null ? options.bus : undefined
  if (bus !== undefined) {
    const known = ['secret', 'maxAge', 'heartbeat', 'maxSilence']
    const unknown = Object.keys(bus).filter((k) => !known.includes(k))
    if (unknown.length > 0) {
      throw new InvalidOptionError(
        `bus takes true, false or { secret, maxAge, heartbeat, maxSilence }; got also ${unknown.join(', ')}.`,
      )
    }
  }
  const heartbeatMs =
    bus?.heartbeat === undefined ? DEFAULTS.busHeartbeatMs : parseDuration(bus.heartbeat, 'bus.heartbeat')
  const maxSilenceMs =
    bus?.maxSilence === undefined
      ? Math.max(DEFAULTS.busMaxSilenceMs, 2 * heartbeatMs)
      : parseDuration(bus.maxSilence, 'bus.maxSilence')
  if (!(heartbeatMs > 0) || !Number.isFinite(heartbeatMs)) {
    throw new InvalidOptionError(`bus.heartbeat must be a positive duration such as '1s'.`)
  }
  if (!(maxSilenceMs >= 2 * heartbeatMs)) {
    throw new InvalidOptionError(
      `bus.maxSilence (${maxSilenceMs} ms) must be at least twice bus.heartbeat (${heartbeatMs} ms): one late beat is not silence.`,
    )
  }
  return {
    scope: tenantScope(options.namespace, options.tenant),
    encryption:
      options.encryption === undefined
        ? undefined
        : { ring: KeyRing.from(options.encryption), all: resolveAll(options.encryption.all) },
    busSecret: bus?.secret,
    busMaxAgeMs: busMaxAge(bus?.maxAge),
    busHeartbeatMs: heartbeatMs,
    busMaxSilenceMs: maxSilenceMs,
    maxKeyLength: limit(options.maxKeyLength, LIMIT_DEFAULTS.maxKeyLength, 'maxKeyLength'),
    maxTags: limit(options.maxTags, LIMIT_DEFAULTS.maxTags, 'maxTags'),
  }
}

function busMaxAge(maxAge: Duration | undefined): number {
  if (maxAge === undefined) return DEFAULT_BUS_MAX_AGE_MS
  const ms = parseDuration(maxAge, 'bus.maxAge')
  if (!(ms >= MIN_BUS_MAX_AGE_MS)) {
    throw new InvalidOptionError(
      `bus.maxAge (${ms} ms) must be at least ${MIN_BUS_MAX_AGE_MS} ms: a shorter one drops other instances' messages as expired (0 drops them all; for no age limit use Infinity, default '5m').`,
    )
  }
  return ms
}

function resolveAll(all: unknown): boolean {
  if (all === undefined) return true
  if (typeof all !== 'boolean') throw new InvalidOptionError('encryption.all must be true or false.')
  return all
}

function limit(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(`${what} must be an integer ≥ 1; got ${describeValue(value)}.`)
  }
  return value
}
