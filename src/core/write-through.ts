import { InvalidOptionError } from '../errors.js'
import { refuseUnknownCallOptions } from './option-names.js'
import type { EntryOptions, WriteThroughOptions } from './options.js'
import type { WriteLease } from './writer.js'

/** writeThrough's options checked (its entry options are the set's, checked by the writer). */
export function writeThroughParts<T>(options: WriteThroughOptions<T>): {
  key: string
  value: T
  write: () => unknown
  entry: EntryOptions
} {
  if (typeof options !== 'object' || options === null || typeof options.write !== 'function') {
    throw new InvalidOptionError('writeThrough expects { key, value, write: (value) => Promise }.')
  }
  refuseUnknownCallOptions(options, 'writeThrough')
  const { key, value, write, ...entry } = options
  if (value === undefined) {
    throw new InvalidOptionError(
      'writeThrough: undefined is never cached; pass the value the write stores (or null), or call delete(key) to remove an entry.',
    )
  }
  return { key, value, write: () => write.call(options, value), entry }
}

/** One write-through of a key in this process, until its database write answered. */
interface InFlight {
  /** Another write-through of the key ran its database write at the same time. */
  overlapped: boolean
}

/**
 * Write-through (the database first, then the cache) when writes of one key overlap. Two writes
 * whose database calls overlap commit in an order their answers do not tell (a pool answers
 * out of order), so caching whichever answered last can leave the cache holding the value the
 * database replaced, until its TTL. Such a write deletes the key instead (the next read loads
 * what the database kept):
 * - in this process, when another write-through of the key was in flight during its database call;
 * - across processes, when its cache write is refused: the L2 holds something written or
 *   deleted since it started (the {@link WriteLease}; the entry it writes is dated when it is
 *   written, so a write-through that overlapped it and writes later is refused in turn).
 * A write-through that overlapped nothing costs what a `set` costs.
 */
export class WriteThroughs {
  readonly #inFlight = new Map<string, Set<InFlight>>()
  readonly #stamp: () => number

  constructor(stamp: () => number) {
    this.#stamp = stamp
  }

  /** Runs `write`, then `set` with a lease from before it, or `remove` if the write overlapped another. */
  async run(
    key: string,
    write: () => unknown,
    set: (lease: WriteLease) => Promise<void>,
    remove: () => Promise<void>,
  ): Promise<void> {
    const mine: InFlight = { overlapped: false }
    const running = this.#inFlight.get(key) ?? new Set<InFlight>()
    this.#inFlight.set(key, running)
    for (const other of running) {
      other.overlapped = true
      mine.overlapped = true
    }
    running.add(mine)
    const lease: WriteLease = { from: this.#stamp(), refused: false }
    try {
      await write()
    } finally {
      // Answered: a write-through of the key that starts from now on commits after this one.
      running.delete(mine)
      if (running.size === 0 && this.#inFlight.get(key) === running) this.#inFlight.delete(key)
    }
    if (mine.overlapped) return remove()
    await set(lease)
    if (lease.refused) await remove()
  }

  /** Keys with a write-through in flight (for tests and leaks: empty when all settled). */
  get size(): number {
    return this.#inFlight.size
  }
}
