import { eventChannel } from '../observability/channels.js'
import type { CacheEventName, CacheEvents } from '../observability/events.js'

export type { CacheEventName, CacheEvents } from '../observability/events.js'
export type CacheEventListener<E extends CacheEventName> = (event: CacheEvents[E]) => void

/**
 * A minimal typed emitter: listeners run synchronously; one that throws is isolated from the
 * others and from the cache. Every event also goes to the `stratacache:event` diagnostics channel
 * when it has subscribers.
 */
export class CacheEventEmitter {
  readonly #listeners = new Map<CacheEventName, Set<(event: never) => void>>()
  readonly #cache: string
  /** Whether anyone listens to 'hit' or 'miss' here (checked on the hit path: a field, not a Map lookup). */
  watchingReads = false

  constructor(cache: string) {
    this.#cache = cache
  }

  on<E extends CacheEventName>(name: E, listener: CacheEventListener<E>): void {
    let set = this.#listeners.get(name)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(listener as (event: never) => void)
    this.#update()
  }

  off<E extends CacheEventName>(name: E, listener: CacheEventListener<E>): void {
    this.#listeners.get(name)?.delete(listener as (event: never) => void)
    this.#update()
  }

  #update(): void {
    this.watchingReads = this.has('hit') || this.has('miss')
  }

  /** Whether anyone listens to `name` (so callers can skip building the event). */
  has(name: CacheEventName): boolean {
    return (this.#listeners.get(name)?.size ?? 0) > 0
  }

  emit<E extends CacheEventName>(name: E, event: CacheEvents[E]): void {
    if (eventChannel.hasSubscribers) eventChannel.publish({ cache: this.#cache, name, event })
    const set = this.#listeners.get(name)
    if (set === undefined) return
    for (const listener of set) {
      try {
        ;(listener as CacheEventListener<E>)(event)
      } catch {
        // A listener's bug must not break a cache read.
      }
    }
  }
}
