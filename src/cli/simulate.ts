import { existsSync, statSync } from 'node:fs'
import {
  defaultKeyColumn,
  inferFormat,
  KEY_COLUMN_NAMES,
  TRACE_FORMATS,
  type TraceFormat,
  TraceFormatError,
  type TraceReadOptions,
} from '../simulation/readers/index.js'
import { formatCsv, formatJson, formatTable, type ReportSource } from '../simulation/report.js'
import {
  fileTraceSource,
  OPT,
  parseCacheSize,
  SIMULATED_POLICIES,
  type SimulationProgress,
  simulate,
  syntheticTraceSource,
  type TraceSource,
} from '../simulation/simulate.js'
import { describeSyntheticSpec, parseSyntheticSpec, type SyntheticSpec } from '../simulation/synthetic.js'
import { closest, parseCommandArgs, parseIntegerOption, UsageError } from './args.js'
import type { CliContext } from './command.js'
import {
  csvHeader,
  describedColumns,
  detectLogTraceFormat,
  isLogTraceFormat,
  LOG_TRACE_FORMATS,
  type LogTraceFormat,
  logTraceSource,
  queryLogColumn,
} from './log-trace.js'
import { createProgress, type Progress, progressEnabled } from './progress.js'

const OPTIONS = {
  trace: { type: 'string' },
  format: { type: 'string' },
  'key-column': { type: 'string' },
  synthetic: { type: 'string' },
  seed: { type: 'string', default: '1' },
  policies: { type: 'string', default: SIMULATED_POLICIES.join(',') },
  sizes: { type: 'string', default: '0.1%,1%,10%' },
  limit: { type: 'string' },
  json: { type: 'boolean', default: false },
  csv: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

const ALIASES: Readonly<Record<string, string>> = {
  tinylfu: 'w-tinylfu',
  wtinylfu: 'w-tinylfu',
  'w-tiny-lfu': 'w-tinylfu',
  's3-fifo': 's3fifo',
  belady: OPT,
  optimal: OPT,
  min: OPT,
}

function help(): string {
  return `Usage: stratacache simulate (--trace FILE | --synthetic SPEC) [options]

Replays a cache trace (or a synthetic workload) once through every eviction policy at every
size, and prints the hit ratios. Keys are unit-size; cold start; every request counted.

Source (one of):
  --trace FILE          A trace file; .gz is gunzipped on the fly
  --format F            ${[...TRACE_FORMATS, ...LOG_TRACE_FORMATS].join(' | ')}
                        (default: from the name: .lis arc, .trace cache2k, .csv csv,
                        *oracleGeneral* oracle, .txt/.keys lines; else from the first lines,
                        as analyze detects them: an access log, or one key per line)
                          lines    one key per line
                          csv      a header line, then rows: the key column by its name (or
                                   --key-column); a query log (query_signature, params…) as
                                   analyze reads it
                          arc      ARC .lis: start_block block_count ignored request_id
                          cache2k  big-endian signed 32-bit integers
                          oracle   libCacheSim oracleGeneral (24-byte little-endian records)
                          combined, jsonl, postgres, redis-monitor
                                   access logs, read as analyze reads them: each read's key is
                                   its route or query with its values (writes are skipped)
  --key-column NAME     The CSV column holding the key. Default: the one named key, cache_key,
                        cachekey, object_id, obj_id, objid, obj, item_id or id (or the only one);
                        without one, a query or url column with its values, as analyze reads it
  --synthetic SPEC      A generated workload, deterministic for a seed:
                          zipf:ALPHA:N[:REQUESTS]          scrambled Zipf over N keys
                          scan-zipf:ALPHA:N[:REQUESTS]     Zipf with sequential scans (scan=, share=)
                          loop:N[:REQUESTS]                keys 0..N-1 in a loop
                          shifting:HOT[:PHASE[:REQUESTS]]  a hot set replaced every PHASE requests
                          cdn:ALPHA:N[:REQUESTS]           Zipf plus one-hit wonders (onehit=0.3)
                        REQUESTS defaults to 10 × N; values like 1e6, 100k; name=value works too
                        (e.g. scan-zipf:0.99:1e5:scan=5000:share=0.3)
  --seed N              Seed of the synthetic workload (default 1)

Simulation:
  --policies LIST       Comma-separated: ${SIMULATED_POLICIES.join(', ')}
                        (default: all). opt is Bélády's clairvoyant optimum, the upper bound.
  --sizes LIST          Entries or percentages of the distinct keys, e.g. 1000,10000,0.1%
                        (default 0.1%,1%,10%)
  --limit N             Replay only the first N requests

Output:
  --json                One JSON document on stdout
  --csv                 CSV on stdout: policy,size,capacity,requests,hits,misses,hit_ratio
  -q, --quiet           No progress bar on stderr
  -h, --help            Show this help

With opt or a percentage size the trace is kept in memory as integer ids (4 bytes a request, 8
with opt); otherwise it is streamed.
`
}

function parsePolicies(text: string): string[] {
  const names = text
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '')
  if (names.length === 0) throw new UsageError('--policies needs at least one policy.')
  const policies: string[] = []
  for (const given of names) {
    const name = ALIASES[given] ?? given
    if (!SIMULATED_POLICIES.includes(name)) {
      const suggestion = closest(given, [...SIMULATED_POLICIES])
      throw new UsageError(
        `unknown policy '${given}'.${suggestion === undefined ? '' : ` Did you mean ${suggestion}?`} ` +
          `Policies: ${SIMULATED_POLICIES.join(', ')}.`,
      )
    }
    if (!policies.includes(name)) policies.push(name)
  }
  return policies
}

