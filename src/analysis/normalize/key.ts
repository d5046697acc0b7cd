import type { Access } from './access.js'
import { placeholderFor, wordNumber } from './placeholders.js'

const COUNTER_COMMANDS = new Set([
  'INCR',
  'INCRBY',
  'INCRBYFLOAT',
  'DECR',
  'DECRBY',
  'HINCRBY',
  'HINCRBYFLOAT',
  'ZINCRBY',
  'PFADD',
])

/**
 * A cache key → its pattern (`user:{id}:profile`): split on `:` (or `/`, or `.` when it has
 * neither), ids, uuids, hashes and `word123` segments become placeholders. The pattern is both the
 * signature and the data type: in a key-value store the key is the entity, so writes to a key are
 * attributed to the pattern it belongs to, and the entity is the key itself.
 */
export function normalizeKey(key: string, op: 'read' | 'write' | 'other', verb = ''): Access {
  const separator = key.includes(':') ? ':' : key.includes('/') ? '/' : key.includes('.') ? '.' : ''
  const parts = separator === '' ? [key] : key.split(separator)
  const pattern = parts
    .map((part) => {
      const placeholder = placeholderFor(part)
      if (placeholder !== undefined) return `{${placeholder.slice(1)}}`
      return wordNumber(part) ?? part
    })
    .join(separator)
  return {
    op,
    signature: pattern,
    type: pattern,
    key,
    entity: key,
    shape: COUNTER_COMMANDS.has(verb) ? 'counter' : 'entity',
  }
}
