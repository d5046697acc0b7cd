/**
 * `stratacache dashboard`: serves the live dashboard on localhost. With `--redis` it shows what
 * the instances of a namespace publish (`observability: { publish: true }`); without it, a demo
 * workload in this process, so the page has data on a fresh machine.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { collectSnapshots, createDashboardHandler } from '../observability/dashboard/handler.js'
import { subscribeSnapshots } from '../observability/publisher.js'
import { parseCommandArgs, parseIntegerOption, UsageError } from './args.js'
import type { CliContext } from './command.js'
import { openObserver, RedisUnreachableError, withinObserverTimeout } from './observer.js'
import { parseRedisUrl } from './redis-url.js'

const OPTIONS = {
  port: { type: 'string', default: '4466' },
  host: { type: 'string', default: '127.0.0.1' },
  redis: { type: 'string' },
  namespace: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function help(): string {
  return `Usage: stratacache dashboard [--port 4466] [--host 127.0.0.1] [--redis URL --namespace NS]

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

/** Could not listen on the address asked for: the message says which, why and what to do. */
export class ListenError extends Error {
  override name = 'ListenError'
}

/**
 * Listens, or rejects with a {@link ListenError}. Not `once(server, 'listening')`: `events.once`
 * rejects with the raw 'error' itself, so a wrapper raced beside it never got to say more.
 */
function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening)
      const why =
        error.code === 'EADDRINUSE'
          ? `port ${port} is in use (EADDRINUSE). Pick another --port, or --port 0 for a free one`
          : error.code === 'EACCES'
            ? `this user may not listen on port ${port} (EACCES). Pick a port above 1023, or --port 0 for a free one`
            : error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND'
              ? `'${host}' is not an address of this machine (${error.code}). Check --host (e.g. 127.0.0.1 or 0.0.0.0)`
              : `${error.message}. Check --host and --port (--port 0 picks a free one)`
      reject(new ListenError(`cannot listen on ${host}:${port}: ${why}.`, { cause: error }))
    }
    const onListening = () => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen(port, host)
  })
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

  const url = values.redis === undefined ? undefined : parseRedisUrl(values.redis)

  const closers: (() => Promise<unknown> | unknown)[] = []
  try {
    let handler: ReturnType<typeof createDashboardHandler>
    let what: string
    if (url !== undefined) {
      const namespace = values.namespace ?? 'cache'
      let collector: Awaited<ReturnType<typeof collectSnapshots>>
      try {
        // No L1: this cache only listens to the namespace's stats channel.
        const watcher = await openObserver(url, namespace)
        try {
          collector = await withinObserverTimeout(
            url,
            'SUBSCRIBE',
            collectSnapshots((listener) => subscribeSnapshots(watcher.cache, listener)),
          )
        } catch (error) {
          // Redis stopped answering: dropped, not closed with a QUIT (another deadline to wait out).
          await watcher.close({ now: error instanceof RedisUnreachableError })
          throw error
        }
        closers.push(() => watcher.close())
      } catch (error) {
        if (!(error instanceof RedisUnreachableError)) throw error
        ctx.stderr.write(`${error.message}\n`)
        return 1
      }
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
    try {
      await listen(server, port, values.host)
    } catch (error) {
      if (!(error instanceof ListenError)) throw error
      ctx.stderr.write(`stratacache dashboard: ${error.message}\n`)
      return 1
    }
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
