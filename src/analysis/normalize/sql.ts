import type { Access, Shape } from './access.js'

const KEYWORDS = new Set(
  (
    'select from where and or not in is null like ilike between insert into values update set delete ' +
    'order by group having limit offset join left right inner outer full cross on as distinct count ' +
    'with union all case when then else end exists returning desc asc for share nowait skip locked ' +
    'merge using upsert conflict do nothing replace truncate table only lateral any some true false'
  ).split(' '),
)

const READ_VERBS = new Set(['SELECT', 'WITH', 'SHOW', 'TABLE', 'VALUES', 'EXPLAIN'])
const WRITE_VERBS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'UPSERT', 'REPLACE', 'TRUNCATE', 'COPY'])

interface Scanned {
  signature: string
  literals: string[]
}

const isIdent = (c: number): boolean =>
  (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c > 127
const isDigit = (c: number): boolean => c >= 48 && c <= 57

/**
 * One pass over a statement: comments dropped, whitespace collapsed, keywords upper-cased, and
 * every literal — quoted strings, numbers, `$n` and `?` bind placeholders (their values from
 * `params`) — replaced by `?` and collected in order.
 */
export function scanSql(sql: string, params?: readonly string[]): Scanned {
  let out = ''
  const literals: string[] = []
  let positional = 0
  let i = 0
  const n = sql.length
  let lastSignificant = 40 // '(' : a leading '-5' is a number
  while (i < n) {
    const c = sql.charCodeAt(i)
    if (c === 32 || c === 9 || c === 10 || c === 13) {
      if (out !== '' && !out.endsWith(' ')) out += ' '
      i++
      continue
    }
    if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? n : nl
      continue
    }
    if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const close = sql.indexOf('*/', i + 2)
      i = close === -1 ? n : close + 2
      continue
    }
    if (c === 39) {
      // 'string' with '' escapes (E'…' backslash escapes are rare in logs; the quote rule still ends them).
      let value = ''
      let j = i + 1
      for (;;) {
        const q = sql.indexOf("'", j)
        if (q === -1) {
          value += sql.slice(j)
          j = n
          break
        }
        value += sql.slice(j, q)
        if (sql.charCodeAt(q + 1) === 39) {
          value += "'"
          j = q + 2
          continue
        }
        j = q + 1
        break
      }
      if (out.endsWith('E') && !isIdent(out.charCodeAt(out.length - 2))) out = out.slice(0, -1)
      out += '?'
      literals.push(value)
      lastSignificant = 63
      i = j
      continue
    }
    if (c === 34) {
      const q = sql.indexOf('"', i + 1)
      const end = q === -1 ? n : q + 1
      out += sql.slice(i, end)
      lastSignificant = 34
      i = end
      continue
    }
    const negative =
      c === 45 && isDigit(sql.charCodeAt(i + 1)) && !isIdent(lastSignificant) && lastSignificant !== 41
    if ((isDigit(c) && !isIdent(lastSignificant)) || negative) {
      let j = i + 1
      while (j < n) {
        const d = sql.charCodeAt(j)
        if (isDigit(d) || d === 46) j++
        else if ((d === 101 || d === 69) && (isDigit(sql.charCodeAt(j + 1)) || sql.charCodeAt(j + 1) === 45))
          j += 2
        else break
      }
      literals.push(sql.slice(i, j))
      out += '?'
      lastSignificant = 63
      i = j
      continue
    }
    if (c === 36 && isDigit(sql.charCodeAt(i + 1)) && !isIdent(lastSignificant)) {
      let j = i + 1
      while (j < n && isDigit(sql.charCodeAt(j))) j++
      const index = Number(sql.slice(i + 1, j)) - 1
      literals.push(params?.[index] ?? sql.slice(i, j))
      out += '?'
      lastSignificant = 63
      i = j
      continue
    }
    if (c === 63) {
      literals.push(params?.[positional] ?? '?')
      positional++
      out += '?'
      lastSignificant = 63
      i++
      continue
    }
    if (isIdent(c)) {
      let j = i + 1
      while (j < n && isIdent(sql.charCodeAt(j))) j++
      const word = sql.slice(i, j)
      out += KEYWORDS.has(word.toLowerCase()) ? word.toUpperCase() : word
      lastSignificant = sql.charCodeAt(j - 1)
      i = j
      continue
    }
    // Operators and punctuation: spaces around '=' '<' '>' ',' normalised so that `id=1` and `id = 1` agree.
    if (c === 44) {
      if (out.endsWith(' ')) out = out.slice(0, -1)
      out += ', '
    } else if (c === 61 || c === 60 || c === 62 || c === 33) {
      let j = i + 1
      while (j < n && '=<>!'.includes(sql[j] as string)) j++
      if (out !== '' && !out.endsWith(' ')) out += ' '
      out += `${sql.slice(i, j)} `
      lastSignificant = c
      i = j
      continue
    } else if (c === 41 && out.endsWith(' ')) out = `${out.slice(0, -1)})`
    else if (c === 40 && out.endsWith('( ')) out = `${out.slice(0, -1)}(`
    else out += sql[i] as string
    lastSignificant = c
    i++
  }
  let signature = out.trim().replace(/ {2,}/g, ' ').replace(/\( /g, '(').replace(/;$/, '').trimEnd()
  // IN lists and multi-row VALUES of any length are one shape.
  signature = signature.replace(/\bIN \(\?(?:, \?)+\)/g, 'IN (?)')
  signature = signature.replace(/\bVALUES (\(\?(?:, \?)*\))(?:, \(\?(?:, \?)*\))+/g, 'VALUES $1')
  return { signature, literals }
}

