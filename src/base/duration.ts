import { InvalidOptionError } from '../errors.js'
import { describeValue } from './describe.js'

/** A duration: milliseconds as a number, or a string such as `'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`. `Infinity` means no expiry. */
export type Duration = number | `${number}${DurationUnit}`
export type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd'

const UNIT_MS: Record<DurationUnit, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/

/**
 * Parses a {@link Duration} to milliseconds. `what` names the option in the error message.
 * Negative, NaN and malformed durations are refused: a silently-zero TTL would cache nothing.
 */
export function parseDuration(value: unknown, what: string): number {
  if (typeof value === 'number') {
    if (Number.isNaN(value) || value < 0) {
      throw new InvalidOptionError(
        `${what} must be a non-negative number of milliseconds or a string like '30s'; got ${describeValue(value)}.`,
      )
    }
    return value
  }
  if (typeof value === 'string') {
    const match = PATTERN.exec(value.trim())
    if (match) return Number(match[1]) * UNIT_MS[match[2] as DurationUnit]
    throw new InvalidOptionError(
      `${what} '${value}' is not a duration: use a number of ms or '500ms' | '30s' | '5m' | '1h' | '7d'.`,
    )
  }
  throw new InvalidOptionError(
    `${what} must be a number of milliseconds or a duration string like '5m'; got ${typeof value}.`,
  )
}
