import { type EventSink, type LineReader, newRawEvent, resetRawEvent } from '../event.js'
import { type FieldMap, fillEvent, kindOf, resolveFields } from './fields.js'
import { anyTimeParser } from './time.js'

/**
 * JSON lines: one object per line. Fields are found by name (FIELD_CANDIDATES in fields.ts:
 * `ts`/`time`/`timestamp`, `key`, `url`/`path`, `query`/`sql`, `method`, `op`, `duration_ms`,
 * `bytes`…) or named with `--fields` (dotted paths reach into nested objects: `http.path`). A line
 * that is not a JSON object, or lacks the text field, is malformed.
 */
export function jsonlReader(map: FieldMap = {}): LineReader {
  const event = newRawEvent()
  const parseTime = anyTimeParser()
  let record: Record<string, unknown> = {}
  const get = (name: string): unknown => {
    if (Object.hasOwn(record, name)) return record[name]
    if (!name.includes('.')) return undefined
    let value: unknown = record
    for (const part of name.split('.')) {
      if (value === null || typeof value !== 'object' || !Object.hasOwn(value, part)) return undefined
      value = (value as Record<string, unknown>)[part]
    }
    return value
  }
  return {
    format: 'jsonl',
    line(line: string, lineNumber: number, sink: EventSink): void {
      if (line.trim() === '') {
        sink.skipped(lineNumber)
        return
      }
      let parsed: unknown
      try {
        parsed = JSON.parse(line)
      } catch {
        sink.malformed(lineNumber, 'not JSON', line)
        return
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        sink.malformed(lineNumber, 'not a JSON object', line)
        return
      }
      record = parsed as Record<string, unknown>
      // Resolved per record: JSON logs mix shapes (an access log line beside a SQL line).
      const fields = resolveFields(topLevelAndDotted(record, map), map)
      const text = kindOf(fields)
      if (text === undefined) {
        sink.malformed(lineNumber, 'no url, query or key field', line)
        return
      }
      resetRawEvent(event, lineNumber)
      const problem = fillEvent(event, fields, text, get, parseTime)
      if (problem !== undefined) sink.malformed(lineNumber, problem, line)
      else sink.event(event)
    },
    end(): void {},
  }
}

/** The record's own names, plus the dotted names the map asks for when they resolve. */
function topLevelAndDotted(record: Record<string, unknown>, map: FieldMap): string[] {
  const names = Object.keys(record)
  for (const value of Object.values(map))
    if (typeof value === 'string' && value.includes('.')) names.push(value)
  return names
}
