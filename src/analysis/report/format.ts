/** Small formatting helpers shared by the reports. */
import type { AnalysisReport } from '../report-model.js'
import { humanDuration } from '../ttl.js'

export const int = (n: number): string => Math.round(n).toLocaleString('en-US')
export const pct = (ratio: number, digits = 1): string => `${(ratio * 100).toFixed(digits)}%`
/** A difference of ratios in percentage points: 0.012 → '1.2'. */
export const points = (ratio: number): string => (ratio * 100).toFixed(1)

export function bytes(n: number | null): string {
  if (n === null || !Number.isFinite(n)) return '—'
  if (n < 1024) return `${Math.round(n)} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`
  return `${(n / 1024 ** 3).toFixed(2)} GiB`
}

/** A plain-text table: columns padded, numbers right-aligned. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number>,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) =>
        right.has(i) ? cell.padStart(widths[i] as number) : cell.padEnd(widths[i] as number),
      )
      .join('  ')
      .trimEnd()
  return [line(header), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n')
}

/**
 * C0 and C1 control characters (tab and newline too) and DEL: a key or a URL from the log may carry
 * an escape sequence (ESC, CSI) that would retitle or clear the user's terminal, or forge a line.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g

/** Text from the log as a terminal shows it harmlessly: control characters as `\xHH`. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/** Text from the log, made {@link printable}, cut to `width` characters. */
export function clip(text: string, width: number): string {
  const shown = printable(text)
  return shown.length <= width ? shown : `${shown.slice(0, width - 1)}…`
}

/** The lines whose times were left out of the span, as a sentence (the HTML report says the same). */
export function outlierText(outliers: AnalysisReport['timeOutliers']): string {
  const shown = outliers.samples
    .slice(0, 10)
    .map((o) => `line ${o.line} (${isoTime(o.time)})`)
    .join(', ')
  const more = outliers.count > 10 ? `, and ${int(outliers.count - 10)} more` : ''
  return (
    `Time outliers: ${int(outliers.count)} line${outliers.count === 1 ? '' : 's'} dated far outside the rest of the log, ` +
    `left out of the time span and of every rate and interval: ${shown}${more}.`
  )
}

function isoTime(ms: number): string {
  // A time Date cannot represent (beyond ±8.64e15 ms) is shown as the number the line gave.
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms`
}

/** That the log goes back in time, as a sentence (terminal and HTML reports). */
export function timeOrderText(order: AnalysisReport['timeOrder']): string {
  return (
    `Not in time order: the log goes back in time ${int(order.backwardJumps)} time${order.backwardJumps === 1 ? '' : 's'} ` +
    `(by up to ${humanDuration(order.largestJumpMs)}); the prediction replays it sorted by time, ` +
    'the re-read and write-gap medians take the lines as they come.'
  )
}

/** The durations and sizes left out of the means, as a sentence (terminal and HTML reports). */
export function impossibleValuesText(count: number): string {
  return `Impossible values: ${int(count)} durations or sizes larger than any real one (a corrupted field), left out of every mean.`
}
