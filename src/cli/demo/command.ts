import { availableParallelism, loadavg } from 'node:os'
import {
  parseCommandArgs,
  parseDurationOption,
  parseIntegerOption,
  parseNumberOption,
  parseShareOption,
} from '../args.js'
import type { CliContext } from '../command.js'
import { createProgress, progressEnabled } from '../progress.js'
import { parseRedisUrl, redactUrl } from '../redis-url.js'
import { defaultCatalogDir, openCatalog } from './catalog.js'
import { MissingFrameworkError, runHttp } from './http.js'
import { runL1L2Processes } from './processes.js'
import { message } from './replay.js'
import { type DemoConfig, type DemoReport, renderText, type SkippedRun, toJson } from './report.js'
import { probeRedis, runL1, runL1L2, runNoCache, warmUp } from './run.js'
import { MODE_LABELS, type RunOptions, type RunResult } from './types.js'
import { generateWorkload } from './workload.js'

/** Share of the reads that are category pages; the rest are single-product reads. */
const PAGE_SHARE = 0.2
/** Category pages read: 1..PAGES (page p with weight 1/p). */
const PAGES = 5
/** Processes of the L1 + L2 run: two, the smallest number where one process's loads are the other's L2 hits. */
const DEFAULT_PROCESSES = 2

