/**
 * Redis glob patterns (as in SCAN MATCH) as a RegExp, so the L1 and in-memory tiers delete exactly
 * what Redis would: `*` any run, `?` one character, `[abc]`, `[^a]`, `[a-z]` classes (a reversed
 * range `[z-a]` is `[a-z]`, as in Redis), `\x` the literal x. Anything else is literal.
 *
 * Matching takes linear time in the key for a given pattern: a plain translation (`*` as
 * `[\s\S]*`) backtracks exponentially in the number of stars — `*a*a*a*a*a*a*b` took 225 ms on a
 * 40-character key, and a forged bus pattern would block every instance's event loop for minutes.
 * Here the segments between stars are fixed-length, so the leftmost occurrence of each is the
 * right one (matching it earlier only leaves more key for the rest): each is found once, inside a
 * lookahead (which never backtracks once it has matched) captured and consumed by a backreference.
 * Only the last segment, anchored at the end, is searched by the usual backtracking, once.
 */
export function globToRegExp(pattern: string): RegExp {
  // The fixed-length runs between stars, each as regex source.
  const segments: string[] = []
  let segment = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string
    if (c === '*') {
      segments.push(segment)
      segment = ''
    } else if (c === '?') segment += ANY
    else if (c === '\\' && i + 1 < pattern.length) segment += escapeRegExp(pattern[++i] as string)
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end < 0) {
        segment += '\\['
        continue
      }
      segment += characterClass(pattern.slice(i + 1, end))
      i = end
    } else segment += escapeRegExp(c)
  }
  if (segments.length === 0) return new RegExp(`^${segment}$`)
  let out = `^${segments[0]}`
  let group = 0
  for (let s = 1; s < segments.length; s++) {
    const middle = segments[s] as string
    if (middle !== '') out += `(?=(${ANY}*?${middle}))\\${++group}`
  }
  return new RegExp(`${out}${ANY}*${segment}$`)
}

const ANY = '[\\s\\S]'

/** `[...]`'s body (without the brackets) as a class of explicit code-unit ranges. */
function characterClass(text: string): string {
  const negated = text.startsWith('^')
  const body = negated ? text.slice(1) : text
  const ranges: [number, number][] = []
  // The previous item, when it was a single character (so a following '-' makes it a range).
  let single = false
  for (let j = 0; j < body.length; j++) {
    const b = body[j] as string
    if (b === '-' && single && j + 1 < body.length) {
      let upper = body[++j] as string
      if (upper === '\\' && j + 1 < body.length) upper = body[++j] as string
      const lower = (ranges.pop() as [number, number])[0]
      const code = upper.charCodeAt(0)
      ranges.push(lower <= code ? [lower, code] : [code, lower])
      single = false
      continue
    }
    const c = b === '\\' && j + 1 < body.length ? (body[++j] as string) : b
    ranges.push([c.charCodeAt(0), c.charCodeAt(0)])
    single = true
  }
  if (ranges.length === 0) return negated ? ANY : '[]'
  const items = ranges.map(([lo, hi]) => (lo === hi ? unit(lo) : `${unit(lo)}-${unit(hi)}`))
  return `[${negated ? '^' : ''}${items.join('')}]`
}

function unit(code: number): string {
  return `\\u${code.toString(16).padStart(4, '0')}`
}

function escapeRegExp(c: string): string {
  return /[.*+?^${}()|[\]\\/-]/.test(c) ? `\\${c}` : c
}
