import { existsSync, statSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { analyzeFile, DEFAULT_MAX_STALENESS_MS } from '../analysis/analyze.js'
import { LOG_FORMATS, type LogFormat, parseFieldMap } from '../analysis/readers/index.js'
import { formatConfig } from '../analysis/report/emit-config.js'
import { formatHtml } from '../analysis/report/html.js'
import { formatJson } from '../analysis/report/json.js'
import { formatTerminal } from '../analysis/report/terminal.js'
import type { AnalysisReport } from '../analysis/report-model.js'
import { formatDuration, parseDuration } from '../analysis/ttl.js'
import { closest, parseCommandArgs, parseIntegerOption, parseShareOption, UsageError } from './args.js'
import type { CliContext } from './command.js'
import { createProgress, type Progress, progressEnabled } from './progress.js'

const OPTIONS = {
  file: { type: 'string' },
  format: { type: 'string' },
  fields: { type: 'string' },
  'max-staleness': { type: 'string', multiple: true },
  target: { type: 'string', default: '90%' },
  'sample-keys': { type: 'string' },
  'max-line-bytes': { type: 'string' },
  json: { type: 'boolean', default: false },
  html: { type: 'string' },
  'emit-config': { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function help(): string {
  return `Usage: stratacache analyze FILE [options]

Reads an access or query log once (streaming, .gz transparent) and recommends what to cache, for
how long, how big a cache, with which eviction policy — with the hit ratio it predicts, checked by
replaying the log through the stratacache L1. docs/analyze.md explains every number.

Input:
  FILE                  The log (or --file FILE)
  --format F            ${LOG_FORMATS.join(' | ')} (default: detected from the first lines)
                          csv            header line, e.g. timestamp,query_signature,params,duration_ms
                          jsonl          one JSON object per line
                          combined       nginx / Apache access log (common or combined, optional request time)
                          postgres       PostgreSQL log with log_min_duration_statement or log_statement
                          redis-monitor  output of redis-cli MONITOR
                          keys           one cache key per line
  --fields MAP          CSV / JSON field names: FIELD=NAME,… with FIELD one of time, key, url, query,
                        params, method, op, duration (NAME:s or NAME:us for units), size
                        (e.g. --fields time=ts,url=request.path,duration=latency:s)
  --max-line-bytes N    Longer lines are malformed (default 65536)

Recommendations:
  --max-staleness D     How stale a cached value may be: a duration (500ms, 30s, 5m, 1h, 7d) for every
                        type (default ${formatDuration(DEFAULT_MAX_STALENESS_MS)}), or TYPE=D for one type or recommendation name
                        (repeatable: --max-staleness 4h --max-staleness users=5m)
  --target SHARE        The recommended size reaches this share of the hit ratio an unbounded cache
                        would get (default 90%)
  --sample-keys N       Keys tracked exactly by the miss-ratio curve before it samples (SHARDS;
                        default 32768): memory stays bounded whatever the log

Output (a terminal report on stdout by default):
  --json                The whole analysis as one JSON document on stdout
  --html FILE           Also write a self-contained HTML report with charts (opens offline)
  --emit-config         Print a TypeScript module (defineKeys, TTLs, tags, L1 options) instead
  -q, --quiet           No progress bar on stderr
  -h, --help            Show this help

Exit codes: 0 success, 1 nothing could be read (or another failure), 2 bad usage.
`
}

/** Splits off the first positional argument (the file); the rest goes to parseArgs. */
function splitFile(argv: string[]): { file: string | undefined; rest: string[] } {
  const rest: string[] = []
  let file: string | undefined
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (arg === '--') {
      file ??= argv[i + 1]
      break
    }
    if (arg.startsWith('-')) {
      rest.push(arg)
      const name = arg.replace(/^-+/, '')
      const option = (OPTIONS as Record<string, { type: string } | undefined>)[name]
      if (!arg.includes('=') && option?.type === 'string' && i + 1 < argv.length)
        rest.push(argv[++i] as string)
      continue
    }
    if (file !== undefined) throw new UsageError(`unexpected argument '${arg}': give one log file.`)
    file = arg
  }
  return { file, rest }
}

function parseStaleness(values: readonly string[]): { all: number; byType: Record<string, number> } {
  let all = DEFAULT_MAX_STALENESS_MS
  const byType: Record<string, number> = Object.create(null)
  for (const value of values) {
    for (const part of value.split(',')) {
      const eq = part.lastIndexOf('=')
      const text = eq === -1 ? part : part.slice(eq + 1)
      const ms = parseDuration(text)
      if (!(ms > 0)) {
        throw new UsageError(
          `--max-staleness takes a duration like 30s, 5m, 1h or TYPE=DURATION; got '${part}'.`,
        )
      }
      if (eq === -1) all = ms
      else byType[part.slice(0, eq).trim()] = ms
    }
  }
  return { all, byType }
}

/** `stratacache analyze`, as a CommandModule (bad usage throws a UsageError: exit code 2). */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const { file: positional, rest } = splitFile(argv)
  const values = parseCommandArgs(rest, OPTIONS)
  if (values.help) {
    ctx.stdout.write(help())
    return 0
  }
  const file = positional ?? values.file
  if (positional !== undefined && values.file !== undefined)
    throw new UsageError('give the log once: FILE or --file FILE.')
  if (file === undefined) throw new UsageError('give the log to analyze: stratacache analyze FILE.')
  if (!existsSync(file)) throw new UsageError(`no such file '${file}'.`)
  if (!statSync(file).isFile()) throw new UsageError(`'${file}' is not a file.`)
  if (values.json && values['emit-config'])
    throw new UsageError('--json and --emit-config both print on stdout: pick one.')
  let format: LogFormat | undefined
  if (values.format !== undefined) {
    const given = values.format.toLowerCase()
    if (!(LOG_FORMATS as readonly string[]).includes(given)) {
      const suggestion = closest(given, [...LOG_FORMATS])
      throw new UsageError(
        `--format must be one of ${LOG_FORMATS.join(', ')}; got '${values.format}'.${suggestion === undefined ? '' : ` Did you mean ${suggestion}?`}`,
      )
    }
    format = given as LogFormat
  }
  let fields: ReturnType<typeof parseFieldMap> | undefined
  if (values.fields !== undefined) {
    try {
      fields = parseFieldMap(values.fields)
    } catch (error) {
      throw new UsageError(`--fields: ${(error as Error).message}`)
    }
  }
  const staleness = parseStaleness(values['max-staleness'] ?? [])
  const target = parseShareOption('target', values.target)
  if (target <= 0) throw new UsageError('--target must be above 0.')
  const sampleKeys =
    values['sample-keys'] === undefined
      ? undefined
      : parseIntegerOption('sample-keys', values['sample-keys'], { min: 64 })
  const maxLineBytes =
    values['max-line-bytes'] === undefined
      ? undefined
      : parseIntegerOption('max-line-bytes', values['max-line-bytes'], { min: 256 })

  const machine = values.json || values['emit-config']
  const showProgress = progressEnabled(ctx.stderr, { json: machine, quiet: values.quiet })
  let bar: Progress | undefined
  let shown = 0
  const onProgress = (done: number, total: number): void => {
    bar ??= createProgress({ stream: ctx.stderr, total, label: 'reading', enabled: true })
    if (done > shown) {
      bar.tick(done - shown)
      shown = done
    }
  }
  let report: AnalysisReport
  try {
    report = await analyzeFile(file, {
      ...(format === undefined ? {} : { format }),
      ...(fields === undefined ? {} : { fields }),
      maxStalenessMs: staleness.all,
      maxStalenessByType: staleness.byType,
      target,
      ...(sampleKeys === undefined ? {} : { profilerKeys: sampleKeys }),
      ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
      ...(showProgress ? { onProgress } : {}),
    })
  } finally {
    bar?.done()
  }

  if (report.lines.events === 0) {
    const reasons = Object.entries(report.lines.malformedByReason)
      .map(([reason, n]) => `${n} ${reason}`)
      .join(', ')
    ctx.stderr.write(
      `stratacache analyze: no access could be read from '${file}' as ${report.source.format} ` +
        `(${report.lines.total} lines${reasons === '' ? '' : `: ${reasons}`}). ` +
        `Check --format${report.source.format === 'csv' || report.source.format === 'jsonl' ? ' and --fields' : ''}.\n`,
    )
    if (report.lines.malformedSamples[0] !== undefined) {
      const sample = report.lines.malformedSamples[0]
      ctx.stderr.write(`  first malformed line ${sample.line}: ${sample.reason}: ${sample.text}\n`)
    }
    return 1
  }
  if (values.html !== undefined) {
    await writeFile(values.html, formatHtml(report))
    if (!machine && !values.quiet) ctx.stderr.write(`HTML report written to ${values.html}\n`)
  }
  if (values.json) ctx.stdout.write(formatJson(report))
  else if (values['emit-config']) ctx.stdout.write(formatConfig(report))
  else ctx.stdout.write(formatTerminal(report))
  return 0
}
