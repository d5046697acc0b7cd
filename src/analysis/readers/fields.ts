import type { EventKind, Operation, RawEvent } from '../event.js'
import type { anyTimeParser } from './time.js'

/** Which field (CSV column, JSON property — dotted paths reach into objects) holds what. */
export interface FieldMap {
  readonly time?: string
  /** A cache key (→ key normalisation). */
  readonly key?: string
  /** A URL or path (→ route normalisation). */
  readonly url?: string
  /** A SQL statement or an already normalised query signature (→ SQL normalisation). */
  readonly query?: string
  /** Bind values for a signature's `?` / `$n` placeholders, separated by `|`. */
  readonly params?: string
  /** HTTP method or Redis command. */
  readonly method?: string
  /** `read` / `write` (also r/w, get/set, select/insert…). */
  readonly op?: string
  readonly duration?: string
  readonly size?: string
  /** Unit of `duration`: `ms` (default), `s` or `us`. */
  readonly durationUnit?: 'ms' | 's' | 'us'
}

export type FieldName = Exclude<keyof FieldMap, 'durationUnit'>
export const FIELD_NAMES: readonly FieldName[] = [
  'time',
  'key',
  'url',
  'query',
  'params',
  'method',
  'op',
  'duration',
  'size',
]

/** Names tried, in order, for each field when the user names none (case-insensitive). */
export const FIELD_CANDIDATES: Readonly<Record<FieldName, readonly string[]>> = {
  time: ['timestamp', 'time', 'ts', '@timestamp', 'date', 'datetime'],
  key: ['key', 'cache_key', 'cachekey'],
  url: ['url', 'path', 'uri', 'request_uri', 'route'],
  query: ['query_signature', 'query', 'sql', 'statement', 'signature'],
  params: ['params', 'parameters', 'args', 'bind'],
  method: ['method', 'http_method', 'verb', 'command', 'cmd'],
  op: ['operation', 'op', 'action', 'access', 'type', 'kind'],
  duration: ['duration_ms', 'latency_ms', 'elapsed_ms', 'time_ms', 'duration', 'latency', 'request_time'],
  size: ['bytes', 'size', 'size_bytes', 'body_bytes_sent', 'response_size', 'value_size', 'rows'],
}

const SECONDS_FIELDS = new Set(['request_time'])

/**
 * `time=ts,key=k,duration=latency:s` → a FieldMap. Throws a RangeError naming the bad part.
 */
export function parseFieldMap(text: string): FieldMap {
  const map: Record<string, string> = {}
  for (const part of text.split(',')) {
    const trimmed = part.trim()
    if (trimmed === '') continue
    const eq = trimmed.indexOf('=')
    const name = eq === -1 ? '' : trimmed.slice(0, eq).trim()
    const value = eq === -1 ? '' : trimmed.slice(eq + 1).trim()
    if (!(FIELD_NAMES as readonly string[]).includes(name) || value === '') {
      throw new RangeError(
        `'${trimmed}' is not FIELD=NAME with FIELD one of ${FIELD_NAMES.join(', ')} (e.g. time=ts,url=path,duration=latency:s).`,
      )
    }
    if (name === 'duration') {
      const unit = /:(ms|s|us)$/.exec(value)
      if (unit !== null) {
        map.durationUnit = unit[1] as string
        map.duration = value.slice(0, -unit[0].length)
        continue
      }
    }
    map[name] = value
  }
  return map as FieldMap
}

/** `GET`, `select`, `r`… → read; `POST`, `update`, `w`… → write; '' when unknown. */
export function opFromText(text: string): Operation | '' {
  const t = text.trim().toLowerCase()
  if (/^(r|read|get|head|select|query|fetch|hit|miss|lookup|load)$/.test(t)) return 'read'
  if (/^(w|write|set|put|post|patch|delete|del|insert|update|upsert|invalidate|incr|increment)$/.test(t))
    return 'write'
  return ''
}

/** The fields found, resolved: for each FieldName the actual name (exact casing) or undefined. */
export type ResolvedFields = Partial<Record<FieldName, string>> & { durationUnit: 'ms' | 's' | 'us' }

/** Resolves the user's map (or the candidates) against the names a file actually has. */
export function resolveFields(available: readonly string[], map: FieldMap): ResolvedFields {
  const byLower = new Map(available.map((name) => [name.toLowerCase(), name]))
  const resolved: ResolvedFields = { durationUnit: map.durationUnit ?? 'ms' }
  for (const field of FIELD_NAMES) {
    const wanted = map[field]
    if (wanted !== undefined) {
      resolved[field] = byLower.get(wanted.toLowerCase()) ?? wanted
      continue
    }
    for (const candidate of FIELD_CANDIDATES[field]) {
      const found = byLower.get(candidate)
      if (found !== undefined) {
        resolved[field] = found
        if (field === 'duration' && map.durationUnit === undefined && SECONDS_FIELDS.has(candidate))
          resolved.durationUnit = 's'
        break
      }
    }
  }
  return resolved
}

/** What a record's text field is, from which field was found: query > url > key. */
export function kindOf(fields: ResolvedFields): { kind: EventKind; field: string } | undefined {
  if (fields.query !== undefined) return { kind: 'sql', field: fields.query }
  if (fields.url !== undefined) return { kind: 'http', field: fields.url }
  if (fields.key !== undefined) return { kind: 'key', field: fields.key }
  return undefined
}

const UNIT_MS = { ms: 1, s: 1000, us: 0.001 } as const

/**
 * Fills `event` from a record (`get(name)` returns a field's value). Returns a reason when the
 * record cannot be used, else undefined.
 */
export function fillEvent(
  event: RawEvent,
  fields: ResolvedFields,
  text: { kind: EventKind; field: string },
  get: (name: string) => unknown,
  parseTime: ReturnType<typeof anyTimeParser>,
): string | undefined {
  const value = get(text.field)
  if (typeof value !== 'string' && typeof value !== 'number') return `no '${text.field}' field`
  event.kind = text.kind
  event.text = String(value)
  if (event.text.trim() === '') return `empty '${text.field}' field`
  if (fields.time !== undefined) {
    event.time = parseTime(get(fields.time))
    if (Number.isNaN(event.time)) return `bad '${fields.time}' timestamp`
  }
  if (fields.method !== undefined) {
    const method = get(fields.method)
    if (typeof method === 'string') event.verb = method.toUpperCase()
  }
  if (fields.op !== undefined) {
    const op = get(fields.op)
    if (typeof op === 'string') event.op = opFromText(op)
  }
  if (fields.duration !== undefined) {
    const d = Number(get(fields.duration))
    event.durationMs = Number.isFinite(d) ? d * UNIT_MS[fields.durationUnit] : Number.NaN
  }
  if (fields.size !== undefined) {
    const s = Number(get(fields.size))
    event.bytes = Number.isFinite(s) ? s : Number.NaN
  }
  if (fields.params !== undefined) {
    const p = get(fields.params)
    if (typeof p === 'string' && p !== '') event.params = p.split('|')
    else if (typeof p === 'number') event.params = [String(p)]
    else if (Array.isArray(p)) event.params = p.map(String)
  }
  return undefined
}
