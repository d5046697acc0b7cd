import { readFileSync } from 'node:fs'
import { encryptionFromEnv, KeyRing } from '../security/keyring.js'
import { ROTATE_CALL_TIMEOUT_MS, type RotationReport, rotateKeys } from '../security/rotate.js'
import type { RedisAdapter } from '../tiers/redis/adapter.js'
import { parseCommandArgs, parseIntegerOption, UsageError } from './args.js'
import type { CliContext } from './command.js'
import { connectRedis, RedisUnreachableError } from './redis-connection.js'
import { parseRedisUrl } from './redis-url.js'

const OPTIONS = {
  redis: { type: 'string' },
  namespace: { type: 'string' },
  tenant: { type: 'string' },
  'keys-env': { type: 'string', default: 'STRATACACHE_KEYS' },
  ca: { type: 'string' },
  client: { type: 'string' },
  'batch-size': { type: 'string', default: '500' },
  'encrypt-plaintext': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  quiet: { type: 'boolean', short: 'q', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

function help(): string {
  return `Usage: stratacache rotate-keys --redis URL --namespace NS [options]

Re-encrypts every entry of a namespace with the current key, in batches, while caches keep
running (SCAN, MGET, then a compare-and-swap per entry that keeps its TTL and never overwrites
a value written meanwhile). Keys come from the environment, never from the command line:

  STRATACACHE_KEYS="k2=<base64>,k1=<base64>"   current key first; every old key still listed

Deploy the new ring to every cache first (current: the new key, the old one still listed), then
run this; remove the old key once the longest TTL + grace has passed (docs/security.md).

Options:
  --redis URL            redis:// or rediss:// (credentials in the URL)
  --namespace NS         the caches' namespace (every version is rotated)
  --tenant T             only this tenant's entries
  --keys-env NAME        the variable holding the keys (default STRATACACHE_KEYS)
  --ca FILE              PEM of the CA that signed the server's certificate (rediss://)
  --client NAME          ioredis | redis (default: ioredis when installed)
  --batch-size N         keys per SCAN page and per round of swaps (default 500)
  --encrypt-plaintext    also encrypt plaintext entries (turning encryption on). Only while
                         every cache still runs with encryption.all: false: a plaintext entry
                         may have been planted by anyone who can write to Redis, and once
                         sealed it reads as authentic. Caches with all: true refuse plaintext;
                         to turn encryption on there, let the old entries read as misses.
  --json                 print the report as JSON
  -q, --quiet            no progress on stderr
  -h, --help             this help
`
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const args = parseCommandArgs(argv, OPTIONS)
  if (args.help) {
    ctx.stdout.write(help())
    return 0
  }
  if (args.redis === undefined) throw new UsageError('--redis is required (redis:// or rediss:// URL).')
  const url = parseRedisUrl(args.redis)
  if (args.namespace === undefined) throw new UsageError('--namespace is required.')
  if (args.client !== undefined && args.client !== 'ioredis' && args.client !== 'redis') {
    throw new UsageError(`--client must be ioredis or redis; got '${args.client}'.`)
  }
  const batchSize = parseIntegerOption('batch-size', args['batch-size'], { min: 1 })
  const encryption = encryptionFromEnv(args['keys-env'], ctx.env)
  // Checked before connecting: a bad key ring is told at once, not after (or hidden behind) a
  // Redis that cannot be reached.
  KeyRing.from(encryption)
  const showProgress = !args.quiet && !args.json
  if (args.ca !== undefined && !url.startsWith('rediss://')) {
    throw new UsageError('--ca applies to a rediss:// URL (TLS); --redis is plaintext redis://.')
  }
  const ca = args.ca === undefined ? undefined : readFileSync(args.ca, 'utf8')
  let report: RotationReport
  try {
    // The connection is the command's own: rotateKeys closing one it opened waited for a QUIT that
    // a silent Redis never answers (another 5 s after its deadline); this one is dropped at once.
    const redis = await connectRedis(url, {
      client: args.client,
      tls: ca === undefined ? undefined : { ca },
      timeoutMs: ROTATE_CALL_TIMEOUT_MS,
      batchSize,
    })
    try {
      report = await redis.run(
        "the rotation's commands (SCAN, MGET, EVALSHA)",
        () =>
          rotateKeys({
            l2: { redis: leftOpen(redis.tier.adapter), timeout: ROTATE_CALL_TIMEOUT_MS },
            namespace: args.namespace as string,
            ...(args.tenant === undefined ? {} : { tenant: args.tenant }),
            // The flag states that the caches still accept plaintext (all: false): rotateKeys
            // refuses to seal plaintext for caches that require encryption.
            encryption: args['encrypt-plaintext'] ? { ...encryption, all: false } : encryption,
            batchSize,
            encryptPlaintext: args['encrypt-plaintext'],
            ...(showProgress
              ? {
                  onProgress: (p: RotationReport) => {
                    ctx.stderr.write(
                      `scanned ${p.scanned}, rotated ${p.rotated}, already current ${p.current}\n`,
                    )
                  },
                }
              : {}),
          }),
        'Then run rotate-keys again: entries already rotated are skipped.',
      )
    } finally {
      // After a failure to reach Redis, run() has dropped the connection already.
      await redis.close()
    }
  } catch (error) {
    if (!(error instanceof RedisUnreachableError)) throw error
    ctx.stderr.write(`stratacache rotate-keys: ${error.message}\n`)
    return 1
  }
  if (report.plaintextSealed > 0) {
    // Not progress: shown with --quiet and --json too, since it changes what caches trust.
    ctx.stderr.write(
      `stratacache rotate-keys: warning: ${report.plaintextSealed} plaintext entries sealed with key '${encryption.current}': caches that require encryption (all: true) will trust them, whoever wrote them: run this only if no one else could write to this Redis since the entries were written.\n`,
    )
  }
  ctx.stdout.write(
    args.json
      ? `${JSON.stringify({ key: encryption.current, ...report })}\n`
      : summary(encryption.current, report),
  )
  return report.unreadable > 0 ? 1 : 0
}

/** `adapter` with a `close` that does nothing: whoever opened the connection closes it. */
function leftOpen(adapter: RedisAdapter): RedisAdapter {
  return new Proxy(adapter, {
    get(target, property) {
      if (property === 'close') return async () => {}
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

function summary(current: string, r: RotationReport): string {
  return (
    `Rotated to key '${current}': ${r.rotated} re-encrypted, ${r.current} already current, ` +
    `${r.changed} changed meanwhile (written by a cache: current already), ${r.plaintext} plaintext (${r.plaintextSealed} sealed), ` +
    `${r.unreadable} unreadable (key not in the ring, or tampered: they read as misses), ${r.scanned} keys scanned.\n`
  )
}
