/** A stream the CLI writes to: `process.stdout` / `process.stderr`, or a fake in tests. */
export interface OutStream {
  write(chunk: string): boolean
  readonly isTTY?: boolean
  readonly columns?: number
}

/** Everything a command may touch outside its arguments, so that tests can substitute it. */
export interface CliContext {
  readonly stdout: OutStream
  readonly stderr: OutStream
  readonly env: NodeJS.ProcessEnv
}

/**
 * One subcommand, loaded lazily by `main` (src/cli/main.ts). `argv` is everything after the
 * command name; the command parses it itself (see `parseCommandArgs`) and handles `--help`.
 * Resolves to the process exit code. Throw a `UsageError` for bad arguments (exit code 2).
 */
export interface CommandModule {
  run(argv: string[], ctx: CliContext): Promise<number>
}