const TABLE = '((?:"[^"]+"|[\\w$]+)(?:\\.(?:"[^"]+"|[\\w$]+))?)'
const FROM = new RegExp(`\\bFROM (?:ONLY )?${TABLE}`)
const INSERT = new RegExp(`^(?:INSERT|UPSERT|REPLACE) INTO ${TABLE}`)
const UPDATE = new RegExp(`^UPDATE (?:ONLY )?${TABLE}`)
const DELETE = new RegExp(`^DELETE FROM (?:ONLY )?${TABLE}`)
const MERGE = new RegExp(`^MERGE INTO ${TABLE}`)
const TRUNCATE = new RegExp(`^TRUNCATE (?:TABLE )?${TABLE}`)
/** An equality on a primary-key-like column: the access is about one entity. */
const ENTITY = /\bWHERE (?:[\w"]+\.)?"?(id|uuid|pk|key|slug|code)"? = \?/i
const COUNTER = /\bSET "?(\w+)"? = "?(\w+)"? [+-] \?/

function tableName(raw: string | undefined): string {
  if (raw === undefined) return '(unknown)'
  const last = raw.split('.').pop() ?? raw
  return last.replace(/"/g, '').toLowerCase()
}

/** The index of the literal behind the `?` at `offset` in `signature`. */
function literalIndexAt(signature: string, offset: number): number {
  let count = 0
  for (let i = 0; i < offset; i++) if (signature.charCodeAt(i) === 63) count++
  return count
}

/**
 * A SQL statement → its signature (literals as `?`), the table it reads or changes, the entity
 * when the WHERE clause pins a primary-key-like column, and its shape. `verb` may force read/write.
 */
export function normalizeSql(sql: string, params?: readonly string[]): Access {
  const { signature, literals } = scanSql(sql, params)
  const verb = /^\(?\s*(\w+)/.exec(signature)?.[1]?.toUpperCase() ?? ''
  const op = READ_VERBS.has(verb) ? 'read' : WRITE_VERBS.has(verb) ? 'write' : 'other'
  let table: string | undefined
  if (op === 'read') table = FROM.exec(signature)?.[1]
  else if (verb === 'INSERT' || verb === 'UPSERT' || verb === 'REPLACE') table = INSERT.exec(signature)?.[1]
  else if (verb === 'UPDATE') table = UPDATE.exec(signature)?.[1]
  else if (verb === 'DELETE') table = DELETE.exec(signature)?.[1]
  else if (verb === 'MERGE') table = MERGE.exec(signature)?.[1]
  else if (verb === 'TRUNCATE') table = TRUNCATE.exec(signature)?.[1]
  const type = op === 'other' ? '(control)' : tableName(table)
  let entity = ''
  const e = ENTITY.exec(signature)
  if (e !== null && verb !== 'INSERT') {
    const at = e.index + e[0].length - 1
    entity = literals[literalIndexAt(signature, at)] ?? ''
  }
  let shape: Shape = entity === '' ? 'list' : 'entity'
  if (op === 'write' && verb === 'UPDATE') {
    const c = COUNTER.exec(signature)
    if (c !== null && c[1] === c[2]) shape = 'counter'
  }
  const key = literals.length === 0 ? signature : `${signature}\u0001${literals.join('\u0001')}`
  return { op, signature, type, key, entity, shape }
}
