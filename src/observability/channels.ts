/**
 * The instrumentation seam: `node:diagnostics_channel`. The core publishes here and imports no
 * metrics library; the Prometheus and OpenTelemetry adapters (and anyone else) subscribe. With no
 * subscriber, the cost is one `hasSubscribers` check per call: no context object is allocated.
 */
import { channel, tracingChannel } from 'node:diagnostics_channel'
import type { CacheEventName, CacheEvents } from './events.js'
import type { TierLabel } from './types.js'

/** The traced operations (a subset of {@link OperationName}: the ones a caller makes). */
export type TracedOperation = 'getOrSet' | 'get' | 'set' | 'delete' | 'invalidate'

/**
 * The context of one traced call. `start` sees `cache`, `operation` and `key`; by `asyncEnd`
 * (or `error`) the cache has filled `tier` for reads. Keys may identify users: subscribers must not
 * export them unless their user opted in (the OpenTelemetry adapter's `recordKeys`).
 */
export interface OperationContext {
  readonly cache: string
  readonly operation: TracedOperation
  /** The key (or, for 'invalidate', the tags joined by ','). */
  readonly key: string
  /** Which tier answered a read; 'all' for writes. */
  tier?: TierLabel
  /** Set by diagnostics_channel on `asyncEnd`. */
  result?: unknown
  /** Set by diagnostics_channel on `error`. */
  error?: unknown
}

/** Tracing channel `stratacache:operation` (start / end / asyncStart / asyncEnd / error). */
export const OPERATION_CHANNEL_NAME = 'stratacache:operation'
export const operationChannel = tracingChannel<unknown, OperationContext>(OPERATION_CHANNEL_NAME)

/** What the `stratacache:event` channel carries: every event `cache.on` can listen to. */
export interface EventMessage<E extends CacheEventName = CacheEventName> {
  readonly cache: string
  readonly name: E
  readonly event: CacheEvents[E]
}

/** Plain channel `stratacache:event`: the same events as `cache.on`, from every cache in the process. */
export const EVENT_CHANNEL_NAME = 'stratacache:event'
export const eventChannel = channel(EVENT_CHANNEL_NAME)
