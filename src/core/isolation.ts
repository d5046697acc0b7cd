/**
 * How the L1 keeps a value one caller got from changing what the next caller gets (F22).
 * - `freeze` (default): values are deep-frozen when stored, so reads stay zero-copy; mutating a
 *   returned object throws in strict mode. Objects freezing cannot protect (Map, Set, Date, typed
 *   arrays, class instances) make that entry clone on read instead.
 * - `clone`: every read returns a `structuredClone`.
 * - `none`: the same object every time (fastest; only for values nobody mutates).
 */
export type Isolation = 'freeze' | 'clone' | 'none'

/**
 * What a read returns: the value as the L1 holds it, read-only all the way down (arrays become
 * `readonly T[]`, object properties `readonly`), because under the default isolation it is
 * deep-frozen and mutating it throws. Copy to change it (`[...rows].sort()`, `{ ...product }`,
 * `structuredClone(value)`). Functions, and what freezing cannot protect (Map, Set, Date, typed
 * arrays, which are cloned on read instead), keep their own types.
 */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends ReadonlyMap<unknown, unknown> | ReadonlySet<unknown> | Date | ArrayBufferView | ArrayBuffer
    ? T
    : T extends readonly (infer E)[]
      ? T extends readonly [unknown, ...unknown[]] | readonly []
        ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
        : readonly DeepReadonly<E>[]
      : T extends object
        ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
        : T

/** Deep-freezes `value`; returns false when something in it cannot be protected by freezing. */
export function deepFreeze(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true
  if (Object.isFrozen(value)) return isFreezable(value) // shared subtrees are walked once
  if (!isFreezable(value)) return false
  Object.freeze(value)
  let protectedFully = true
  for (const k of Object.keys(value)) {
    if (!deepFreeze((value as Record<string, unknown>)[k])) protectedFully = false
  }
  return protectedFully
}

function isFreezable(value: object): boolean {
  if (Array.isArray(value)) return true
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}
