import { hashKey } from '../../eviction/policy.js'
import { detach } from '../detach.js'
import type { EventKind, Operation, RawEvent } from '../event.js'
import type { Access, NormalizedAccess } from './access.js'
import { KeyPatterns } from './key-patterns.js'
import { normalizeSql } from './sql.js'
import { UrlNormalizer } from './url.js'
import { UrlPatterns } from './url-patterns.js'

export type { Access, NormalizedAccess, Shape } from './access.js'
export { normalizeKey, VALUE_PLACEHOLDER } from './key.js'
export { KeyPatterns } from './key-patterns.js'
export { normalizeSql, scanSql } from './sql.js'
export { normalizeUrl } from './url.js'
export { UrlPatterns } from './url-patterns.js'
export { VALUE_WORDS } from './value-positions.js'

const MEMO_LIMIT = 100_000

const KINDS: readonly EventKind[] = ['sql', 'http', 'key']
const OPS: readonly (Operation | '')[] = ['', 'read', 'write', 'other']

/**
 * Normalises events. Plain URL paths go through a {@link UrlNormalizer} (one template per route
 * skeleton); everything else is memoised by (kind, verb, text): a log's hot queries and URLs
 * repeat, so most lines cost one Map lookup. The memo is dropped whenever it reaches its limit
 * (bounded memory). Memoised strings are copies; a templated access's key and entity are slices
 * of the line (see {@link UrlNormalizer}): the structures that keep keys copy them.
 */
export class Normalizer {
  /** One memo per (kind, forced op), then per verb: no key concatenation on the hot path. */
  readonly #memos: Map<string, Map<string, NormalizedAccess>>[] = Array.from(
    { length: KINDS.length * OPS.length },
    () => new Map(),
  )
  /** URL routes, with the path positions learned to hold values (a slug in `/api/users/:v`). */
  readonly #urlPatterns = new UrlPatterns()
  readonly #urls = new UrlNormalizer(this.#urlPatterns)
  #urlsVersion = 0
  /** Key patterns, with the positions learned to hold values (a user name in `session:{v}:cart`). */
  readonly #keys = new KeyPatterns()
  #keysVersion = 0
  #size = 0
  #lookups = 0
  #hits = 0
  /** Turned off when most lookups miss (a huge key space): then the memo only costs. */
  #enabled = true

  normalize(event: RawEvent): NormalizedAccess {
    if (event.kind === 'http' && event.params === undefined) {
      const access = this.#urls.normalize(event.text, urlMethod(event))
      if (access !== undefined) {
        return event.op === '' || event.op === access.op ? access : { ...access, op: event.op }
      }
    }
    // Bind parameters change the key: those events are not memoised.
    if (event.params !== undefined || !this.#enabled) return this.#compute(event)
    const group = this.#memos[KINDS.indexOf(event.kind) * OPS.length + OPS.indexOf(event.op)] as Map<
      string,
      Map<string, NormalizedAccess>
    >
    let memo = group.get(event.verb)
    let access = memo?.get(event.text)
    if (++this.#lookups === MEMO_LIMIT) {
      this.#enabled = this.#hits * 2 > this.#lookups
      if (!this.#enabled) for (const g of this.#memos) g.clear()
    }
    if (access !== undefined) {
      this.#hits++
      return access
    }
    access = this.#compute(event)
    if (this.#urlsVersion !== this.#urlPatterns.version) {
      // The same for URLs (the URL normaliser drops its own templates).
      this.#urlsVersion = this.#urlPatterns.version
      for (const [i, g] of this.#memos.entries()) if (KINDS[Math.floor(i / OPS.length)] === 'http') g.clear()
      memo = undefined
    }
    if (this.#keysVersion !== this.#keys.version) {
      // A key position was just found to hold values: the keys memoised before have other patterns now.
      this.#keysVersion = this.#keys.version
      for (const [i, g] of this.#memos.entries()) if (KINDS[Math.floor(i / OPS.length)] === 'key') g.clear()
      memo = undefined
    }
    if (this.#size >= MEMO_LIMIT) {
      // Verbs too: a log with a column of ever-new methods or commands grew one map per verb.
      for (const g of this.#memos) g.clear()
      this.#size = 0
      memo = undefined
    }
    if (memo === undefined) {
      memo = new Map()
      group.set(detach(event.verb), memo)
      this.#size++
    }
    memo.set(detach(event.text), access)
    this.#size++
    return access
  }

  /**
   * Counts a key event's words by position without normalising it: the analyser shows it the log's
   * first events before it normalises any, so that the positions that hold values are known from the
   * start (else the first users' names would each make a group of their own).
   */
  learn(event: RawEvent): void {
    if (event.kind === 'key') this.#keys.learn(event.text)
    else if (event.kind === 'http') this.#urlPatterns.learn(event.text)
  }

  /** Memoised entries, verbs and texts (within {@link MEMO_LIMIT}): for tests and diagnostics. */
  get memoized(): number {
    let n = 0
    for (const g of this.#memos) for (const m of g.values()) n += 1 + m.size
    return n
  }

  #compute(event: RawEvent): NormalizedAccess {
    const access = this.#normalize(event)
    // Every string the analyser keeps comes from here: copy them off the chunk they were cut from.
    return withHashes({
      op: access.op,
      signature: detach(access.signature),
      type: detach(access.type),
      key: detach(access.key),
      entity: detach(access.entity),
      shape: access.shape,
    })
  }

  #normalize(event: RawEvent): Access {
    switch (event.kind) {
      case 'sql':
        return overrideOp(normalizeSql(event.text, event.params), event.op)
      case 'http':
        return overrideOp(this.#urlPatterns.normalize(event.text, urlMethod(event)), event.op)
      case 'key':
        return this.#keys.normalize(event.text, event.op === '' ? opOfVerb(event.verb) : event.op, event.verb)
    }
  }
}

function urlMethod(event: RawEvent): string {
  return event.verb === '' && event.op === 'write' ? 'POST' : event.verb
}

function overrideOp(access: Access, op: Operation | ''): Access {
  return op === '' || op === access.op ? access : { ...access, op }
}

function withHashes(access: Access): NormalizedAccess {
  return {
    op: access.op,
    signature: access.signature,
    type: access.type,
    key: access.key,
    entity: access.entity,
    shape: access.shape,
    keyHash: hashKey(access.key),
    entityHash: access.entity === '' ? 0 : hashKey(access.entity),
  }
}

function opOfVerb(verb: string): 'read' | 'write' {
  return /^(SET|PUT|POST|PATCH|DELETE|DEL|WRITE|W|INCR\w*|DECR\w*|H?SET\w*|UPDATE|INSERT)$/.test(verb)
    ? 'write'
    : 'read'
}
