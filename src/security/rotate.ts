import { createHash } from 'node:crypto'
import { within } from '../base/deadline.js'
import { DEFAULTS } from '../base/defaults.js'
import { describeValue, expectObject } from '../base/describe.js'
import { parseDuration } from '../base/duration.js'
import { refuseUnknown } from '../base/option-names.js'
import { InvalidOptionError, L2TimeoutError } from '../errors.js'
import { escapeGlob } from '../keys/key.js'
import { tenantScope } from '../keys/limits.js'
import { decodeEnvelope, ENVELOPE_MAGIC } from '../serialization/envelope.js'
import type { RedisAdapter } from '../tiers/redis/adapter.js'
import { ClusterAdapter } from '../tiers/redis/cluster-adapter.js'
import { keySlot } from '../tiers/redis/cluster-slot.js'
import { createRedisTier } from '../tiers/redis/create.js'
import type { L2Options } from '../tiers/redis/options.js'
import type { LuaScript } from '../tiers/redis/scripts.js'
import { type EncryptionOptions, isSealed, KeyRing, sealedKeyId } from './keyring.js'

/**
 * For each triple (key, expected, next) in ARGV: SET key next KEEPTTL if it still holds expected.
 * Returns one character per triple, '1' swapped or '0' left alone: a count alone cannot tell a
 * re-encrypted entry from a sealed plaintext one when some changed meanwhile. KEYS[1] is the
 * first of those keys; every key of one call hashes to the same slot on a cluster (one call per
 * slot), so the script only touches keys local to its node. Static source, data only through KEYS/ARGV. A value written meanwhile (by a cache, with
 * the current key) is left alone.
 */
const COMPARE_AND_SWAP_MANY: LuaScript = script(
  'local r = {} ' +
    'for i = 1, #ARGV, 3 do ' +
    "if redis.call('get', ARGV[i]) == ARGV[i + 1] then redis.call('set', ARGV[i], ARGV[i + 2], 'KEEPTTL') r[#r + 1] = '1' " +
    "else r[#r + 1] = '0' end " +
    'end return table.concat(r)',
)
/**
 * Deadline of each Redis call (SCAN, MGET, a script call) when `l2.timeout` is not given: longer
 * than a cache's 500 ms, since a script call swaps up to {@link SWAPS_PER_CALL} entries, yet short
 * enough that a Redis that accepts the connection but never answers fails the rotation instead of
 * hanging it.
 */
export const ROTATE_CALL_TIMEOUT_MS = 5_000
/** Swaps per script call: bounds how long one call blocks Redis (each is a GET and a SET). */
const SWAPS_PER_CALL = 250

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

export interface RotateKeysOptions {
  /**
   * The Redis the caches use: as `l2` of `createCache` (a URL, `{ cluster }`, a client or an
   * adapter), plus `tls`/`client`. `timeout` bounds each Redis call (default
   * {@link ROTATE_CALL_TIMEOUT_MS}): one that does not answer in time rejects with E_L2_TIMEOUT.
   */
  l2: Pick<L2Options, 'redis' | 'client' | 'timeout'> & { tls?: unknown }
  /** The caches' namespace (every version is rotated). */
  namespace: string
  /** Only this tenant's entries (`createCache({ tenant })`). Default: the namespace without tenant. */
  tenant?: string
  /** The new key ring: `current` is the key entries are re-encrypted with; the old keys must still be listed. */
  encryption: EncryptionOptions
  /** Keys per SCAN page and per round of compare-and-swap writes. Default 500. */
  batchSize?: number
  /**
   * Also encrypt plaintext entries (turning encryption on for an existing cache). Default false.
   * Nothing tells a plaintext entry a cache wrote from one planted by whoever can write to Redis,
   * and sealing makes it authentic: so this needs `encryption.all: false` — the caches still
   * accept plaintext, so sealing grants no trust they do not already give — and is refused
   * (E_INVALID_OPTION) with the default `all: true`, where every plaintext entry is a forgery or
   * a leftover the caches refuse. Only entries that decode as the cache's envelope are sealed;
   * `plaintextSealed` counts them.
   */
  encryptPlaintext?: boolean
  /** Called after each batch. */
  onProgress?: (progress: RotationReport) => void
  /** Stops after the current batch. */
  signal?: AbortSignal
}