function parseSizes(text: string): string[] {
  const sizes = text
    .split(',')
    .map((size) => size.trim())
    .filter((size) => size !== '')
  if (sizes.length === 0) throw new UsageError('--sizes needs at least one size.')
  for (const size of sizes) {
    try {
      parseCacheSize(size)
    } catch (error) {
      throw new UsageError(`--sizes: ${(error as Error).message}`)
    }
  }
  return sizes
}

interface Setup {
  readonly source: TraceSource
  readonly report: ReportSource
  /** The trace's format came from its file name, not from --format. */
  readonly formatFromName?: boolean
}

type AnyTraceFormat = TraceFormat | LogTraceFormat

async function traceSetup(values: {
  trace: string
  format: string | undefined
  keyColumn: string | undefined
}): Promise<Setup> {
  const path = values.trace
  if (!existsSync(path)) throw new UsageError(`--trace: no such file '${path}'.`)
  if (!statSync(path).isFile()) throw new UsageError(`--trace: '${path}' is not a file.`)
  let format: AnyTraceFormat
  let formatFromName = false
  if (values.format !== undefined) {
    const given = values.format.toLowerCase().replace(/^oraclegeneral$/, 'oracle')
    if (!(TRACE_FORMATS as readonly string[]).includes(given) && !isLogTraceFormat(given)) {
      throw new UsageError(
        `--format must be one of ${[...TRACE_FORMATS, ...LOG_TRACE_FORMATS].join(', ')}; got '${values.format}'.`,
      )
    }
    format = given as AnyTraceFormat
  } else {
    // A name says nothing (access.log): read the first lines as analyze does.
    const named = inferFormat(path)
    formatFromName = named !== undefined
    format = named ?? (await detectLogTraceFormat(path)) ?? 'lines'
  }
  if (values.keyColumn !== undefined && format !== 'csv') {
    throw new UsageError(`--key-column applies to csv traces; this one is read as ${format}.`)
  }
  const report: ReportSource = { kind: 'trace', name: path, format }
  if (isLogTraceFormat(format)) return { source: logTraceSource(path, format), report, formatFromName }
  if (format === 'csv' && values.keyColumn === undefined) {
    const header = await csvHeader(path)
    if (header !== undefined && defaultKeyColumn(header) === undefined) {
      // No key column: a query log's key is its query (or route) with its values, as analyze reads it.
      if (queryLogColumn(header) !== undefined) {
        return { source: logTraceSource(path, 'csv'), report, formatFromName }
      }
      throw unknownKeyColumn(path, header)
    }
  }
  const options: TraceReadOptions = values.keyColumn === undefined ? {} : { keyColumn: values.keyColumn }
  return { source: fileTraceSource(path, format, options), report, formatFromName }
}

