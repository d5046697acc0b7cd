/**
 * Recognises the parts of a path or key that are values, not names: integers, UUIDs, hex hashes,
 * long random tokens, dates. Returns the placeholder, or undefined for a literal segment.
 */
const INTEGER = /^-?\d+$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const HEX = /^(?:0x)?[0-9a-f]{12,}$/i
const DATE = /^\d{4}-\d{2}-\d{2}(?:T[\d:.]+Z?)?$/
const TOKEN = /^[A-Za-z0-9_-]{16,}$/
const WORD_NUMBER = /^([A-Za-z][A-Za-z_-]*?)[_-]?(\d+)$/

export function placeholderFor(segment: string): string | undefined {
  const length = segment.length
  if (length === 0) return undefined
  // Fast paths for the common cases: all digits, or a short word (no value pattern is that short).
  let digits = true
  for (let i = 0; i < length; i++) {
    const c = segment.charCodeAt(i)
    if (c < 48 || c > 57) {
      digits = false
      break
    }
  }
  if (digits) return ':id'
  if (length < 10) return INTEGER.test(segment) ? ':id' : undefined
  if (UUID.test(segment)) return ':uuid'
  if (HEX.test(segment) && /\d/.test(segment)) return ':hash'
  if (DATE.test(segment)) return ':date'
  // A long token mixing letters and digits (base64 ids, session ids), not a long word.
  if (TOKEN.test(segment) && /\d/.test(segment) && /[A-Za-z]/.test(segment)) return ':token'
  return undefined
}

/** `item42` → `item:n` style placeholders inside key segments (trace keys often look like that). */
export function wordNumber(segment: string): string | undefined {
  const m = WORD_NUMBER.exec(segment)
  return m === null ? undefined : `${m[1]}{n}`
}
