import { type EventSink, type LineReader, newRawEvent, resetRawEvent } from '../event.js'
import { isoTimeParser } from './time.js'

/**
 * PostgreSQL server logs (stderr format) with `log_min_duration_statement` (`duration: … ms
 * statement: …`, or `execute <name>:` for the extended protocol) or `log_statement = 'all'`
 * (`statement: …`, with `log_duration`'s bare `duration: … ms` attached to it). The
 * `log_line_prefix` may be anything that starts with the time (`%m` or `%t`) and holds `[%p]`.
 *
 *   2024-05-02 10:00:01.123 UTC [4242] LOG:  duration: 0.412 ms  statement: SELECT * FROM users WHERE id = 42
 *   2024-05-02 10:00:01.200 UTC [4242] DETAIL:  parameters: $1 = '42'
 *
 * Continuation lines (a multi-line statement) start with a tab; they are joined to the statement.
 * `parse` / `bind` lines are skipped (their `execute` is the access); ERROR, checkpoints and every
 * other message are skipped, not malformed.
 */
const HEADER =
  /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?(?: (?:[A-Z]{2,5}|[+-]\d{2}(?::?\d{2})?))?)?(.*?)\b(LOG|ERROR|WARNING|FATAL|PANIC|DETAIL|HINT|STATEMENT|CONTEXT|NOTICE|INFO|DEBUG[1-5]?|QUERY|LOCATION): {2}(.*)$/
const PID = /\[(\d+)\]/
const DURATION =
  /^duration: (\d+(?:\.\d+)?) ms(?:\s+(statement|execute [^:]*|parse [^:]*|bind [^:]*): (.*))?$/
const STATEMENT = /^(statement|execute [^:]*): (.*)$/
const PARAM = /\$(\d+) = (NULL|'((?:[^']|'')*)')/g

interface Pending {
  line: number
  time: number
  pid: string
  text: string
  durationMs: number
  params: string[] | undefined
}

export function postgresReader(): LineReader {
  const event = newRawEvent()
  event.kind = 'sql'
  const parseTime = isoTimeParser()
  let pending: Pending | undefined
  /** Whether continuation lines extend `pending` (they follow its header directly). */
  let continuing = false

  const flush = (sink: EventSink): void => {
    if (pending === undefined) return
    resetRawEvent(event, pending.line)
    event.time = pending.time
    event.text = pending.text
    event.durationMs = pending.durationMs
    event.params = pending.params
    pending = undefined
    sink.event(event)
  }

  return {
    format: 'postgres',
    line(text: string, lineNumber: number, sink: EventSink): void {
      if (text === '') {
        sink.skipped(lineNumber)
        return
      }
      const first = text.charCodeAt(0)
      if (first === 9 || first === 32) {
        if (continuing && pending !== undefined) pending.text += ` ${text.trim()}`
        else sink.skipped(lineNumber)
        return
      }
      const m = HEADER.exec(text)
      if (m === null) {
        continuing = false
        sink.malformed(lineNumber, 'not a PostgreSQL log line', text)
        return
      }
      continuing = false
      const level = m[3] as string
      const message = m[4] as string
      const pid = PID.exec(m[2] as string)?.[1] ?? ''
      const time = m[1] === undefined ? Number.NaN : parseTime(m[1])
      if (level === 'DETAIL') {
        const params = message.startsWith('parameters: ') ? parseParams(message) : undefined
        if (params !== undefined && pending !== undefined && pending.pid === pid) pending.params = params
        else sink.skipped(lineNumber)
        return
      }
      if (level !== 'LOG') {
        sink.skipped(lineNumber)
        return
      }
      let durationMs = Number.NaN
      let kind: string | undefined
      let sql: string | undefined
      const d = DURATION.exec(message)
      if (d !== null) {
        durationMs = Number(d[1])
        kind = d[2]
        sql = d[3]
        if (kind === undefined) {
          // log_duration after log_statement: the time of the statement logged before.
          if (pending !== undefined && pending.pid === pid && Number.isNaN(pending.durationMs)) {
            pending.durationMs = durationMs
          } else sink.skipped(lineNumber)
          return
        }
      } else {
        const s = STATEMENT.exec(message)
        if (s === null) {
          sink.skipped(lineNumber)
          return
        }
        kind = s[1]
        sql = s[2]
      }
      if (kind === undefined || kind.startsWith('parse') || kind.startsWith('bind')) {
        sink.skipped(lineNumber)
        return
      }
      flush(sink)
      pending = { line: lineNumber, time, pid, text: (sql ?? '').trim(), durationMs, params: undefined }
      continuing = true
    },
    end(sink: EventSink): void {
      flush(sink)
    },
  }
}

function parseParams(message: string): string[] {
  const params: string[] = []
  for (const m of message.matchAll(PARAM)) {
    const index = Number(m[1]) - 1
    params[index] = m[2] === 'NULL' ? 'NULL' : (m[3] as string).replace(/''/g, "'")
  }
  for (let i = 0; i < params.length; i++) if (params[i] === undefined) params[i] = ''
  return params
}
