import { type EventSink, type LineReader, newRawEvent, resetRawEvent } from '../event.js'

/**
 * A plain trace: one cache key per line, every line a read, no time (intervals and change rates
 * are then unknown and the report says so). Blank lines are skipped.
 */
export function keysReader(): LineReader {
  const event = newRawEvent()
  event.kind = 'key'
  return {
    format: 'keys',
    line(text: string, lineNumber: number, sink: EventSink): void {
      const key = text.trim()
      if (key === '') {
        sink.skipped(lineNumber)
        return
      }
      resetRawEvent(event, lineNumber)
      event.text = key
      event.op = 'read'
      sink.event(event)
    },
    end(): void {},
  }
}
