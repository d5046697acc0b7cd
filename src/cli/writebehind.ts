import { InvalidOptionError } from '../errors.js'
import { TaggedJsonSerializer } from '../serialization/tagged-json.js'
import type { StreamCommands } from '../tiers/tier.js'
import { RedisStreamLog } from '../write/redis-stream-log.js'
import type { DeadLetter } from '../write/types.js'
import { createWriteBehind } from '../write/write-behind.js'
import { parseCommandArgs, parseIntegerOption, UsageError } from './args.js'
import type { CliContext } from './command.js'
import { connectRedis, RedisUnreachableError } from './redis-connection.js'
import { parseRedisUrl } from './redis-url.js'

/** Each Redis call's deadline (and the first PING's). */
const TIMEOUT_MS = 5000

const OPTIONS = {
  redis: { type: 'string' },
  client: { type: 'string' },
  namespace: { type: 'string', default: 'cache' },
  name: { type: 'string' },
  count: { type: 'string', default: '100' },
  after: { type: 'string' },
  ids: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const

const ACTIONS = ['list', 'count', 'replay', 'remove'] as const
type Action = (typeof ACTIONS)[number]

function help(): string {
  return `Usage: stratacache writebehind dlq <list|count|replay|remove> --name NAME [options]

The dead-letter stream of a write-behind log: writes that flush() kept rejecting while the
database accepted others. 'replay' puts them back in the log with their original id and
sequence (so a newer write of the same key still wins); 'remove' drops them for good.

  --redis URL        The Redis of the cache (default: $REDIS_URL, else redis://127.0.0.1:6379)
  --client C         ioredis | redis (default: whichever is installed, ioredis first)
  --namespace NS     The cache's namespace (default 'cache')
  --name NAME        The write-behind's name (cache.writeBehind({ name }))
  --count N          list: at most N dead letters (default 100)
  --after ID         list: those after this dead-letter id (paging)
  --ids ID,ID        replay/remove: only these dead-letter ids (replay: default all)
  --json             Machine-readable output on stdout
  -h, --help         Show this help

Exit codes: 0 success, 1 failure (Redis unreachable…), 2 bad usage.
`
}

export async function run(argv: string[], ctx: CliContext): Promise<number> {
  const [group, action, ...rest] = argv
  if (group === '-h' || group === '--help' || action === '-h' || action === '--help') {
    ctx.stdout.write(help())
    return 0
  }
  if (group !== 'dlq') throw new UsageError(`expected 'dlq' after 'writebehind'; got '${group ?? ''}'.`)
  if (!ACTIONS.includes(action as Action)) {
    throw new UsageError(
      `expected one of ${ACTIONS.join(', ')} after 'writebehind dlq'; got '${action ?? ''}'.`,
    )
  }
  const values = parseCommandArgs(rest, OPTIONS)
  if (values.help) {
    ctx.stdout.write(help())
    return 0
  }
  if (values.name === undefined) throw new UsageError('--name is required (the write-behind name).')
  if (values.client !== undefined && values.client !== 'ioredis' && values.client !== 'redis') {
    throw new UsageError(`--client must be ioredis or redis; got '${values.client}'.`)
  }
  const ids = values.ids
    ?.split(',')
    .map((id) => id.trim())
    .filter((id) => id !== '')
  if (action === 'remove' && (ids === undefined || ids.length === 0)) {
    throw new UsageError('remove needs --ids (the dead-letter ids to drop; see list).')
  }
  const count = parseIntegerOption('count', values.count, { min: 1, max: 100_000 })
  const url = parseRedisUrl(values.redis ?? ctx.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  try {
    const redis = await connectRedis(url, { client: values.client, timeoutMs: TIMEOUT_MS })
    try {
      await redis.run(`the dead-letter commands (${action})`, () =>
        dlq(action as Action, redis.tier.streams, values, ids, count, ctx.stdout),
      )
    } finally {
      // After a failure to reach Redis, run() has dropped the connection already.
      await redis.close()
    }
    return 0
  } catch (error) {
    if (!(error instanceof RedisUnreachableError)) throw error
    ctx.stderr.write(`stratacache writebehind: ${error.message}\n`)
    return 1
  }
}

async function dlq(
  action: Action,
  streams: StreamCommands | undefined,
  values: { namespace: string; name?: string | undefined; after?: string | undefined; json: boolean },
  ids: string[] | undefined,
  count: number,
  out: CliContext['stdout'],
): Promise<void> {
  if (streams === undefined) throw new InvalidOptionError('this Redis client offers no stream commands.')
  const name = values.name as string
  const log = new RedisStreamLog(streams, { namespace: values.namespace, name })
  const wb = createWriteBehind(
    { log },
    {
      name,
      partitions: (await log.storedPartitions()) ?? 1,
      flusher: false,
      updateCache: false,
      flush: async () => {
        throw new Error('the CLI never flushes')
      },
    },
  )
  switch (action) {
    case 'list': {
      const letters = await wb.deadLetters.list({
        count,
        ...(values.after === undefined ? {} : { after: values.after }),
      })
      if (values.json) out.write(`${JSON.stringify(letters.map(toJson), null, 2)}\n`)
      else out.write(table(letters))
      break
    }
    case 'count': {
      const n = await wb.deadLetters.count()
      out.write(values.json ? `${JSON.stringify({ count: n })}\n` : `${n}\n`)
      break
    }
    case 'replay': {
      const n = await wb.deadLetters.replay(ids)
      out.write(values.json ? `${JSON.stringify({ replayed: n })}\n` : `replayed ${n}\n`)
      break
    }
    case 'remove': {
      const n = await wb.deadLetters.remove(ids ?? [])
      out.write(values.json ? `${JSON.stringify({ removed: n })}\n` : `removed ${n}\n`)
      break
    }
  }
}

const serializer = new TaggedJsonSerializer()

/** The value as JSON when the default serializer reads it; otherwise its size. */
function show(letter: DeadLetter): string | null {
  if (letter.value === undefined) return null
  try {
    return JSON.stringify(serializer.decode(letter.value)) ?? null
  } catch {
    return `<${letter.value.byteLength} bytes>`
  }
}

function toJson(letter: DeadLetter) {
  return {
    deadId: letter.deadId,
    key: letter.key,
    op: letter.op,
    value: show(letter),
    id: letter.id,
    seq: letter.seq,
    attempts: letter.attempts,
    error: letter.error,
    failedAt: new Date(letter.failedAt).toISOString(),
  }
}

function table(letters: readonly DeadLetter[]): string {
  if (letters.length === 0) return 'no dead letters\n'
  const rows = letters.map((l) => [
    l.deadId,
    l.key,
    l.op,
    String(l.attempts),
    new Date(l.failedAt).toISOString(),
    clip(show(l) ?? '', 30),
    clip(l.error, 60),
  ])
  const head = ['DEAD ID', 'KEY', 'OP', 'TRIES', 'FAILED AT', 'VALUE', 'ERROR']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  const line = (cells: readonly string[]) =>
    `${cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()}\n`
  return line(head) + rows.map(line).join('')
}

function clip(text: string, width: number): string {
  const flat = text.replace(/\s+/g, ' ')
  return flat.length <= width ? flat : `${flat.slice(0, width - 1)}…`
}