/** The names `rotateKeys` reads: any other is a typo, refused with the nearest one. */
const ROTATE_OPTION_NAMES = {
  l2: true,
  namespace: true,
  tenant: true,
  encryption: true,
  batchSize: true,
  encryptPlaintext: true,
  onProgress: true,
  signal: true,
} as const satisfies Record<keyof RotateKeysOptions, true>

export interface RotationReport {
  /** Keys seen by SCAN (entries, plus tombstones and anything else under the prefix). */
  scanned: number
  /** Entries re-encrypted with the current key. */
  rotated: number
  /** Entries already under the current key. */
  current: number
  /** Plaintext entries seen (sealed or not). */
  plaintext: number
  /**
   * Plaintext entries sealed with the current key (`encryptPlaintext`): each is now trusted by
   * caches that require encryption, whoever wrote it.
   */
  plaintextSealed: number
  /** Entries under a key id the ring does not hold, or failing authentication: left alone (they read as misses). */
  unreadable: number
  /** Entries that changed between the read and the swap (a cache wrote them meanwhile): left alone. */
  changed: number
}

/**
 * Re-encrypts every entry of a namespace under the current key, in batches, while caches keep
 * running: SCAN (never KEYS), MGET, then a compare-and-swap per entry that keeps its TTL and
 * never overwrites a value written meanwhile. Reads keep working throughout — caches hold the old
 * key too — and once this resolves, the old key can be removed from every cache's ring after the
 * longest TTL + grace of entries written before the rotation started (docs/security.md).
 */
export async function rotateKeys(options: RotateKeysOptions): Promise<RotationReport> {
  expectObject(options, 'rotateKeys(options)')
  refuseUnknown(options, ROTATE_OPTION_NAMES, 'rotateKeys', '', 'docs/security.md')
  const l2: unknown = options.l2
  if (typeof l2 !== 'object' || l2 === null || Array.isArray(l2)) {
    // Only its type: a URL given bare would carry its password into the message.
    throw new InvalidOptionError(
      `rotateKeys: l2 must be an object like { redis: 'rediss://…' } (as the caches' l2); got ${l2 === null ? 'null' : typeof l2}.`,
    )
  }
  const ring = KeyRing.from(options.encryption)
  const batchSize = options.batchSize ?? 500
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new InvalidOptionError('rotateKeys: batchSize must be an integer ≥ 1.')
  }
  if (typeof options.namespace !== 'string' || options.namespace.length === 0) {
    throw new InvalidOptionError('rotateKeys: namespace is required (the caches’ `namespace`).')
  }
  refuseLaundering(options)
  const timeoutMs =
    options.l2.timeout === undefined
      ? ROTATE_CALL_TIMEOUT_MS
      : parseDuration(options.l2.timeout, 'rotateKeys: l2.timeout')
  const tier = createRedisTier(options.l2 as L2Options, {
    timeoutMs,
    batchSize,
    onError: () => {},
  })
  const adapter = tier.adapter
  try {
    return await rotateWith(adapter, ring, options, batchSize, timeoutMs)
  } finally {
    await tier.close()
  }
}

/**
 * `encryptPlaintext` with caches that require encryption would launder: an entry planted in
 * Redis as plaintext (refused by those caches) would come out sealed, read as authentic.
 */
function refuseLaundering(options: RotateKeysOptions): void {
  const plaintext = options.encryptPlaintext
  if (plaintext !== undefined && typeof plaintext !== 'boolean') {
    throw new InvalidOptionError(
      `rotateKeys: encryptPlaintext must be true or false; got ${describeValue(plaintext)}.`,
    )
  }
  const all = options.encryption.all
  if (all !== undefined && typeof all !== 'boolean') {
    throw new InvalidOptionError('rotateKeys: encryption.all must be true or false.')
  }
  if (plaintext === true && all !== false) {
    throw new InvalidOptionError(
      'rotateKeys: encryptPlaintext needs encryption.all: false. Caches that require encryption (all: true, the default) refuse plaintext entries, so any found in Redis is a leftover or was planted, and sealing it would make it authentic. To turn encryption on for an existing cache, run the caches with encryption.all: false, rotate with { encryptPlaintext: true, encryption: { ..., all: false } }, then deploy all: true — or simply deploy all: true and let the old plaintext entries read as misses.',
    )
  }
}