/** A CSV whose header names no key column (nor a query or URL one): bad usage, never a guess. */
function unknownKeyColumn(path: string, header: readonly string[]): UsageError {
  const described = describedColumns(header)
  const example = header.find((name) => name !== '' && !described.has(name)) ?? 'NAME'
  return new UsageError(
    `cannot tell which column of '${path}' holds the keys (columns: ${header.join(', ')}): none is named ${KEY_COLUMN_NAMES.join(', ')}, nor query or url. ` +
      `Give it with --key-column NAME (e.g. --key-column ${example}).`,
  )
}

/**
 * A text file given to a binary reader (cache2k, oracle) is refused before any key is replayed:
 * its bytes read as records made up keys, and a hit ratio of nonsense. Bad usage: the format is
 * the user's to give.
 */
function wrongFormat(error: TraceFormatError, setup: Setup): UsageError {
  const given = setup.formatFromName ? ', as its name says' : ''
  return new UsageError(
    `'${error.file}' is text, not ${error.description}${given}: read as one, its lines would be replayed as garbage keys. ` +
      `Give its format with --format: lines, csv, arc, ${LOG_TRACE_FORMATS.join(', ').replace(/, ([^,]*)$/, ' or $1')} (text); cache2k and oracle are binary.`,
  )
}

/**
 * A trace of which no request could be read (an empty file, or the wrong --format: every line
 * skipped) has no hit ratio to report: "0 requests" and exit 0 would read as a result.
 */
function refuseNothingRead(result: { requests: number }, setup: Setup): void {
  if (setup.report.kind !== 'trace' || result.requests > 0) return
  const { name, format } = setup.report
  const empty = statSync(name).size === 0
  throw new Error(
    `no access could be read from '${name}' as ${format}${empty ? ' (the file is empty)' : ''}. ` +
      `Check --format (${[...TRACE_FORMATS, ...LOG_TRACE_FORMATS].join(', ')})${format === 'csv' ? ' and --key-column' : ''}.`,
  )
}

/** Lines the reader could not use were left out of the replay: said on stderr, with the first. */
function reportSkipped(setup: Setup, stderr: { write(text: string): unknown }): void {
  const skipped = setup.source.skipped
  if (skipped === undefined || skipped.count === 0 || setup.report.kind !== 'trace') return
  const { name, format } = setup.report
  const first =
    skipped.first === undefined ? '' : ` (the first, line ${skipped.first.line}: ${skipped.first.reason})`
  stderr.write(
    `stratacache simulate: ${skipped.count.toLocaleString('en-US')} line(s) of ${name} could not be read as ${format} and were left out of the replay${first}.\n`,
  )
}

/**
 * A trace whose requests (nearly) all have a key of their own hits 0% under every policy and size:
 * not a finding about policies but a sign that the keys are not keys (raw log lines, with their
 * timestamps). Refused, with what to do instead.
 */
function refuseAllDistinct(result: { requests: number; distinctKeys: number }, setup: Setup): void {
  if (setup.report.kind !== 'trace' || result.requests < MIN_REQUESTS_TO_JUDGE) return
  const repeats = result.requests - result.distinctKeys
  if (repeats > result.requests * MAX_REPEAT_SHARE) return
  throw new Error(
    `${result.distinctKeys.toLocaleString('en-US')} of the ${result.requests.toLocaleString('en-US')} requests of ${setup.report.name} (read as ${setup.report.format}) have a key of their own: no policy could hit more than ${((repeats / result.requests) * 100).toFixed(2)}% at any size, so these are not cache keys. ` +
      `If it is an access log, give its format (--format ${LOG_TRACE_FORMATS.join('|')}: simulate reads what analyze reads); for a CSV, the key's column (--key-column NAME); a key trace has one key per line.`,
  )
}

/** At most this share of repeated requests (a hit ratio bound of 1%) means the keys are not keys. */
const MAX_REPEAT_SHARE = 0.01
/** Fewer requests than this are not judged by {@link refuseAllDistinct} (a tiny trace may well be all distinct). */
const MIN_REQUESTS_TO_JUDGE = 100

