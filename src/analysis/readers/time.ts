/**
 * Timestamp parsers for the log formats. Each remembers the last text it parsed: consecutive log
 * lines mostly share their second, so most lines cost one string comparison.
 */

const MONTHS: Readonly<Record<string, number>> = {
  Jan: 0,
  Feb: 1,
  Mar: 2,
  Apr: 3,
  May: 4,
  Jun: 5,
  Jul: 6,
  Aug: 7,
  Sep: 8,
  Oct: 9,
  Nov: 10,
  Dec: 11,
}

function offsetMs(zone: string): number {
  // +0200, -07:00, +02, Z, UTC, GMT; other names (CET…) are read as UTC: the analysis needs
  // intervals, which a constant offset does not change.
  const m = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone)
  if (m === null) return 0
  const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0)
  return (m[1] === '-' ? -1 : 1) * minutes * 60_000
}

/** A CLF timestamp parser; `within` reads `text.slice(start, end)` without cutting it out first. */
export interface ClfTimeParser {
  (text: string): number
  within(text: string, start: number, end: number): number
}

/** `10/Oct/2000:13:55:36 -0700` (Apache/nginx `%t` without brackets) → ms since the epoch, or NaN. */
export function clfTimeParser(): ClfTimeParser {
  let lastText = ''
  let lastValue = Number.NaN
  const parse = (text: string): number => {
    if (text === lastText) return lastValue
    const m =
      /^(\d{1,2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))? ?([+-]\d{2}:?\d{2}|Z)?$/.exec(
        text,
      )
    const month = m === null ? undefined : MONTHS[m[2] as string]
    lastText = text
    if (m === null || month === undefined) {
      lastValue = Number.NaN
      return lastValue
    }
    const ms = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000
    lastValue =
      Date.UTC(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])) +
      ms -
      offsetMs(m[8] ?? '+0000')
    return lastValue
  }
  // A slice and one native comparison: faster than comparing in place (startsWith, charCodeAt).
  parse.within = (text: string, start: number, end: number): number => parse(text.slice(start, end))
  return parse
}

/** `2024-01-15 10:23:45.123 UTC`, `2024-01-15T10:23:45Z`, `…+02:00` → ms since the epoch, or NaN. */
export function isoTimeParser(): (text: string) => number {
  let lastText = ''
  let lastValue = Number.NaN
  return (text) => {
    if (text === lastText) return lastValue
    lastText = text
    const m =
      /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))? ?(Z|UTC|GMT|[A-Z]{2,5}|[+-]\d{2}(?::?\d{2})?)?$/.exec(
        text.trim(),
      )
    if (m === null) {
      lastValue = Number.NaN
      return lastValue
    }
    const ms = m[7] === undefined ? 0 : Number(`0.${m[7]}`) * 1000
    lastValue =
      Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])) +
      ms -
      offsetMs(m[8] ?? 'Z')
    return lastValue
  }
}

/**
 * Any timestamp a CSV or JSON log may hold: epoch seconds (`1700000000.25`), milliseconds (13
 * digits), microseconds (16) or nanoseconds (19), or ISO 8601 / `YYYY-MM-DD hh:mm:ss` text. NaN
 * when it is none of those.
 */
export function anyTimeParser(): (value: unknown) => number {
  const iso = isoTimeParser()
  return (value) => {
    if (typeof value === 'number') return epochToMs(value)
    if (typeof value !== 'string' || value === '') return Number.NaN
    if (/^\d+(?:\.\d+)?$/.test(value)) return epochToMs(Number(value))
    const parsed = iso(value)
    return Number.isNaN(parsed) ? Date.parse(value) : parsed
  }
}

/**
 * An epoch time in seconds (below 1e11: until year 5138), else milliseconds (below 1e14), else
 * microseconds (below 1e17), else nanoseconds, as milliseconds. Microseconds and nanoseconds are
 * common (Go, Java's Instant, tracing exporters); read as milliseconds they stretched every
 * interval a thousandfold, and with them the TTLs recommended.
 */
function epochToMs(n: number): number {
  if (!Number.isFinite(n)) return Number.NaN
  if (n < 1e11) return n * 1000
  if (n < 1e14) return n
  if (n < 1e17) return n / 1000
  // In two steps: n / 1e6 is off in the last digits (…249.9998 for …250), to the microsecond is not.
  return Math.round(n / 1000) / 1000
}