async function rotateWith(
  adapter: RedisAdapter,
  ring: KeyRing,
  options: RotateKeysOptions,
  batchSize: number,
  timeoutMs: number,
): Promise<RotationReport> {
  // The adapter's commands have no deadline of their own (the tier's applies to its own calls).
  const answer = <T>(command: string, operation: Promise<T>): Promise<T> =>
    within(
      operation,
      timeoutMs,
      () =>
        new L2TimeoutError(
          `rotateKeys: Redis did not answer ${command} within ${timeoutMs} ms: check the Redis URL (host, port, password, TLS) and that the server is up, then run the rotation again (entries already rotated are skipped).`,
        ),
    )
  const evalScript = adapter.evalScript?.bind(adapter)
  if (evalScript === undefined) {
    throw new InvalidOptionError('rotateKeys needs an adapter with evalScript (compare-and-swap in Lua).')
  }
  const prefix = `${tenantScope(options.namespace, options.tenant)}:`
  const match = `${escapeGlob(prefix)}*`
  const report: RotationReport = {
    scanned: 0,
    rotated: 0,
    current: 0,
    plaintext: 0,
    plaintextSealed: 0,
    unreadable: 0,
    changed: 0,
  }
  let cursor = '0'
  do {
    if (options.signal?.aborted) break
    const page = await answer('SCAN', adapter.scan(cursor, match, batchSize))
    cursor = page.cursor
    report.scanned += page.keys.length
    if (page.keys.length === 0) continue
    const values = await answer('MGET', adapter.mget(page.keys))
    // One group per slot on a cluster; one group on a single Redis.
    const groups = new Map<number, { key: string; value: Buffer; next: Buffer }[]>()
    const cluster = adapter instanceof ClusterAdapter
    for (let i = 0; i < page.keys.length; i++) {
      const key = page.keys[i] as string
      const value = values[i]
      if (value === null || value === undefined) continue
      let next: Buffer | undefined
      if (isSealed(value)) {
        if (sealedKeyId(value) === ring.currentId) {
          report.current++
          continue
        }
        const opened = ring.open(value, key)
        if (!opened.ok) {
          report.unreadable++
          continue
        }
        next = ring.seal(opened.plaintext, key)
      } else if (value[0] === ENVELOPE_MAGIC) {
        report.plaintext++
        // Bytes that are not an envelope stay as they are: sealed, they would read as a corrupt
        // entry (a decode error) instead of as planted plaintext (a security event).
        if (options.encryptPlaintext !== true || !isEnvelope(value)) continue
        next = ring.seal(value, key)
      } else continue // a tombstone or foreign bytes
      const slot = cluster ? keySlot(key) : 0
      let group = groups.get(slot)
      if (group === undefined) {
        group = []
        groups.set(slot, group)
      }
      group.push({ key, value, next })
    }
    const swaps: Promise<void>[] = []
    for (const group of groups.values()) {
      for (let at = 0; at < group.length; at += SWAPS_PER_CALL) {
        const chunk = group.slice(at, at + SWAPS_PER_CALL)
        const args: (string | Buffer)[] = []
        for (const { key, value, next } of chunk) args.push(key, value, next)
        swaps.push(
          answer(
            'EVALSHA (compare-and-swap)',
            evalScript(COMPARE_AND_SWAP_MANY, (chunk[0] as { key: string }).key, args),
          ).then((reply) => {
            const swapped = String(reply)
            chunk.forEach(({ value }, i) => {
              if (swapped[i] !== '1') report.changed++
              else if (isSealed(value)) report.rotated++
              else report.plaintextSealed++
            })
          }),
        )
      }
    }
    await Promise.all(swaps)
    options.onProgress?.({ ...report })
  } while (cursor !== '0')
  return report
}

/** Whether plaintext bytes decode as the cache's envelope (inflating no more than a cache would by default). */
function isEnvelope(bytes: Buffer): boolean {
  try {
    decodeEnvelope(bytes, DEFAULTS.maxValueBytes)
    return true
  } catch {
    return false
  }
}
