import {
  parseCommandArgs,
  parseDurationOption,
  parseIntegerOption,
  parseNumberOption,
  parseShareOption,
  UsageError,
} from '../args.js'
import type { CliContext } from '../command.js'
import { createProgress, progressEnabled } from '../progress.js'
import { defaultCatalogDir, openCatalog } from './catalog.js'
import { MissingFrameworkError, runHttp } from './http.js'
import { type DemoConfig, type DemoReport, redactUrl, renderText, type SkippedRun, toJson } from './report.js'
import {
  MODE_LABELS,
  message,
  probeRedis,
  type RunOptions,
  type RunResult,
  runL1,
  runL1L2,
  runNoCache,
  warmUp,
} from './run.js'
import { generateWorkload } from './workload.js'

/** Share of the reads that are category pages; the rest are single-product reads. */
const PAGE_SHARE = 0.2
/** Category pages read: 1..PAGES (page p with weight 1/p). */
const PAGES = 5

const OPTIONS = {
  requests: { type: 'string', default: '20000' },
  products: { type: 'string', default: '100000' },
  categories: { type: 'string', default: '50' },
  zipf: { type: 'string', default: '0.99' },
  writes: { type: 'string', default: '0.01' },
  seed: { type: 'string', default: '42' },
  'l1-size': { type: 'string', default: '10000' },
  concurrency: { type: 'string', default: '32' },
  'origin-latency': { type: 'string', default: '2ms' },
  redis: { type: 'string' },
  'catalog-dir': { type: 'string' },
  'skip-http': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function help(env: NodeJS.ProcessEnv): string {
  return `Usage: stratacache demo [options]

Builds a product catalog in SQLite (once, then reused), generates one seeded workload of
Zipf-distributed product and category-page reads plus a share of price updates, and replays it
four ways: no cache, L1 only, L1 + Redis L2, and as HTTP requests to a Fastify API cached with
stratacache/http (304s, response cache, tag purges). Prints hit ratio, database queries,
p50/p95/p99 latency and throughput of each, all measured.

Workload:
  --requests N          Requests replayed per run (default 20000)
  --products N          Products in the catalog (default 100000)
  --categories N        Categories (default 50)
  --zipf ALPHA          Zipf exponent of popularity; 0 = uniform (default 0.99)
  --writes SHARE        Share of requests that update a price, e.g. 0.01 or 1% (default 0.01)
  --seed N              Seed of the workload; same seed, same requests (default 42)

Setup:
  --origin-latency D    Added to every database query to stand for a remote database,
                        e.g. 2ms, 0.5s, 0 (default 2ms)
  --concurrency N       Requests in flight (default 32)
  --l1-size N           L1 capacity in entries (default 10000)
  --redis URL           Redis for the L1 + L2 run (default $REDIS_URL or redis://127.0.0.1:6379,
                        now ${redactUrl(defaultRedisUrl(env))}); skipped if not reachable
  --catalog-dir DIR     Where the SQLite catalog lives (default ${defaultCatalogDir(env)})
  --skip-http           Leave out the HTTP API column (the slowest: real sockets per request)

Output:
  --json                One JSON object on stdout, nothing else
  -q, --quiet           No progress bar or status on stderr
  -h, --help            Show this help
`
}

const defaultRedisUrl = (env: NodeJS.ProcessEnv): string => env.REDIS_URL || 'redis://127.0.0.1:6379'

function parseRedisUrl(value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new UsageError(`--redis must be a URL like redis://127.0.0.1:6379; got '${value}'.`)
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`--redis must start with redis:// or rediss://; got '${redactUrl(value)}'.`)
  }
  return value
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const values = parseCommandArgs(argv, OPTIONS)
  if (values.help) {
    ctx.stdout.write(help(ctx.env))
    return 0
  }
  const products = parseIntegerOption('products', values.products, { min: 1, max: 10_000_000 })
  const config: DemoConfig = {
    requests: parseIntegerOption('requests', values.requests, { min: 1, max: 10_000_000 }),
    products,
    categories: parseIntegerOption('categories', values.categories, { min: 1, max: products }),
    zipf: parseNumberOption('zipf', values.zipf, { min: 0, max: 10 }),
    writes: parseShareOption('writes', values.writes),
    pageShare: PAGE_SHARE,
    pages: PAGES,
    seed: parseIntegerOption('seed', values.seed, { min: 0, max: 2 ** 32 - 1 }),
    l1Size: parseIntegerOption('l1-size', values['l1-size'], { min: 1, max: 10_000_000 }),
    concurrency: parseIntegerOption('concurrency', values.concurrency, { min: 1, max: 10_000 }),
    originLatencyMs: parseDurationOption('origin-latency', values['origin-latency'], { max: 10_000 }),
    redis: parseRedisUrl(values.redis ?? defaultRedisUrl(ctx.env)),
  }
  const json = values.json
  const chatty = !json && !values.quiet
  const status = (message: string): void => {
    if (chatty) ctx.stderr.write(`${message}\n`)
  }
  const showProgress = progressEnabled(ctx.stderr, { json, quiet: values.quiet })

  const catalog = openCatalog({
    dir: values['catalog-dir'] ?? defaultCatalogDir(ctx.env),
    products: config.products,
    categories: config.categories,
    onBuild: (path) =>
      status(
        `Building the catalog (${config.products.toLocaleString('en-US')} products, first run only): ${path}`,
      ),
  })
  try {
    const workload = generateWorkload({
      requests: config.requests,
      products: config.products,
      categories: config.categories,
      alpha: config.zipf,
      writeShare: config.writes,
      pageShare: config.pageShare,
      pages: config.pages,
      seed: config.seed,
      layout: catalog.layout(),
    })
    warmUp(catalog, workload)

    const measure = async (
      label: string,
      start: (options: RunOptions) => Promise<RunResult>,
    ): Promise<RunResult> => {
      const progress = createProgress({
        stream: ctx.stderr,
        total: workload.requests.length,
        label: label.padEnd(8),
        enabled: showProgress,
      })
      try {
        return await start({
          catalog,
          workload,
          concurrency: config.concurrency,
          originLatencyMs: config.originLatencyMs,
          onProgress: () => progress.tick(),
        })
      } finally {
        progress.done()
      }
    }

    const runs: RunResult[] = []
    const skipped: SkippedRun[] = []
    runs.push(await measure(MODE_LABELS['no-cache'], runNoCache))
    runs.push(await measure(MODE_LABELS.l1, (options) => runL1({ ...options, l1Size: config.l1Size })))

    const hint = 'To include it, start redis-server, or pass --redis redis://host:port.'
    const probe = await probeRedis(config.redis)
    if (!probe.reachable) {
      skipped.push({
        mode: 'l1+l2',
        label: MODE_LABELS['l1+l2'],
        reason: `Redis is not reachable at ${redactUrl(config.redis)} (${probe.reason})`,
        hint,
      })
    } else {
      try {
        runs.push(
          await measure(MODE_LABELS['l1+l2'], (options) =>
            runL1L2({ ...options, l1Size: config.l1Size, redisUrl: config.redis }),
          ),
        )
      } catch (error) {
        skipped.push({
          mode: 'l1+l2',
          label: MODE_LABELS['l1+l2'],
          reason: `the run against ${redactUrl(config.redis)} failed: ${message(error)}`,
          hint: 'Check that the URL points at a Redis server you can use (password, TLS).',
        })
      }
    }

    try {
      if (!values['skip-http']) {
        runs.push(
          await measure(MODE_LABELS.http, (options) => runHttp({ ...options, l1Size: config.l1Size })),
        )
      }
    } catch (error) {
      if (!(error instanceof MissingFrameworkError)) throw error
      skipped.push({
        mode: 'http',
        label: MODE_LABELS.http,
        reason: message(error),
        hint: 'To include it, install fastify (npm install fastify).',
      })
    }

    const report: DemoReport = {
      config,
      catalog: {
        path: catalog.path,
        products: catalog.products,
        categories: catalog.categories,
        created: catalog.created,
        buildMs: catalog.buildMs,
      },
      workload: {
        requests: workload.requests.length,
        productReads: workload.productReads,
        pageReads: workload.pageReads,
        writes: workload.writes,
        distinctKeys: workload.distinctKeys,
      },
      runs,
      skipped,
    }
    ctx.stdout.write(json ? `${JSON.stringify(toJson(report), null, 2)}\n` : renderText(report))
    // Failed requests mean a broken setup, not a result: say so in the exit code too.
    return runs.some((r) => r.errors > 0) ? 1 : 0
  } finally {
    catalog.close()
  }
}
