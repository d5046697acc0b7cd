import type { Finding } from '../observability/diagnose.js'
import { subscribeSnapshots } from '../observability/publisher.js'
import type { CacheHealth, CacheSnapshot } from '../observability/types.js'
import { parseCommandArgs, parseDurationOption, UsageError } from './args.js'
import type { CliContext } from './command.js'
import {
  OBSERVER_CALL_TIMEOUT_MS,
  type Observer,
  openObserver,
  RedisUnreachableError,
  withinObserverTimeout,
} from './observer.js'
import { noAnswerMessage } from './redis-connection.js'
import { parseRedisUrl } from './redis-url.js'

const OPTIONS = {
  redis: { type: 'string' },
  namespace: { type: 'string' },
  wait: { type: 'string', default: '5s' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function help(): string {
  return `Usage: stratacache diagnose --redis URL --namespace NS [--wait 5s] [--json]

Explains a low hit ratio. Listens for the snapshots the instances of namespace NS publish
(createCache({ namespace: NS, observability: { publish: true } })) for --wait, reads Redis'
memory and eviction figures, and prints per instance: hit ratio, alerts and the findings of
its diagnosis (TTLs shorter than the reuse interval, an L1 too small — with the size that
would fix it —, key cardinality explosion, near-duplicate keys, one-hit wonders), then what
Redis itself says (maxmemory, policy, evictions).

Options:
  --redis URL        The Redis the instances share (redis:// or rediss://)
  --namespace NS     The caches' namespace
  --wait DURATION    How long to listen for snapshots (default 5s; instances publish every 2s)
  --json             Print { instances: [...], redis: {...} } as JSON
  -h, --help         Show this help

Exit codes: 0 done (even when no instance published: the report says so), 1 Redis unreachable, 2 bad usage.
`
}

/** Runs `stratacache diagnose`. */
export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const values = parseCommandArgs(argv, OPTIONS)
  if (values.help) {
    ctx.stdout.write(help())
    return 0
  }
  if (values.redis === undefined)
    throw new UsageError('diagnose needs --redis URL (the Redis the instances share).')
  if (values.namespace === undefined)
    throw new UsageError('diagnose needs --namespace NS (the caches’ namespace).')
  const url = parseRedisUrl(values.redis)
  const waitMs = parseDurationOption('wait', values.wait, { min: 0 })

  let observer: Observer
  try {
    // No L1 and no publishing: it only listens and asks Redis.
    observer = await openObserver(url, values.namespace, {
      bus: false,
      lock: false,
      observability: { recentReads: 0 },
    })
  } catch (error) {
    // The connection's own error: ECONNREFUSED, ENOTFOUND, WRONGPASS, NOAUTH, no answer…
    if (!(error instanceof RedisUnreachableError)) throw error
    ctx.stderr.write(`${error.message}\n`)
    return 1
  }
  // Redis stopped answering: the connection is dropped rather than closed with a QUIT (that would
  // wait out another deadline).
  let failed = false
  try {
    const latest = new Map<string, CacheSnapshot>()
    let unsubscribe: () => Promise<void>
    try {
      unsubscribe = await withinObserverTimeout(
        url,
        'SUBSCRIBE',
        subscribeSnapshots(observer.cache, (snapshot) => {
          if (snapshot.cache === values.namespace) latest.set(snapshot.instance, snapshot)
        }),
      )
    } catch (error) {
      if (!(error instanceof RedisUnreachableError)) throw error
      failed = true
      ctx.stderr.write(`${error.message}\n`)
      return 1
    }
    await new Promise((resolve) => setTimeout(resolve, waitMs))
    await unsubscribe()
    const redis = await observer.cache.health()
    if (redis.l2?.connected !== true || redis.l2.memory === undefined) {
      failed = true
      ctx.stderr.write(`${noAnswerMessage(url, 'INFO', OBSERVER_CALL_TIMEOUT_MS)}\n`)
      return 1
    }
    const instances = [...latest.values()].sort((a, b) => a.instance.localeCompare(b.instance))
    if (values.json) {
      ctx.stdout.write(`${JSON.stringify({ instances, redis: redis.l2 }, null, 2)}\n`)
      return 0
    }
    ctx.stdout.write(report(values.namespace, instances, redis, waitMs))
    return 0
  } finally {
    await observer.close({ now: failed })
  }
}

function report(
  namespace: string,
  instances: readonly CacheSnapshot[],
  redis: CacheHealth,
  waitMs: number,
): string {
  const lines: string[] = []
  const redisAlerts = redis.alerts.filter((a) => a.name !== 'low-hit-ratio' && a.name !== 'latency-high')
  const printed = new Set(redisAlerts.map((a) => `${a.name}\n${a.message}`))
  const aboutRedis = (a: { name: string; message: string }) =>
    REDIS_ALERTS.includes(a.name) || printed.has(`${a.name}\n${a.message}`)
  lines.push(
    `Namespace "${namespace}": ${instances.length} instance(s) published a snapshot in ${waitMs / 1000} s.`,
  )
  if (instances.length === 0) {
    lines.push(
      '  No instance publishes: create the caches with observability: { publish: true } (and the same namespace and Redis).',
    )
  }
  for (const snapshot of instances) {
    const s = snapshot.stats
    lines.push('')
    lines.push(
      `Instance ${snapshot.instance.slice(0, 8)} — ${snapshot.health.status}: hit ratio ${pct(s.hitRatio)} overall, ${pct(snapshot.health.window.hitRatio)} over the last ${snapshot.health.window.seconds.toFixed(0)} s (L1 ${pct(s.l1HitRatio)}, L2 ${pct(s.l2HitRatio)}); ${s.l1Entries} L1 entries, ${s.l1Evictions} evictions.`,
    )
    for (const alert of snapshot.health.alerts) {
      // Alerts about Redis itself are the same for every instance: printed once, under Redis.
      if (!aboutRedis(alert)) lines.push(`  ALERT ${alert.name}: ${alert.message}`)
    }
    const findings = snapshot.diagnosis?.findings ?? []
    if (findings.length === 0)
      lines.push('  No finding: nothing in its recent reads explains a low hit ratio.')
    for (const finding of findings) lines.push(...formatFinding(finding))
    if (snapshot.hotKeyGroups.length > 0) {
      lines.push(
        `  Hottest key groups: ${snapshot.hotKeyGroups
          .slice(0, 5)
          .map((g) => `${g.group} ${pct(g.share)}`)
          .join(', ')}`,
      )
    }
  }
  const memory = redis.l2?.memory
  if (memory !== undefined) {
    lines.push('')
    lines.push(
      `Redis: ${mb(memory.usedBytes)} used of ${memory.maxBytes === 0 ? 'no limit' : mb(memory.maxBytes)} (${memory.policy}).`,
    )
    for (const alert of redisAlerts) lines.push(`  ALERT ${alert.name}: ${alert.message}`)
  }
  // What other instances publish (alert messages, key groups, findings) is printed inert: a
  // control character (an escape sequence that clears the screen or retitles the terminal) is
  // shown as its JSON escape.
  return `${lines.map(inert).join('\n')}\n`
}

function inert(line: string): string {
  let out = ''
  for (const c of line) {
    const code = c.charCodeAt(0)
    out += code < 0x20 || (code >= 0x7f && code < 0xa0) ? `\\u${code.toString(16).padStart(4, '0')}` : c
  }
  return out
}

/** Alerts about the shared Redis, not about one instance. */
const REDIS_ALERTS: readonly string[] = ['redis-eviction-misconfigured']

function formatFinding(finding: Finding): string[] {
  return [`  ${finding.kind}: ${finding.message}`, `    → ${finding.suggestion}`]
}

const pct = (ratio: number) => `${(ratio * 100).toFixed(1)}%`
const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MB`
