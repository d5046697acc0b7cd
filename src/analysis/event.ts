/**
 * The one shape every reader produces. Readers fill a single mutable {@link RawEvent} per line and
 * hand it to the analyser synchronously (no allocation per line: a 10-million-line log is read in
 * seconds, not minutes); the analyser copies what it keeps.
 */

/** What the text of an event is, so that the right normaliser reads it. */
export type EventKind = 'sql' | 'http' | 'key'

/** `read` and `write` are analysed; `other` (BEGIN, PING, OPTIONS…) is counted and skipped. */
export type Operation = 'read' | 'write' | 'other'

export interface RawEvent {
  /** 1-based line number where the event starts (for samples and malformed-line reports). */
  line: number
  /** Milliseconds since the epoch, or NaN when the format has no time. */
  time: number
  kind: EventKind
  /** A SQL statement, a URL (path and query), or a cache key. */
  text: string
  /** HTTP method, Redis command or SQL verb when the reader knows it; '' lets the normaliser decide. */
  verb: string
  /** Forced operation ('' = infer from `verb` / the statement). */
  op: Operation | ''
  /** Origin time in milliseconds, or NaN. */
  durationMs: number
  /** Response or value size in bytes, or NaN. */
  bytes: number
  /** Bind parameters of a prepared statement (`$1` → value), or undefined. */
  params: readonly string[] | undefined
}

export function newRawEvent(): RawEvent {
  return {
    line: 0,
    time: Number.NaN,
    kind: 'key',
    text: '',
    verb: '',
    op: '',
    durationMs: Number.NaN,
    bytes: Number.NaN,
    params: undefined,
  }
}

export function resetRawEvent(event: RawEvent, line: number): RawEvent {
  event.line = line
  event.time = Number.NaN
  event.text = ''
  event.verb = ''
  event.op = ''
  event.durationMs = Number.NaN
  event.bytes = Number.NaN
  event.params = undefined
  return event
}

/** Where a reader sends what it read. */
export interface EventSink {
  event(event: RawEvent): void
  /** A line the reader could not use: `reason` is short and stable ("not a combined log line"). */
  malformed(line: number, reason: string, text: string): void
  /** A well-formed line that carries no access (a checkpoint message, a blank line, a header). */
  skipped(line: number): void
}

/**
 * A format's reader: a state machine fed one line at a time (multi-line formats such as
 * PostgreSQL's emit an event when its last line has been seen), then `end()`.
 */
export interface LineReader {
  readonly format: string
  line(text: string, lineNumber: number, sink: EventSink): void
  end(sink: EventSink): void
}
