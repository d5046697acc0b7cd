/** What a thrown value says: its message, or the value itself as text (a thrown string, a number…). */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * Every error stratacache throws is a {@link StrataError} with a stable `code`, a message that
 * says what to do, and the original error as `cause`. Match on `code` (or `instanceof` one of the
 * classes in {@link errors}); messages may be reworded between versions, codes never are.
 */
export class StrataError extends Error {
  readonly code: StrataErrorCode

  constructor(code: StrataErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

export type StrataErrorCode =
  | 'E_INVALID_KEY'
  | 'E_INVALID_OPTION'
  | 'E_SERIALIZATION'
  | 'E_VALUE_TOO_LARGE'
  | 'E_FACTORY'
  | 'E_L2'
  | 'E_L2_TIMEOUT'
  | 'E_L2_UNAVAILABLE'
  | 'E_FACTORY_HARD_TIMEOUT'
  | 'E_CLOSED'
  | 'E_WRITE_BEHIND_FULL'
  | 'E_WRITE_BEHIND_NOT_REPLICATED'
  | 'E_WRITE_BEHIND_TIMEOUT'
  | 'E_HTTP_PURGE'

/** A key is empty, not a string, or a key part cannot be encoded. */
export class InvalidKeyError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_INVALID_KEY', message, options)
  }
}

/** An option (cache-level or per call) is missing, of the wrong type or out of range. */
export class InvalidOptionError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_INVALID_OPTION', message, options)
  }
}

/** The serializer could not encode a value (function, symbol, circular structure…). */
export class SerializationError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_SERIALIZATION', message, options)
  }
}

/** The encoded value is larger than `maxValueBytes`. */
export class ValueTooLargeError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_VALUE_TOO_LARGE', message, options)
  }
}

/** The factory passed to getOrSet/getOrSetMany/wrap threw or rejected; `cause` is what it threw. */
export class FactoryError extends StrataError {
  readonly key: string | undefined
  constructor(message: string, key: string | undefined, options?: { cause?: unknown }) {
    super('E_FACTORY', message, options)
    this.key = key
  }
}

/** The L2 (Redis) failed a write or delete that the caller must know about. */
export class L2Error extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_L2', message, options)
  }
}

/** An L2 call did not answer within its deadline (`l2.timeout`). */
export class L2TimeoutError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_L2_TIMEOUT', message, options)
  }
}

/**
 * The L2 was not asked because its circuit breaker is open (it failed repeatedly and is being
 * probed in the background). Reads degrade to misses; nothing waits on a dead Redis.
 */
export class L2UnavailableError extends StrataError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_L2_UNAVAILABLE', message, options)
  }
}

/** The factory did not settle within `timeout.hard` and no stale value could stand in. */
export class FactoryHardTimeoutError extends StrataError {
  readonly key: string
  constructor(message: string, key: string) {
    super('E_FACTORY_HARD_TIMEOUT', message)
    this.key = key
  }
}

/** The cache was used after `close()`. */
export class ClosedError extends StrataError {
  constructor(message: string) {
    super('E_CLOSED', message)
  }
}

/**
 * A write-behind log holds `maxPending` writes not yet flushed (the database is down or slower
 * than the writes): the write was not accepted. Retry later, shed load, or raise `maxPending`.
 */
export class WriteBehindFullError extends StrataError {
  /** Writes waiting when this one was refused: in its partition, which holds its share of `maxPending`. */
  readonly pending: number
  constructor(message: string, pending: number) {
    super('E_WRITE_BEHIND_FULL', message)
    this.pending = pending
  }
}

/**
 * A write-behind with `durability: 'replicated'` appended the write to the master's log, but no
 * replica confirmed it within `replicationTimeout` (`WAIT 1`): the write may still be flushed, or
 * lost if the master fails before a replica has it. Treat it like a timeout: retry (a retry gets a
 * newer sequence and wins), or check your replicas.
 */
export class WriteBehindNotReplicatedError extends StrataError {
  /** Replicas that confirmed the write (fewer than required). */
  readonly replicas: number
  constructor(message: string, replicas: number, options?: { cause?: unknown }) {
    super('E_WRITE_BEHIND_NOT_REPLICATED', message, options)
    this.replicas = replicas
  }
}

/**
 * A write-behind's `settled(timeoutMs)` passed its deadline with writes this instance appended
 * still unflushed (the database is down or slow): they stay in the log, and a flusher still
 * flushes them. Wait again, or check the flushers and the database.
 */
export class WriteBehindTimeoutError extends StrataError {
  /** Writes waiting in the log, as last counted. */
  readonly pending: number
  constructor(message: string, pending: number) {
    super('E_WRITE_BEHIND_TIMEOUT', message)
    this.pending = pending
  }
}

/** Every error class by its code. */
export const errors = {
  E_INVALID_KEY: InvalidKeyError,
  E_INVALID_OPTION: InvalidOptionError,
  E_SERIALIZATION: SerializationError,
  E_VALUE_TOO_LARGE: ValueTooLargeError,
  E_FACTORY: FactoryError,
  E_L2: L2Error,
  E_L2_TIMEOUT: L2TimeoutError,
  E_L2_UNAVAILABLE: L2UnavailableError,
  E_FACTORY_HARD_TIMEOUT: FactoryHardTimeoutError,
  E_CLOSED: ClosedError,
  E_WRITE_BEHIND_FULL: WriteBehindFullError,
  E_WRITE_BEHIND_NOT_REPLICATED: WriteBehindNotReplicatedError,
  E_WRITE_BEHIND_TIMEOUT: WriteBehindTimeoutError,
} as const
