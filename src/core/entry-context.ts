import type { FactoryContext } from './options.js'

/** The factory's view of the entry it loads; records what the factory changed. */
export class EntryContext implements FactoryContext {
  readonly key: string
  tags: readonly string[]
  skipped = false
  ttlChanged = false
  #ttl: number

  constructor(key: string, ttl: number, tags: readonly string[]) {
    this.key = key
    this.#ttl = ttl
    this.tags = tags
  }

  get ttl(): number {
    return this.#ttl
  }

  set ttl(value: number) {
    this.#ttl = value
    this.ttlChanged = true
  }

  skipCache(): void {
    this.skipped = true
  }
}
