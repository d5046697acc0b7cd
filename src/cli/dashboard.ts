/**
 * `stratacache dashboard`: serves the live dashboard on localhost. With `--redis` it shows what
 * the instances of a namespace publish (`observability: { publish: true }`); without it, a demo
 * workload in this process, so the page has data on a fresh machine.
 */
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createCache } from '../core/cache.js'
import { collectSnapshots, createDashboardHandler } from '../observability/dashboard/handler.js'
import { subscribeSnapshots } from '../observability/publisher.js'
import { parseCommandArgs, parseIntegerOption, UsageError } from './args.js'
import type { CliContext } from './command.js'

const OPTIONS = {
  port: { type: 'string', default: '4466' },
  host: { type: 'string', default: '127.0.0.1' },
  redis: { type: 'string' },
  namespace: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function help(): string {
  return `Usage: stratacache dashboard [--port 4466] [--redis URL --namespace NS]

Serves a live dashboard (hit ratio, reads/s by tier, latency percentiles, memory, evictions,
breaker state, alerts, hottest key groups) with /metrics (Prometheus) and /health beside it.

  --port N          Port to listen on (default 4466; 0 picks a free one)
  --host HOST       Interface to listen on (default 127.0.0.1: this machine only)
  --redis URL       Show the snapshots that instances publish through this Redis
                    (instances need createCache({ namespace, observability: { publish: true } }))
  --namespace NS    The namespace (cache name) those instances use (default 'cache')
  -h, --help        Show this help

Without --redis, runs a demo: two caches over a simulated 3-25 ms origin, read by a skewed
workload, with a scan every minute that sets off the low-hit-ratio alert.
Stop with Ctrl+C.
`
}

/** Resolves when the process is asked to stop (SIGINT or SIGTERM). */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve()
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const values = parseCommandArgs(argv, OPTIONS)
  if (values.help) {
    ctx.stdout.write(help())
    return 0
  }
  const port = parseIntegerOption('port', values.port, { min: 0, max: 65_535 })
  if (values.namespace !== undefined && values.redis === undefined) {
    throw new UsageError('--namespace goes with --redis (the namespace of the instances publishing there).')
  }

  const closers: (() => Promise<unknown> | unknown)[] = []
  try {
    let handler: ReturnType<typeof createDashboardHandler>
    let what: string
    if (values.redis !== undefined) {
      const namespace = values.namespace ?? 'cache'
      // No L1: this cache only listens to the namespace's stats channel.
      const watcher = createCache({ namespace, l1: false, l2: { redis: values.redis } })
      closers.push(() => watcher.close())
      const collector = await collectSnapshots((listener) => subscribeSnapshots(watcher, listener))
      closers.push(() => collector.close())
      handler = createDashboardHandler({ source: collector, title: `stratacache · ${namespace}` })
      what = `instances publishing on namespace '${namespace}'`
    } else {
      const { startDemo } = await import('../observability/dashboard/demo.js')
      const demo = startDemo()
      closers.push(() => demo.stop())
      handler = createDashboardHandler({ caches: demo.caches, title: 'stratacache · demo' })
      what = 'a demo workload (caches products and sessions over a simulated slow origin)'
    }
    closers.push(() => handler.close())

    const server = createServer(handler)
    server.listen(port, values.host)
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([error]) => {
        throw new Error(`cannot listen on ${values.host}:${port}: ${(error as Error).message}`, {
          cause: error,
        })
      }),
    ])
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    )
    const address = server.address() as AddressInfo
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
    ctx.stdout.write(`Dashboard: http://${host}:${address.port}/\n`)
    ctx.stderr.write(`Showing ${what}. /metrics and /health are served beside it. Press Ctrl+C to stop.\n`)
    await stopSignal()
    return 0
  } finally {
    for (const close of closers.reverse()) {
      try {
        await close()
      } catch {
        // Closing is best effort: the process is leaving.
      }
    }
  }
}
