/**
 * A minimal typed emitter, the one the cache and the HTTP layer share: `Events` maps each event
 * name to its payload. Listeners run synchronously, in the order they were added; one that throws
 * is isolated from the others and from the caller (a listener's bug must not break a read or a
 * response).
 */
export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<(event: never) => void>>()

  on<E extends keyof Events>(name: E, listener: (event: Events[E]) => void): void {
    let set = this.#listeners.get(name)
    if (set === undefined) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(listener as (event: never) => void)
    this.changed()
  }

  off<E extends keyof Events>(name: E, listener: (event: Events[E]) => void): void {
    this.#listeners.get(name)?.delete(listener as (event: never) => void)
    this.changed()
  }

  /** Whether anyone listens to `name` (so callers can skip building the event). */
  has(name: keyof Events): boolean {
    return (this.#listeners.get(name)?.size ?? 0) > 0
  }

  emit<E extends keyof Events>(name: E, event: Events[E]): void {
    const set = this.#listeners.get(name)
    if (set === undefined) return
    for (const listener of set) {
      try {
        ;(listener as (event: Events[E]) => void)(event)
      } catch {
        // A listener's bug must not break its caller.
      }
    }
  }

  /** Called after a listener was added or removed (a subclass may cache what it needs to know). */
  protected changed(): void {}
}
