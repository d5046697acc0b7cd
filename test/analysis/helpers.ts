import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { EventSink, RawEvent } from '../../dist/analysis/event.js'

/** A fresh temporary directory; `cleanup()` removes it. */
export async function tempDir(): Promise<{
  dir: string
  path: (name: string) => string
  cleanup: () => Promise<void>
}> {
  const dir = await mkdtemp(join(tmpdir(), 'stratacache-analyze-'))
  return { dir, path: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) }
}

export interface Collected {
  events: RawEvent[]
  bad: { line: number; reason: string }[]
  skips: number[]
}

/** A sink that keeps copies of what a reader emits. */
export function collector(): EventSink & Collected {
  const events: RawEvent[] = []
  const bad: { line: number; reason: string }[] = []
  const skips: number[] = []
  return {
    events,
    bad,
    skips,
    event: (event) => {
      events.push({ ...event })
    },
    malformed: (line, reason) => {
      bad.push({ line, reason })
    },
    skipped: (line) => {
      skips.push(line)
    },
  }
}
