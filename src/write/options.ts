import { describeValue } from '../base/describe.js'
import { InvalidOptionError } from '../errors.js'
import type { Serializer } from '../serialization/serializer.js'
import type { FlushContext, WriteBehindOp, WriteBehindOptions } from './types.js'

/** The shortest default poll of an idle flusher (see pollIntervalMs). */
const MIN_POLL_MS = 10

/** Defaults of every write-behind option, in one place. */
export const WRITE_BEHIND_DEFAULTS = {
  maxBatch: 500,
  maxDelayMs: 100,
  retryBaseMs: 100,
  retryMaxMs: 5_000,
  maxAttempts: 5,
  maxPending: 100_000,
  maxDeadLetters: 10_000,
  visibilityTimeoutMs: 30_000,
  flushTimeoutMs: 30_000,
  partitions: 1,
  closeTimeoutMs: 10_000,
  durability: 'redis',
  replicationTimeoutMs: 200,
} as const

export interface ResolvedWriteBehindOptions<T> {
  name: string
  flush: (batch: readonly WriteBehindOp<T>[], context: FlushContext) => Promise<unknown>
  maxBatch: number
  maxDelayMs: number
  retryBaseMs: number
  retryMaxMs: number
  maxAttempts: number
  maxPending: number
  maxDeadLetters: number
  visibilityTimeoutMs: number
  flushTimeoutMs: number
  flusher: boolean
  partitions: number
  pollIntervalMs: number
  closeTimeoutMs: number
  serializer: Serializer | undefined
  updateCache: boolean
  /** Replicas that must confirm each append (0: none, 'redis'; 1: 'replicated'). */
  replicas: number
  replicationTimeoutMs: number
  clock: () => number
  random: () => number
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/

/** Validates once, at construction: every error names the option and what it accepts. */
export function resolveWriteBehindOptions<T>(options: WriteBehindOptions<T>): ResolvedWriteBehindOptions<T> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError('writeBehind expects { name, flush: async (batch) => …, … }.')
  }
  if (typeof options.name !== 'string' || !NAME.test(options.name)) {
    throw new InvalidOptionError(
      `writeBehind: name must be letters, digits, '_', '.' or '-' (it names the log in Redis); got ${describeValue(options.name)}.`,
    )
  }
  if (typeof options.flush !== 'function') {
    throw new InvalidOptionError(
      'writeBehind: flush must be a function (batch, context) => Promise that writes the batch to your database.',
    )
  }
  const int = (
    name: string,
    value: number | undefined,
    fallback: number,
    min: number,
    max = Number.MAX_SAFE_INTEGER,
  ) => {
    if (value === undefined) return fallback
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new InvalidOptionError(
        `writeBehind: ${name} must be an integer from ${min} to ${max}; got ${describeValue(value)}.`,
      )
    }
    return value
  }
  const ms = (name: string, value: number | undefined, fallback: number, min: number) => {
    if (value === undefined) return fallback
    // Any finite length, as the cache's own durations: the timers they end up in wait at most
    // MAX_TIMER_MS (timerMs; a timer past it would fire after 1 ms), and the lease sent to Redis
    // is capped as well (see RedisStreamLog). Infinity and NaN would make deadlines never reached.
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
      throw new InvalidOptionError(
        `writeBehind: ${name} must be a finite number of ms ≥ ${min}; got ${describeValue(value)}.`,
      )
    }
    return value
  }
  const bool = (name: string, value: boolean | undefined, fallback: boolean) => {
    if (value === undefined) return fallback
    if (typeof value !== 'boolean')
      throw new InvalidOptionError(`writeBehind: ${name} must be true or false.`)
    return value
  }
  const fn = <F>(name: string, value: F | undefined, fallback: F): F => {
    if (value === undefined) return fallback
    if (typeof value !== 'function') throw new InvalidOptionError(`writeBehind: ${name} must be a function.`)
    return value
  }
  const d = WRITE_BEHIND_DEFAULTS
  const maxDelayMs = ms('maxDelay', options.maxDelay, d.maxDelayMs, 0)
  const retryBaseMs = ms('retryBase', options.retryBase, d.retryBaseMs, 1)
  const retryMaxMs = ms('retryMax', options.retryMax, d.retryMaxMs, 1)
  if (retryMaxMs < retryBaseMs) {
    throw new InvalidOptionError(
      `writeBehind: retryMax (${retryMaxMs}) must be ≥ retryBase (${retryBaseMs}): it caps the backoff that starts at retryBase.`,
    )
  }
  let maxPending: number = d.maxPending
  if (options.maxPending !== undefined) {
    if (options.maxPending !== Number.POSITIVE_INFINITY)
      maxPending = int('maxPending', options.maxPending, d.maxPending, 1)
    else maxPending = Number.POSITIVE_INFINITY
  }
  const partitions = int('partitions', options.partitions, d.partitions, 1, 1024)
  if (maxPending < partitions) {
    throw new InvalidOptionError(
      `writeBehind: maxPending (${maxPending}) must be ≥ partitions (${partitions}): each partition holds its share of maxPending.`,
    )
  }
  const serializer = options.serializer
  if (
    serializer !== undefined &&
    (typeof serializer?.encode !== 'function' || typeof serializer.decode !== 'function')
  ) {
    throw new InvalidOptionError('writeBehind: serializer must have encode(value) and decode(bytes).')
  }
  return {
    name: options.name,
    flush: options.flush as ResolvedWriteBehindOptions<T>['flush'],
    maxBatch: int('maxBatch', options.maxBatch, d.maxBatch, 1, 10_000),
    maxDelayMs,
    retryBaseMs,
    retryMaxMs,
    maxAttempts: int('maxAttempts', options.maxAttempts, d.maxAttempts, 1),
    maxPending,
    maxDeadLetters:
      options.maxDeadLetters === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : int('maxDeadLetters', options.maxDeadLetters, d.maxDeadLetters, 1),
    visibilityTimeoutMs: ms('visibilityTimeout', options.visibilityTimeout, d.visibilityTimeoutMs, 100),
    flushTimeoutMs: ms('flushTimeout', options.flushTimeout, d.flushTimeoutMs, 1),
    flusher: bool('flusher', options.flusher, true),
    partitions,
    // At least 10 ms by default: an idle flusher reads (and measures) its partition every poll, and
    // with maxDelay 0 a poll per millisecond was ~2,000 Redis calls a second per partition for
    // nothing (this process's own writes wake it at once; only other processes' wait for a poll).
    pollIntervalMs: ms(
      'pollInterval',
      options.pollInterval,
      Math.max(MIN_POLL_MS, Math.min(maxDelayMs, 100)),
      1,
    ),
    closeTimeoutMs: ms('closeTimeout', options.closeTimeout, d.closeTimeoutMs, 0),
    serializer,
    updateCache: bool('updateCache', options.updateCache, true),
    replicas: durabilityReplicas(options.durability),
    replicationTimeoutMs: int(
      'replicationTimeout',
      options.replicationTimeout,
      d.replicationTimeoutMs,
      1,
      60_000,
    ),
    clock: fn('clock', options.clock, Date.now),
    random: fn('random', options.random, Math.random),
  }
}

function durabilityReplicas(durability: unknown): number {
  if (durability === undefined || durability === 'redis') return 0
  if (durability === 'replicated') return 1
  throw new InvalidOptionError(
    `writeBehind: durability must be 'redis' (acknowledged once the master has the write) or 'replicated' (once a replica has it too); got ${describeValue(durability)}.`,
  )
}