const OPTIONS = {
  requests: { type: 'string', default: '20000' },
  warmup: { type: 'string', default: '100000' },
  processes: { type: 'string' },
  products: { type: 'string', default: '100000' },
  categories: { type: 'string', default: '50' },
  zipf: { type: 'string', default: '0.99' },
  writes: { type: 'string', default: '0.01' },
  seed: { type: 'string', default: '42' },
  'l1-size': { type: 'string', default: '20000' },
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
five ways: no cache, L1 only, L1 + Redis L2 (in several processes sharing Redis), and as HTTP
requests to one Fastify API, without and with stratacache/http (304s, response cache, tag purges).
The runs with a cache first replay a warm-up, untimed, then the measured window: the table shows
what a running service sees (hit ratio, database queries, p50/p95/p99 latency, throughput).

Workload:
  --requests N          Requests in the measured window (default 20000)
  --warmup N            Requests replayed before it, untimed, by the runs with a cache
                        (default 100000; 0 = measure from a cold start)
  --products N          Products in the catalog (default 100000)
  --categories N        Categories (default 50)
  --zipf ALPHA          Zipf exponent of popularity; 0 = uniform (default 0.99)
  --writes SHARE        Share of requests that update a price, e.g. 0.01 or 1% (default 0.01)
  --seed N              Seed of the workload; same seed, same requests (default 42)

Setup:
  --origin-latency D    Added to every database query to stand for a remote database,
                        e.g. 2ms, 0.5s, 0 (default 2ms)
  --concurrency N       Requests in flight, per process (default 32)
  --l1-size N           L1 capacity in entries, per process (default 20000)
  --redis URL           Redis for the L1 + L2 run (default $REDIS_URL or redis://127.0.0.1:6379,
                        now ${redactUrl(defaultRedisUrl(env))}); skipped if not reachable
  --processes N         Processes of the L1 + L2 run, sharing Redis (default 2)
  --catalog-dir DIR     Where the SQLite catalog lives (default ${defaultCatalogDir(env)})
  --skip-http           Leave out the two HTTP columns (the slowest: real sockets per request)

Output:
  --json                One JSON object on stdout, nothing else
  -q, --quiet           No progress bar or status on stderr
  -h, --help            Show this help
`
}

const defaultRedisUrl = (env: NodeJS.ProcessEnv): string => env.REDIS_URL || 'redis://127.0.0.1:6379'

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const values = parseCommandArgs(argv, OPTIONS)
  if (values.help) {
    ctx.stdout.write(help(ctx.env))
    return 0
  }
  const products = parseIntegerOption('products', values.products, { min: 1, max: 10_000_000 })
  const config: DemoConfig = {
    requests: parseIntegerOption('requests', values.requests, { min: 1, max: 10_000_000 }),
    warmup: parseIntegerOption('warmup', values.warmup, { min: 0, max: 10_000_000 }),
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
    processes: parseIntegerOption('processes', values.processes ?? String(DEFAULT_PROCESSES), {
      min: 1,
      max: 64,
    }),
  }
  const json = values.json
  const chatty = !json && !values.quiet
  const status = (message: string): void => {
    if (chatty) ctx.stderr.write(`${message}\n`)
  }
  const showProgress = progressEnabled(ctx.stderr, { json, quiet: values.quiet })

  const catalogOptions = {
    dir: values['catalog-dir'] ?? defaultCatalogDir(ctx.env),
    products: config.products,
    categories: config.categories,
  }
  const catalog = openCatalog({
    ...catalogOptions,
    onBuild: (path) =>
      status(
        `Building the catalog (${config.products.toLocaleString('en-US')} products, first run only): ${path}`,
      ),
  })
  try {
    const workloadOptions = {
      requests: config.requests,
      warmup: config.warmup,
      products: config.products,
      categories: config.categories,
      alpha: config.zipf,
      writeShare: config.writes,
      pageShare: config.pageShare,
      pages: config.pages,
      seed: config.seed,
    }
    const workload = generateWorkload({ ...workloadOptions, layout: catalog.layout() })
    warmUp(catalog, workload)

    const bar = (label: string, warm: boolean) =>
      createProgress({
        stream: ctx.stderr,
        total: warm ? workload.requests.length : config.requests,
        label: label.padEnd(12),
        enabled: showProgress,
      })
    const measure = async (
      label: string,
      warm: boolean,
      start: (options: RunOptions) => Promise<RunResult>,
    ): Promise<RunResult> => {
      const progress = bar(label, warm)
      try {
        return await start({
          catalog,
          workload,
          concurrency: config.concurrency,
          originLatencyMs: config.originLatencyMs,
          warm,
          onProgress: () => progress.tick(),
        })
      } finally {
        progress.done()
      }
    }

    const runs: RunResult[] = []
    const skipped: SkippedRun[] = []
    runs.push(await measure(MODE_LABELS['no-cache'], false, runNoCache))
    runs.push(await measure(MODE_LABELS.l1, true, (options) => runL1({ ...options, l1Size: config.l1Size })))

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
      const l1l2 = { l1Size: config.l1Size, redisUrl: config.redis }
      const label = `${MODE_LABELS['l1+l2']} ×${config.processes}`
      try {
        if (config.processes === 1) {
          runs.push(await measure(MODE_LABELS['l1+l2'], true, (options) => runL1L2({ ...options, ...l1l2 })))
        } else {
          const progress = bar(label, true)
          try {
            runs.push(
              await runL1L2Processes({
                processes: config.processes,
                catalog: catalogOptions,
                workload: workloadOptions,
                run: { concurrency: config.concurrency, originLatencyMs: config.originLatencyMs, ...l1l2 },
                onProgress: (count) => progress.tick(count),
              }),
            )
          } finally {
            progress.done()
            // The other processes updated prices: the staleness audit's mirror must see them.
            catalog.reloadPrices()
          }
        }
      } catch (error) {
        skipped.push({
          mode: 'l1+l2',
          label,
          reason: `the run against ${redactUrl(config.redis)} failed: ${message(error)}`,
          hint: 'Check that the URL points at a Redis server you can use (password, TLS).',
        })
      }
    }

    if (!values['skip-http']) {
      for (const cached of [false, true]) {
        const mode = cached ? 'http+cache' : 'http'
        try {
          runs.push(
            await measure(MODE_LABELS[mode], cached, (options) =>
              runHttp({ ...options, l1Size: config.l1Size, cached }),
            ),
          )
        } catch (error) {
          if (!(error instanceof MissingFrameworkError)) throw error
          skipped.push({
            mode,
            label: MODE_LABELS[mode],
            reason: message(error),
            hint: 'To include it, install fastify (npm install fastify).',
          })
        }
      }
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
        requests: config.requests,
        warmup: config.warmup,
        productReads: workload.productReads,
        pageReads: workload.pageReads,
        writes: workload.writes,
        distinctKeys: workload.distinctKeys,
        newKeys: workload.newKeys,
      },
      runs,
      skipped,
      loadAverage: loadavg()[0] ?? 0,
      cpus: availableParallelism(),
    }
    ctx.stdout.write(json ? `${JSON.stringify(toJson(report), null, 2)}\n` : renderText(report))
    // Failed requests mean a broken setup, not a result: say so in the exit code too.
    return runs.some((r) => r.errors > 0) ? 1 : 0
  } finally {
    catalog.close()
  }
}
