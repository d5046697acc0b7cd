/**
 * The last N reads (key and time) in a ring: recording is two array stores, so it can stay on the
 * hit path. Hot key groups, one-hit wonders, reuse intervals and "what size would fix this" are
 * all computed from it on demand (`snapshot()`, `diagnose()`), never per read.
 */
import { keyGroup } from './key-groups.js'
import type { KeyGroupCount } from './types.js'

const HOT_GROUP_WINDOW = 8192
const HOT_GROUPS = 20
const GROUP_MEMO_LIMIT = 16_384

export class AccessRing {
  readonly #keys: (string | undefined)[]
  readonly #times: Float64Array
  readonly #mask: number
  #next = 0
  /** Reads recorded since creation (the ring holds the last `capacity` of them). */
  total = 0
  readonly #groups = new Map<string, string>()

  /** `capacity` is rounded up to a power of two. */
  constructor(capacity: number) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(2, capacity)))
    this.#keys = new Array<string | undefined>(size)
    this.#times = new Float64Array(size)
    this.#mask = size - 1
  }

  record(key: string, now: number): void {
    const index = this.#next
    this.#keys[index] = key
    this.#times[index] = now
    this.#next = (index + 1) & this.#mask
    this.total++
  }

  get capacity(): number {
    return this.#mask + 1
  }

  /** The recorded reads, oldest first (at most `limit`, the most recent ones). */
  recent(limit = this.capacity): { keys: string[]; times: number[] } {
    const count = Math.min(limit, this.total, this.capacity)
    const keys = new Array<string>(count)
    const times = new Array<number>(count)
    let index = (this.#next - count + this.capacity) & this.#mask
    for (let i = 0; i < count; i++) {
      keys[i] = this.#keys[index] as string
      times[i] = this.#times[index] as number
      index = (index + 1) & this.#mask
    }
    return { keys, times }
  }

  /** The group of a key, memoised (bounded) because the same hot keys come back. */
  groupOf(key: string): string {
    let group = this.#groups.get(key)
    if (group === undefined) {
      if (this.#groups.size >= GROUP_MEMO_LIMIT) this.#groups.clear()
      group = keyGroup(key)
      this.#groups.set(key, group)
    }
    return group
  }

  /** The hottest key groups among the most recent reads. */
  hotGroups(limit = HOT_GROUPS): KeyGroupCount[] {
    const { keys } = this.recent(HOT_GROUP_WINDOW)
    if (keys.length === 0) return []
    const counts = new Map<string, number>()
    for (const key of keys) {
      const group = this.groupOf(key)
      counts.set(group, (counts.get(group) ?? 0) + 1)
    }
    return [...counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([group, count]) => ({ group, count, share: count / keys.length }))
  }

  clear(): void {
    this.#keys.fill(undefined)
    this.#next = 0
    this.total = 0
  }
}
