import { Emitter } from '../base/emitter.js'
import { eventChannel } from '../observability/channels.js'
import type { CacheEventName, CacheEvents } from '../observability/events.js'

export type { CacheEventName, CacheEvents } from '../observability/events.js'
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
