import { SingleFlight } from '../coordination/single-flight.js'
import type { TierLabel } from '../observability/types.js'

/** What a read answers: the value and the tier it came from (for latency by tier and tracing). */
export interface Loaded {
  readonly value: unknown
  readonly tier: TierLabel
}

/** An in-flight load, as writes and deletes see it. */
export interface LoadToken {
  overtaken: boolean
  readonly startedAt: number
}

/** A plain L2 read in flight (see {@link Flights.startRead}): its key, and its place in the list. */
interface ReadToken extends LoadToken {
  readonly key: string
  at: number
}

/**
 * Loads in flight, one per key (however many callers ask), and what overtook them: a write or
 * delete of the key after a load started means the load's (older) result must not be stored.
 * L2 reads in flight are tracked the same way: a reply that comes back after the bus (or the
 * tracking connection) announced a change of its key is not kept in the L1.
 */
export class Flights {
  readonly #flights = new SingleFlight<Loaded>()
  readonly #tokens = new Map<string, LoadToken>()
  /**
   * L2 reads in flight whose reply the L1 would keep, in no order; gone once they settle. A list,
   * not a map by key: reads outnumber changes, and a map paid an insertion and a deletion of a
   * fresh key per read (5–10% of a get miss's CPU) where a change now scans the few reads in flight.
   */
  readonly #reads: ReadToken[] = []
  readonly #stamp: () => number

  constructor(stamp: () => number) {
    this.#stamp = stamp
  }

  get size(): number {
    return this.#flights.size
  }

  get(key: string): Promise<Loaded> | undefined {
    return this.#flights.get(key)
  }

  has(key: string): boolean {
    return this.#flights.has(key)
  }

  /** The token of the load of `key` in flight, if any. */
  tokenOf(key: string): LoadToken | undefined {
    return this.#tokens.get(key)
  }

  /**
   * Registers a load as the key's flight, with a token that a later write or delete can mark
   * overtaken. Never throws: what `start` throws synchronously rejects the flight.
   */
  track(key: string, start: (token: LoadToken) => Promise<Loaded>): Promise<Loaded> {
    const token: LoadToken = { overtaken: false, startedAt: this.#stamp() }
    this.#tokens.set(key, token)
    let started: Promise<Loaded>
    try {
      started = start(token)
    } catch (error) {
      // Thrown before a promise existed, the token would stay registered with no flight to
      // settle and remove it: the key's entry leaked, and writes kept "overtaking" a dead load.
      // As a rejected flight it settles, and is cleaned up, like a load that rejects.
      started = Promise.reject(error)
    }
    const flight = this.#flights.track(key, started)
    const done = () => {
      if (this.#tokens.get(key) === token) this.#tokens.delete(key)
    }
    flight.then(done, done)
    return flight
  }

  /**
   * An L2 read of `key` starts; its reply may be kept in the L1 only if the token is not overtaken
   * by then. Call {@link endRead} once it settles.
   */
  startRead(key: string): LoadToken {
    const reads = this.#reads
    const token: ReadToken = { overtaken: false, startedAt: this.#stamp(), key, at: reads.length }
    reads.push(token)
    return token
  }

  endRead(token: LoadToken): void {
    const reads = this.#reads
    const { at } = token as ReadToken
    if (reads[at] !== token) return
    // Swap-remove: the last read takes its place.
    const last = reads.pop() as ReadToken
    if (last !== token) {
      reads[at] = last
      last.at = at
    }
  }

  /**
   * A write or delete of `key` happened (at `at`, for one heard on the bus): an in-flight load of
   * it that started before must not store its (older) result. One that started after read the new
   * data and stays.
   */
  overtake(key: string, at = Number.POSITIVE_INFINITY): void {
    this.#overtakeLoad(key, at)
    for (const read of this.#reads) if (read.key === key && read.startedAt <= at) read.overtaken = true
  }

  #overtakeLoad(key: string, at: number): void {
    const token = this.#tokens.get(key)
    if (token !== undefined && token.startedAt <= at) {
      token.overtaken = true
      this.#tokens.delete(key)
      this.#flights.forget(key)
    }
  }

  /** Every load in flight (whose key matches `match`) is overtaken by a change at `at`. */
  overtakeAll(at = Number.POSITIVE_INFINITY, match?: RegExp): void {
    for (const key of [...this.#tokens.keys()])
      if (match === undefined || match.test(key)) this.#overtakeLoad(key, at)
    for (const read of this.#reads)
      if (read.startedAt <= at && (match === undefined || match.test(read.key))) read.overtaken = true
  }
}
