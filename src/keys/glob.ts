/**
 * Redis glob patterns (as in SCAN MATCH) as a RegExp, so the L1 and in-memory tiers delete exactly
 * what Redis would: `*` any run, `?` one character, `[abc]`, `[^a]`, `[a-z]` classes, `\x` the
 * literal x. Anything else is literal.
 */
export function globToRegExp(pattern: string): RegExp {
  let out = '^'
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string
    if (c === '*') out += '[\\s\\S]*'
    else if (c === '?') out += '[\\s\\S]'
    else if (c === '\\' && i + 1 < pattern.length) out += escapeRegExp(pattern[++i] as string)
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end < 0) {
        out += '\\['
        continue
      }
      let body = pattern.slice(i + 1, end)
      const negated = body.startsWith('^')
      if (negated) body = body.slice(1)
      let cls = ''
      for (let j = 0; j < body.length; j++) {
        const b = body[j] as string
        if (b === '\\' && j + 1 < body.length) cls += escapeClass(body[++j] as string)
        else if (b === '-' && j > 0 && j + 1 < body.length) cls += '-'
        else cls += escapeClass(b)
      }
      out += `[${negated ? '^' : ''}${cls}]`
      i = end
    } else out += escapeRegExp(c)
  }
  return new RegExp(`${out}$`)
}

function escapeRegExp(c: string): string {
  return /[.*+?^${}()|[\]\\/-]/.test(c) ? `\\${c}` : c
}

function escapeClass(c: string): string {
  return /[\]\\^-]/.test(c) ? `\\${c}` : c
}
