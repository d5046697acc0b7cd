import { type ParseArgsConfig, parseArgs } from 'node:util'
import { closest } from '../base/closest.js'

export { closest }

/** Bad command-line usage: `main` prints the message and a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>
type ParsedValues<O extends OptionsConfig> = ReturnType<
  typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>
>['values']

/**
 * `parseArgs` in strict mode without positionals, with its errors turned into {@link UsageError}s
 * that name the closest known option ("Did you mean --writes?").
 */
export function parseCommandArgs<const O extends OptionsConfig>(argv: string[], options: O): ParsedValues<O> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values
  } catch (error) {
    const err = error as Error & { code?: string }
    if (typeof err.code !== 'string' || !err.code.startsWith('ERR_PARSE_ARGS')) throw error
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const given = /'(-{1,2}[^']*)'/.exec(err.message)?.[1] ?? ''
      const suggestion = closest(given.replace(/^-+/, '').split('=')[0] ?? '', Object.keys(options))
      throw new UsageError(
        `unknown option '${given}'.${suggestion === undefined ? '' : ` Did you mean --${suggestion}?`}`,
      )
    }
    if (err.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const given = /'([^']*)'/.exec(err.message)?.[1] ?? ''
      throw new UsageError(`unexpected argument '${given}'.`)
    }
    const message = err.message.replace(/^\w/, (c) => c.toLowerCase())
    throw new UsageError(/[.!?]$/.test(message) ? message : `${message}.`)
  }
}

interface NumberRule {
  readonly min?: number
  readonly max?: number
}

/** An integer option, e.g. `--requests 20000` (`20_000` and `20,000` are accepted too). */
export function parseIntegerOption(name: string, value: string, rule: NumberRule = {}): number {
  const cleaned = value.trim().replace(/[_,]/g, '')
  const n = /^-?\d+$/.test(cleaned) ? Number(cleaned) : Number.NaN
  if (!Number.isSafeInteger(n)) throw new UsageError(`--${name} must be an integer; got '${value}'.`)
  return checkRange(name, n, rule)
}

/** A decimal option, e.g. `--zipf 0.99`. */
export function parseNumberOption(name: string, value: string, rule: NumberRule = {}): number {
  const n = value.trim() === '' ? Number.NaN : Number(value)
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number; got '${value}'.`)
  return checkRange(name, n, rule)
}

/** A share between 0 and 1, written as a fraction (`0.01`) or a percentage (`1%`). */
export function parseShareOption(name: string, value: string): number {
  const text = value.trim()
  if (text.endsWith('%')) return parseNumberOption(name, text.slice(0, -1), { min: 0, max: 100 }) / 100
  const n = text === '' ? Number.NaN : Number(text)
  if (!Number.isFinite(n) || n < 0 || n > 1) {
    throw new UsageError(
      `--${name} must be a fraction between 0 and 1 (e.g. 0.01) or a percentage (1%); got '${value}'.`,
    )
  }
  return n
}

/**
 * The longest duration a command option takes: Node's timers hold at most 2^31 − 1 ms (24.8 days)
 * and fire at once, with a TimeoutOverflowWarning, when given more — `diagnose --wait 3000000s`
 * returned immediately.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1

/** A duration in milliseconds: `2ms`, `0.5s`, or a bare number of milliseconds; at most {@link MAX_DURATION_MS}. */
export function parseDurationOption(name: string, value: string, rule: NumberRule = {}): number {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/.exec(value.trim())
  if (!match)
    throw new UsageError(`--${name} must be a duration like '2ms', '0.5s' or a number of ms; got '${value}'.`)
  const ms = Number(match[1]) * (match[2] === 's' ? 1000 : 1)
  const max = Math.min(rule.max ?? MAX_DURATION_MS, MAX_DURATION_MS)
  if (ms > max) {
    throw new UsageError(
      `--${name} must be at most ${max} ms${max === MAX_DURATION_MS ? ' (24.8 days, the longest timer Node.js runs)' : ''}; got '${value}'.`,
    )
  }
  return checkRange(name, ms, rule)
}

function checkRange(name: string, n: number, { min, max }: NumberRule): number {
  if (min !== undefined && n < min) throw new UsageError(`--${name} must be at least ${min}; got ${n}.`)
  if (max !== undefined && n > max) throw new UsageError(`--${name} must be at most ${max}; got ${n}.`)
  return n
}
