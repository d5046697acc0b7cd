import { Emitter } from '../base/emitter.js'
import type { BusChange } from '../invalidation/messages.js'
import { eventChannel } from '../observability/channels.js'
import type { CacheEventName, CacheEvents, InvalidationEvent } from '../observability/events.js'
import type { WriteBehind } from '../write/index.js'

export type { CacheEventName, CacheEvents, InvalidationEvent } from '../observability/events.js'
export type CacheEventListener<E extends CacheEventName> = (event: CacheEvents[E]) => void

/**
 * The cache's emitter ({@link Emitter}): every event also goes to the `stratacache:event`
 * diagnostics channel when it has subscribers.
 */
export class CacheEventEmitter extends Emitter<CacheEvents> {
  readonly #cache: string
  /** Whether anyone listens to 'hit' or 'miss' here (checked on the hit path: a field, not a Map lookup). */
  watchingReads = false

  constructor(cache: string) {
    super()
    this.#cache = cache
  }

  protected override changed(): void {
    this.watchingReads = this.has('hit') || this.has('miss')
  }

  override emit<E extends CacheEventName>(name: E, event: CacheEvents[E]): void {
    if (eventChannel.hasSubscribers) eventChannel.publish({ cache: this.#cache, name, event })
    super.emit(name, event)
  }
}

/**
 * Emits the `invalidate` event for a change made here (`'local'`) or heard on the bus
 * (`'remote'`), from the bus message that announces it (or would, without a bus). `tags` and
 * `keys` are the caller's own arrays for a local change (the HTTP layer recognises its calls by
 * them). Costs nothing when nobody listens.
 */
export function emitInvalidation(
  events: CacheEventEmitter,
  message: BusChange,
  origin: InvalidationEvent['origin'],
): void {
  if (!events.has('invalidate') && !eventChannel.hasSubscribers) return
  let event: InvalidationEvent
  switch (message.op) {
    case 'delete':
      event = { kind: 'keys', origin, at: message.at, keys: message.keys }
      break
    case 'tags':
      event = { kind: 'tags', origin, at: message.at, tags: message.tags, mode: message.mode }
      break
    case 'clear':
      event = { kind: 'clear', origin, at: message.at }
      break
    case 'pattern':
      event = { kind: 'pattern', origin, at: message.at, pattern: message.pattern }
      break
  }
  events.emit('invalidate', event)
}

/** Forwards a write-behind's events as the cache's `write-behind` event, named after it. */
export function forwardWriteBehind(wb: WriteBehind<unknown>, events: CacheEventEmitter, name: string): void {
  const emit = (kind: CacheEvents['write-behind']['kind'], count: number, ms: number) =>
    events.emit('write-behind', { name, kind, count, ms })
  wb.on('flushed', (e) => emit('flushed', e.keys, e.lagMs))
  wb.on('retry', (e) => emit('retry', e.keys, e.delayMs))
  wb.on('dead-letter', () => emit('dead-letter', 1, 0))
  wb.on('dead-letter-dropped', (e) => emit('dead-letter-dropped', e.count, 0))
  wb.on('backpressure', (e) => emit('backpressure', e.pending, 0))
}
