/**
 * In-process duplicate suppression: while a load for a key is in flight, every other caller for
 * that key joins it and gets the same result or the same error. The entry is removed when the
 * load settles — and only if it is still the same load (a newer flight for the key, started
 * after a delete, is never removed by an older one's completion).
 */
export class SingleFlight<T> {
  readonly #flights = new Map<string, Promise<T>>()

  /** The in-flight load for `key`, if any. */
  get(key: string): Promise<T> | undefined {
    return this.#flights.get(key)
  }

  has(key: string): boolean {
    return this.#flights.has(key)
  }

  /**
   * Runs `load` unless a load for `key` is already in flight, and returns the shared promise; never
   * throws (what `load` throws synchronously rejects it).
   */
  do(key: string, load: () => Promise<T>): Promise<T> {
    const existing = this.#flights.get(key)
    if (existing !== undefined) return existing
    let flight: Promise<T>
    try {
      flight = load()
    } catch (error) {
      // A load that throws before returning its promise fails like one that rejects: the caller
      // awaits a promise, and a synchronous throw escaped `do` (and any `.catch` chained to it).
      flight = Promise.reject(error)
    }
    return this.track(key, flight)
  }

  /** Registers `flight` as the load for `key` until it settles. */
  track(key: string, flight: Promise<T>): Promise<T> {
    this.#flights.set(key, flight)
    const forget = () => {
      if (this.#flights.get(key) === flight) this.#flights.delete(key)
    }
    flight.then(forget, forget)
    return flight
  }

  /** Detaches the in-flight load for `key` (it still completes for those already waiting). */
  forget(key: string): void {
    this.#flights.delete(key)
  }

  get size(): number {
    return this.#flights.size
  }
}
