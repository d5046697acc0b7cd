/**
 * Key groups: a key with its ids replaced by placeholders (`product:42` → `product:{n}`), so that
 * hot spots and key-building mistakes show by kind of data, never by user. A group never holds a
 * number, a uuid, a hash or an e-mail address of the key it came from.
 */

const MAX_GROUP_LENGTH = 96

const RULES: readonly [RegExp, string][] = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '{uuid}'],
  [/[^\s:/?&=@]+@[^\s:/?&=]+/g, '{email}'],
  [/\b[0-9a-f]{16,}\b/gi, '{hash}'],
  [/[A-Za-z0-9_-]{24,}/g, '{token}'],
  [/\d+(?:[.,]\d+)*/g, '{n}'],
]

/** The group of `key`. */
export function keyGroup(key: string): string {
  let group = key
  for (const [pattern, placeholder] of RULES) group = group.replace(pattern, placeholder)
  return group.length > MAX_GROUP_LENGTH ? `${group.slice(0, MAX_GROUP_LENGTH)}…` : group
}

/**
 * The form two keys built for the same data by inconsistent code share: case, surrounding
 * whitespace, repeated or trailing separators and the order of query parameters do not count.
 */
export function canonicalKey(key: string): string {
  let canonical = key.trim().toLowerCase().replace(/\s+/g, ' ')
  canonical = canonical.replace(/([:/|.])\1+/g, '$1').replace(/[:/|.]+$/, '')
  const query = canonical.indexOf('?')
  if (query >= 0) {
    const params = canonical
      .slice(query + 1)
      .split('&')
      .filter((param) => param.length > 0)
      .sort()
    canonical = `${canonical.slice(0, query)}?${params.join('&')}`
  }
  return canonical
}
