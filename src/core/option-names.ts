import { describeValue } from '../base/describe.js'
import { type OptionNames, refuseUnknown } from '../base/option-names.js'
import { InvalidOptionError } from '../errors.js'
import type { InvalidationMode } from '../invalidation/store.js'
import type { AlertThresholds } from '../observability/health.js'
import type { EncryptionOptions } from '../security/keyring.js'
import type { BusOptions } from '../security/options.js'
import type {
  CacheOptions,
  EntryOptions,
  FactoryTimeouts,
  GetOrSetManyOptions,
  GetOrSetOptions,
  L1Options,
  L2Options,
  LockOptions,
  ObservabilityOptions,
  WriteThroughOptions,
} from './option-types.js'

/*
 * The names each options object accepts. Each table is typed `Record<keyof TheType, true>`, so
 * a name added to a type and not here (or the reverse) fails the type check: the list cannot
 * drift from the types. An unknown name is refused with the nearest valid one (base/option-names).
 */

type Names<T> = Record<keyof T, true>

const RESILIENCE = {
  grace: true,
  failSafeBackoff: true,
  timeout: true,
  earlyRefresh: true,
  eagerRefresh: true,
  waitUntil: true,
} as const

const ENTRY: Names<EntryOptions> = {
  ...RESILIENCE,
  ttl: true,
  negativeTtl: true,
  tags: true,
  skipL1: true,
  skipL2: true,
  dependsOn: true,
  sliding: true,
  maxTtl: true,
  encrypt: true,
  startedAt: true,
}

/** The options `get(key, options)` reads. */
export interface GetOptions {
  skipL1?: boolean
  skipL2?: boolean
  schema?: unknown
}

export const OPTION_NAMES = {
  cache: {
    ...RESILIENCE,
    observability: true,
    lock: true,
    bus: true,
    encryption: true,
    tenant: true,
    maxKeyLength: true,
    maxTags: true,
    namespace: true,
    version: true,
    l1: true,
    l2: true,
    ttl: true,
    negativeTtl: true,
    jitter: true,
    serializer: true,
    maxValueBytes: true,
    maxKeyBytes: true,
    clock: true,
    random: true,
  } satisfies Names<CacheOptions>,
  l1: {
    maxEntries: true,
    maxBytes: true,
    ttl: true,
    isolation: true,
    policy: true,
  } satisfies Names<L1Options>,
  l2: {
    redis: true,
    tier: true,
    client: true,
    timeout: true,
    batchSize: true,
    compressAbove: true,
    breaker: true,
    writeErrors: true,
    invalidation: true,
    tls: true,
  } satisfies Names<L2Options>,
  breaker: { threshold: true, breakDuration: true } satisfies Names<
    Exclude<L2Options['breaker'], false | undefined>
  >,
  timeout: { soft: true, hard: true } satisfies Names<FactoryTimeouts>,
  lock: { ttl: true, wait: true } satisfies Names<LockOptions>,
  bus: { secret: true, maxAge: true, heartbeat: true, maxSilence: true } satisfies Names<BusOptions>,
  encryption: { keys: true, current: true, all: true } satisfies Names<EncryptionOptions>,
  observability: {
    latency: true,
    hitSampling: true,
    recentReads: true,
    window: true,
    alerts: true,
    publish: true,
  } satisfies Names<ObservabilityOptions>,
  publish: { interval: true } satisfies Names<Exclude<ObservabilityOptions['publish'], boolean | undefined>>,
  alerts: {
    hitRatioBelow: true,
    minReads: true,
    memoryAbove: true,
    evictionsPerSecondAbove: true,
    p99Above: true,
  } satisfies Names<AlertThresholds>,
  // Per call.
  entry: ENTRY,
  getOrSet: {
    ...ENTRY,
    key: true,
    factory: true,
    forceFresh: true,
    schema: true,
  } satisfies Names<GetOrSetOptions<unknown>>,
  getOrSetMany: { ...ENTRY, keys: true, factory: true, schema: true } satisfies Names<
    GetOrSetManyOptions<unknown>
  >,
  writeThrough: { ...ENTRY, key: true, value: true, write: true } satisfies Names<
    WriteThroughOptions<unknown>
  >,
  get: { skipL1: true, skipL2: true, schema: true } satisfies Names<GetOptions>,
  warm: { ...ENTRY, batchSize: true },
  wrap: { ...ENTRY, key: true },
  invalidateTags: { mode: true } satisfies Names<{ mode?: InvalidationMode }>,
  ready: { timeout: true },
} as const satisfies Record<string, OptionNames>

/**
 * Refuses a per-call option name nobody reads (`getOrSet({ key, factory, tll })`), naming the
 * nearest valid one. The L1-hit path does not call it (a hit reads no option but `skipL1` and
 * `forceFresh`, and must stay a few hundred ns); the first call that loads, writes or reads past
 * the L1 does.
 */
export function refuseUnknownCallOptions(
  options: object | undefined,
  call: Exclude<keyof typeof OPTION_NAMES, 'cache' | 'l1' | 'l2' | 'breaker' | 'alerts' | 'publish'>,
): void {
  if (options === undefined) return
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(
      `${call} options must be an object (or left out); got ${describeValue(options)}.`,
    )
  }
  refuseUnknown(options, OPTION_NAMES[call], call)
}