function syntheticSetup(text: string, seed: number): Setup {
  let spec: SyntheticSpec
  try {
    spec = parseSyntheticSpec(text)
  } catch (error) {
    throw new UsageError(`--synthetic: ${(error as Error).message}`)
  }
  return {
    source: syntheticTraceSource(spec, seed),
    report: { kind: 'synthetic', name: describeSyntheticSpec(spec), seed },
  }
}

const PHASE_LABELS: Readonly<Record<SimulationProgress['phase'], string>> = {
  read: 'reading  ',
  replay: 'replaying',
  opt: 'OPT      ',
}

/**
 * `stratacache simulate`, as a {@link CommandModule}: bad usage throws a UsageError (main prints it,
 * exit code 2).
 */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const values = parseCommandArgs(argv, OPTIONS)
  if (values.help) {
    ctx.stdout.write(help())
    return 0
  }
  if ((values.trace === undefined) === (values.synthetic === undefined)) {
    throw new UsageError('give either --trace FILE or --synthetic SPEC (exactly one).')
  }
  if (values.json && values.csv) throw new UsageError('--json and --csv are exclusive: pick one.')
  if (values.synthetic === undefined && values.seed !== OPTIONS.seed.default) {
    throw new UsageError('--seed applies to --synthetic workloads only.')
  }
  if (values.trace === undefined && (values.format !== undefined || values['key-column'] !== undefined)) {
    throw new UsageError('--format and --key-column apply to --trace only.')
  }
  const policies = parsePolicies(values.policies)
  const sizes = parseSizes(values.sizes)
  const limit = values.limit === undefined ? undefined : parseIntegerOption('limit', values.limit, { min: 1 })
  const seed = parseIntegerOption('seed', values.seed, { min: 0, max: Number.MAX_SAFE_INTEGER })
  const setup =
    values.trace !== undefined
      ? await traceSetup({ trace: values.trace, format: values.format, keyColumn: values['key-column'] })
      : syntheticSetup(values.synthetic as string, seed)

  const showProgress = progressEnabled(ctx.stderr, { json: values.json || values.csv, quiet: values.quiet })
  let bar: Progress | undefined
  let phase: SimulationProgress['phase'] | undefined
  let shown = 0
  const onProgress = (event: SimulationProgress): void => {
    if (event.phase !== phase) {
      bar?.done()
      phase = event.phase
      shown = 0
      bar = createProgress({
        stream: ctx.stderr,
        total: event.total,
        label: PHASE_LABELS[phase],
        enabled: true,
      })
    }
    if (event.done > shown) {
      bar?.tick(event.done - shown)
      shown = event.done
    }
  }

  let result: Awaited<ReturnType<typeof simulate>>
  try {
    result = await simulate(setup.source, {
      policies,
      sizes,
      ...(limit === undefined ? {} : { limit }),
      ...(showProgress ? { onProgress } : {}),
    })
  } catch (error) {
    throw error instanceof TraceFormatError ? wrongFormat(error, setup) : error
  } finally {
    bar?.done()
  }

  refuseNothingRead(result, setup)
  refuseAllDistinct(result, setup)
  reportSkipped(setup, ctx.stderr)
  if (values.json) ctx.stdout.write(formatJson(result, setup.report))
  else if (values.csv) ctx.stdout.write(formatCsv(result))
  else ctx.stdout.write(formatTable(result, setup.report))
  return 0
}

const defaultContext = (): CliContext => ({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
})

/**
 * `stratacache simulate ARGS` on its own: resolves to the exit code (0 success, 1 failure, 2 bad
 * usage), having printed any error on stderr.
 */
export async function simulateCommand(argv: string[], ctx: CliContext = defaultContext()): Promise<number> {
  try {
    return await run(argv, ctx)
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.stderr.write(
        `stratacache simulate: ${error.message}\nRun 'stratacache simulate --help' for usage.\n`,
      )
      return 2
    }
    ctx.stderr.write(`stratacache simulate: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}
