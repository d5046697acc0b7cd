import { readFileSync } from 'node:fs'
import { encryptionFromEnv } from '../security/keyring.js'
import { type RotationReport, rotateKeys } from '../security/rotate.js'
import { parseCommandArgs, parseIntegerOption, UsageError } from './args.js'
import type { CliContext } from './command.js'
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
  --encrypt-plaintext    also encrypt plaintext entries (turning encryption on)
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
  const showProgress = !args.quiet && !args.json
  const report = await rotateKeys({
    l2: {
      redis: url,
      ...(args.client === undefined ? {} : { client: args.client }),
      ...(args.ca === undefined ? {} : { tls: { ca: readFileSync(args.ca, 'utf8') } }),
    },
    namespace: args.namespace,
    ...(args.tenant === undefined ? {} : { tenant: args.tenant }),
    encryption,
    batchSize,
    encryptPlaintext: args['encrypt-plaintext'],
    ...(showProgress
      ? {
          onProgress: (p: RotationReport) => {
            ctx.stderr.write(`scanned ${p.scanned}, rotated ${p.rotated}, already current ${p.current}\n`)
          },
        }
      : {}),
  })
  ctx.stdout.write(
    args.json
      ? `${JSON.stringify({ key: encryption.current, ...report })}\n`
      : summary(encryption.current, report),
  )
  return report.unreadable > 0 ? 1 : 0
}

function summary(current: string, r: RotationReport): string {
  return (
    `Rotated to key '${current}': ${r.rotated} re-encrypted, ${r.current} already current, ` +
    `${r.changed} changed meanwhile (written by a cache: current already), ${r.plaintext} plaintext, ` +
    `${r.unreadable} unreadable (key not in the ring, or tampered: they read as misses), ${r.scanned} keys scanned.\n`
  )
}
