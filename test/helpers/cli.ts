import type { CliContext } from '../../dist/cli/command.js'

/** A CLI context whose stdout and stderr are kept in strings (stderr a TTY when `tty`). */
export function captureCli(tty = false): { ctx: CliContext; stdout: () => string; stderr: () => string } {
  let out = ''
  let err = ''
  return {
    ctx: {
      stdout: {
        write: (chunk: string) => {
          out += chunk
          return true
        },
      },
      stderr: {
        write: (chunk: string) => {
          err += chunk
          return true
        },
        isTTY: tty,
        columns: 100,
      },
      env: {},
    },
    stdout: () => out,
    stderr: () => err,
  }
}
