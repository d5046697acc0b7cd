/**
 * A copy of `text` that does not keep its parent alive. Lines are slices of a decoded 1 MiB chunk,
 * and V8 represents a slice as a view on its parent: one slice kept in a long-lived structure (a
 * profiler entry, the memo, a top-key list) would retain the whole chunk — with thousands kept,
 * gigabytes. Concatenation then slicing forces a flat copy of just these characters.
 */
export function detach(text: string): string {
  return ` ${text}`.slice(1)
}
