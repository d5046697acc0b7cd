import type { FactoryContext } from './options.js'

/** The factory's view of the entry it loads; records what the factory changed or decided. */
export class EntryContext<T> implements FactoryContext<T> {
  readonly key: string
  readonly signal: AbortSignal
  readonly stale: { readonly value: T; readonly ageMs: number } | undefined
  tags: readonly string[]
  skipped = false
  failed = false
  failure: unknown
  ttlChanged = false
  #ttl: number

  constructor(
    key: string,
    ttl: number,
    tags: readonly string[],
    signal: AbortSignal,
    stale: { readonly value: T; readonly ageMs: number } | undefined,
  ) {
    this.key = key
    this.#ttl = ttl
    this.tags = tags
    this.signal = signal
    this.stale = stale
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
