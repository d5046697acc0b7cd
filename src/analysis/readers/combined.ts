import { type EventSink, type LineReader, newRawEvent, resetRawEvent } from '../event.js'
import { clfTimeParser } from './time.js'

/**
 * nginx / Apache access logs: the Common Log Format and the combined format (referer and user
 * agent appended), optionally followed by a request time — nginx's `$request_time` in seconds
 * (`0.012` or `rt=0.012`) or Apache's `%D` in microseconds (`us=1234`, or a bare integer).
 *
 *   127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "-" "curl/8" 0.004
 */
export const COMBINED_LINE =
  /^(\S+) (\S+) (\S+) \[([^\]]+)\] "([A-Za-z]+) ([^ "]+)(?: [^"]*)?" (\d{3}) (\d+|-)(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?(.*)$/

const TRAILING_TIME = /^\s+(?:(rt|request_time|us)=)?(\d+(?:\.\d+)?)\s*$/

export function combinedReader(): LineReader {
  const event = newRawEvent()
  event.kind = 'http'
  const parseTime = clfTimeParser()
  return {
    format: 'combined',
    line(text: string, lineNumber: number, sink: EventSink): void {
      if (text === '') {
        sink.skipped(lineNumber)
        return
      }
      const m = COMBINED_LINE.exec(text)
      if (m === null) {
        sink.malformed(lineNumber, 'not a combined/common log line', text)
        return
      }
      resetRawEvent(event, lineNumber)
      event.time = parseTime(m[4] as string)
      if (Number.isNaN(event.time)) {
        sink.malformed(lineNumber, 'bad timestamp', text)
        return
      }
      event.verb = (m[5] as string).toUpperCase()
      event.text = m[6] as string
      const bytes = m[8] as string
      event.bytes = bytes === '-' ? Number.NaN : Number(bytes)
      const tail = (m[9] ?? '') as string
      if (tail !== '') {
        const t = TRAILING_TIME.exec(tail)
        if (t !== null) {
          const value = Number(t[2])
          // A bare integer is Apache's %D (microseconds); a decimal is nginx's $request_time (seconds).
          event.durationMs =
            t[1] === 'us' || (t[1] === undefined && !(t[2] as string).includes('.'))
              ? value / 1000
              : value * 1000
        }
      }
      sink.event(event)
    },
    end(): void {},
  }
}
