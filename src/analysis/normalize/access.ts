import type { Operation } from '../event.js'

/**
 * How an access relates to the data it reads or changes:
 * - `entity`: one row / resource / key by its id (`WHERE id = ?`, `/products/:id`, `user:{id}`) —
 *   invalidated by deleting its key;
 * - `list`: a query over many rows (`WHERE category = ?`, `/products?category=`) — invalidated by
 *   tag, since any write to the type may change it;
 * - `counter`: an increment (`SET n = n + ?`, `INCR`) — write-behind territory;
 * - `static`: a file whose URL changes when it does (`app.3f9a8b7c.js`).
 */
export type Shape = 'entity' | 'list' | 'counter' | 'static'

/** An event after normalisation: what the analyser aggregates. Immutable (results are memoised). */
export interface Access {
  readonly op: Operation
  /** The normalised query / route / key pattern: literals and ids are placeholders. */
  readonly signature: string
  /** The data type: a table, an HTTP resource, a key pattern. Writes are attributed by it. */
  readonly type: string
  /** The cache key a read would use: the signature with its literal values. */
  readonly key: string
  /** The id of the one entity the access touches within its type, or '' (a list, an insert). */
  readonly entity: string
  readonly shape: Shape
}

/** An access as the {@link Normalizer} hands it out: with the hashes the analyser needs, computed once. */
export interface NormalizedAccess extends Access {
  /** hashKey(key). */
  readonly keyHash: number
  /** hashKey(entity), or 0 when there is no entity. */
  readonly entityHash: number
}
