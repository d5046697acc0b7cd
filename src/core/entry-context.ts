import type { FactoryContext } from './options.js'

/** What the cache aborts when it closes (see `Lifecycle.controllers`). */
export interface Abortable {
  abort(reason?: unknown): void
}

/**
 * The factory's view of the entry it loads; records what the factory changed or decided.
 *
 * Its `signal` is made when the factory first reads it: most factories never do, and an
 * AbortController with its signal was ~2–3 µs of a cold getOrSet's CPU. An abort before that
 * (hard timeout, close) is kept and the signal is born aborted with the same reason.
 */
export class EntryContext<T> implements FactoryContext<T>, Abortable {
  readonly key: string
  readonly stale: { readonly value: T; readonly ageMs: number } | undefined
  tags: readonly string[]
  skipped = false
  failed = false
  failure: unknown
  ttlChanged = false
  #ttl: number
  #controller: AbortController | undefined = undefined
  #aborted = false
  #abortReason: unknown = undefined

  constructor(
    key: string,
    ttl: number,
    tags: readonly string[],
    stale: { readonly value: T; readonly ageMs: number } | undefined,
  ) {
    this.key = key
    this.#ttl = ttl
    this.tags = tags
    this.stale = stale
  }

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController()
      if (this.#aborted) this.#controller.abort(this.#abortReason)
    }
    return this.#controller.signal
  }

  abort(reason?: unknown): void {
    if (this.#aborted) return
    this.#aborted = true
    this.#abortReason = reason
    this.#controller?.abort(reason)
  }

  get ttl(): number {
    return this.#ttl
  }

  set ttl(value: number) {
    this.#ttl = value
    this.ttlChanged = true
  }

  skip(): void {
    this.skipped = true
  }

  skipCache(): void {
    this.skipped = true
  }

  fail(reason?: unknown): never {
    this.failed = true
    this.failure = reason
    // The factory returns this; the cache looks at `failed`, never at the value.
    return undefined as never
  }
}
