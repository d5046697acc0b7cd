import type { OutStream } from './command.js'

/** A progress bar on one line of a terminal: `tick()` as work completes, `done()` to erase it. */
export interface Progress {
  tick(count?: number): void
  done(): void
}

export interface ProgressOptions {
  readonly stream: OutStream
  readonly total: number
  readonly label: string
  /** Usually {@link progressEnabled}; a disabled progress bar writes nothing. */
  readonly enabled: boolean
}

const REDRAW_EVERY_MS = 80
const NOOP: Progress = { tick() {}, done() {} }

/** Progress is drawn only on an interactive stderr, and never with `--json` or `--quiet`. */
export function progressEnabled(stream: OutStream, flags: { json?: boolean; quiet?: boolean }): boolean {
  return stream.isTTY === true && flags.json !== true && flags.quiet !== true
}

export function createProgress({ stream, total, label, enabled }: ProgressOptions): Progress {
  if (!enabled || total <= 0) return NOOP
  const started = performance.now()
  let completed = 0
  let lastDraw = Number.NEGATIVE_INFINITY
  let finished = false

  const draw = (now: number): void => {
    lastDraw = now
    const fraction = Math.min(1, completed / total)
    const counts = `${completed.toLocaleString('en-US')}/${total.toLocaleString('en-US')}`
    const tail = ` ${(fraction * 100).toFixed(0).padStart(3)}% ${counts} ${((now - started) / 1000).toFixed(1)}s`
    const columns = stream.columns || 80
    const width = Math.max(10, Math.min(40, columns - label.length - tail.length - 4))
    const filled = Math.round(fraction * width)
    const line = `${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}]${tail}`
    stream.write(`\r${line.slice(0, columns - 1)}\x1b[K`)
  }

  return {
    tick(count = 1) {
      if (finished) return
      completed += count
      const now = performance.now()
      if (now - lastDraw >= REDRAW_EVERY_MS || completed >= total) draw(now)
    },
    done() {
      if (finished) return
      finished = true
      stream.write('\r\x1b[K')
    },
  }
}
