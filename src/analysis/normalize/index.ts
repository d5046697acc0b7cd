import { detach } from '../detach.js'
import type { RawEvent } from '../event.js'
import type { Access } from './access.js'
import { normalizeKey } from './key.js'
import { normalizeSql } from './sql.js'
import { normalizeUrl } from './url.js'

export type { Access, Shape } from './access.js'
export { normalizeKey } from './key.js'
export { normalizeSql, scanSql } from './sql.js'
export { normalizeUrl } from './url.js'

const MEMO_LIMIT = 100_000

/**
 * Normalises events, memoising by (kind, verb, text): a log's hot queries and URLs repeat, so most
 * lines cost one Map lookup. The memo is dropped whenever it reaches its limit (bounded memory).
 */
export class Normalizer {
  /** One memo per (kind, verb, forced op): no key concatenation on the hot path. */
  readonly #memos = new Map<string, Map<string, Access>>()
  #size = 0
  #lookups = 0
  #hits = 0
  /** Turned off when most lookups miss (a huge key space): then the memo only costs. */
  #enabled = true

  normalize(event: RawEvent): Access {
    // Bind parameters change the key: those events are not memoised.
    if (event.params !== undefined || !this.#enabled) return this.#compute(event)
    const group = `${event.kind}${event.verb}${event.op}`
    let memo = this.#memos.get(group)
    if (memo === undefined) {
      memo = new Map()
      this.#memos.set(group, memo)
    }
    let access = memo.get(event.text)
    if (++this.#lookups === MEMO_LIMIT) {
      this.#enabled = this.#hits * 2 > this.#lookups
      if (!this.#enabled) this.#memos.clear()
    }
    if (access !== undefined) {
      this.#hits++
      return access
    }
    access = this.#compute(event)
    if (this.#size >= MEMO_LIMIT) {
      for (const m of this.#memos.values()) m.clear()
      this.#size = 0
    }
    memo.set(detach(event.text), access)
    this.#size++
    return access
  }

  #compute(event: RawEvent): Access {
    const access = this.#normalize(event)
    // Every string the analyser keeps comes from here: copy them off the chunk they were cut from.
    return {
      op: access.op,
      signature: detach(access.signature),
      type: detach(access.type),
      key: detach(access.key),
      entity: detach(access.entity),
      shape: access.shape,
    }
  }

  #normalize(event: RawEvent): Access {
    switch (event.kind) {
      case 'sql': {
        const access = normalizeSql(event.text, event.params)
        return event.op === '' || event.op === access.op ? access : { ...access, op: event.op }
      }
      case 'http': {
        const access = normalizeUrl(
          event.text,
          event.verb === '' && event.op === 'write' ? 'POST' : event.verb,
        )
        return event.op === '' || event.op === access.op ? access : { ...access, op: event.op }
      }
      case 'key':
        return normalizeKey(event.text, event.op === '' ? opOfVerb(event.verb) : event.op, event.verb)
    }
  }
}

function opOfVerb(verb: string): 'read' | 'write' {
  return /^(SET|PUT|POST|PATCH|DELETE|DEL|WRITE|W|INCR\w*|DECR\w*|H?SET\w*|UPDATE|INSERT)$/.test(verb)
    ? 'write'
    : 'read'
}
