import { readFileSync } from 'node:fs'
import { closest, UsageError } from './args.js'
import type { CliContext, CommandModule } from './command.js'

interface CommandEntry {
  /** One line for `stratacache --help`. */
  readonly summary: string
  /** Loaded only when the command runs, so one command's dependencies never slow another's start. */
  readonly load: () => Promise<CommandModule>
}

/** The subcommands. Adding one: a module exporting `run` (see CommandModule) and a line here. */
export const commands: Readonly<Record<string, CommandEntry>> = {
  dashboard: {
    summary:
      'Serve a live dashboard (with /metrics and /health) of a demo, or of instances publishing through Redis',
    load: () => import('./dashboard.js'),
  },
  demo: {
    summary: 'Replay a product-catalog workload against SQLite: no cache vs L1 vs L1 + Redis L2',
    load: () => import('./demo/command.js'),
  },
  diagnose: {
    summary:
      'Explain a low hit ratio: what the instances of a namespace publish over Redis, and what Redis says',
    load: () => import('./diagnose.js'),
  },
  simulate: {
    summary:
      'Replay a cache trace or a synthetic workload through every eviction policy and OPT, at several sizes',
    load: () => import('./simulate.js'),
  },
  analyze: {
    summary:
      'Read an access or query log and recommend what to cache, TTLs, cache size and policy, with the predicted hit ratio',
    load: () => import('./analyze.js'),
  },
  writebehind: {
    summary: "A write-behind log's dead letters: list, count, replay or remove them",
    load: () => import('./writebehind.js'),
  },
  'rotate-keys': {
    summary:
      'Re-encrypt every entry of a namespace with the current encryption key, in batches, while caches run',
    load: () => import('./rotate-keys.js'),
  },
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((name) => name.length))
  const list = Object.entries(commands)
    .map(([name, { summary }]) => `  ${name.padEnd(width)}  ${summary}`)
    .join('\n')
  return `Usage: stratacache <command> [options]

Commands:
${list}

Options:
  -h, --help     Show this help (or 'stratacache <command> --help' for a command's options)
  -v, --version  Print the version

Exit codes: 0 success, 1 failure, 2 bad usage.
`
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: string
  }
  return pkg.version ?? 'unknown'
}

const defaultContext = (): CliContext => ({
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
})

/** Runs the CLI with `argv` (without node and the script path); resolves to the exit code. */
export async function main(argv: readonly string[], ctx: CliContext = defaultContext()): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined) {
    ctx.stderr.write(help())
    return 2
  }
  if (first === '-h' || first === '--help') {
    ctx.stdout.write(help())
    return 0
  }
  if (first === '-v' || first === '--version') {
    ctx.stdout.write(`${version()}\n`)
    return 0
  }
  if (first === 'help') {
    if (rest[0] === undefined) {
      ctx.stdout.write(help())
      return 0
    }
    return main([rest[0], '--help'], ctx)
  }
  if (first.startsWith('-')) {
    ctx.stderr.write(`stratacache: unknown option '${first}'. Options go after the command.\n\n${help()}`)
    return 2
  }

  const entry = Object.hasOwn(commands, first) ? commands[first] : undefined
  if (entry === undefined) {
    const suggestion = closest(first, Object.keys(commands))
    ctx.stderr.write(
      `stratacache: unknown command '${first}'.${suggestion === undefined ? '' : ` Did you mean '${suggestion}'?`}\n` +
        `Commands: ${Object.keys(commands).join(', ')}. Run 'stratacache --help' for details.\n`,
    )
    return 2
  }

  try {
    const command = await entry.load()
    return await command.run(rest, ctx)
  } catch (error) {
    if (error instanceof UsageError) {
      ctx.stderr.write(
        `stratacache ${first}: ${error.message}\nRun 'stratacache ${first} --help' for usage.\n`,
      )
      return 2
    }
    ctx.stderr.write(`stratacache ${first}: ${describeError(error)}\n`)
    if (ctx.env.STRATACACHE_DEBUG && error instanceof Error && error.stack)
      ctx.stderr.write(`${error.stack}\n`)
    return 1
  }
}

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  let text = error.message
  let cause = error.cause
  for (let depth = 0; cause !== undefined && depth < 3; depth++) {
    text += `\n  caused by: ${cause instanceof Error ? cause.message : String(cause)}`
    cause = cause instanceof Error ? cause.cause : undefined
  }
  return text
}
