import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The real traces kept in the repository (traces/, with their sources and licences in its README). */
export const TRACES_DIR = fileURLToPath(new URL('../../traces/', import.meta.url))
/** A real trace from traces/; a missing one fails the test loudly (never a silent skip). */
export const trace = (name: string): string => {
  const path = join(TRACES_DIR, name)
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: the real traces live in traces/ at the repository's root (see its README).`,
    )
  }
  return path
}

export async function collect<T>(iterable: AsyncIterable<T> | Iterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of iterable) out.push(item)
  return out
}

/** A fresh temporary directory; `cleanup()` removes it. */
export async function tempDir(): Promise<{
  dir: string
  path: (name: string) => string
  cleanup: () => Promise<void>
}> {
  const dir = await mkdtemp(join(tmpdir(), 'stratacache-sim-'))
  return { dir, path: (name) => join(dir, name), cleanup: () => rm(dir, { recursive: true, force: true }) }
}

/** `buffer` cut into pieces of 1, 2, 3, … `maxPiece` bytes, cycling: every possible split point gets hit. */
export function splitEverywhere(buffer: Buffer, maxPiece = 7): Buffer[] {
  const pieces: Buffer[] = []
  let size = 1
  for (let i = 0; i < buffer.length; i += size, size = (size % maxPiece) + 1) {
    pieces.push(buffer.subarray(i, Math.min(buffer.length, i + size)))
  }
  return pieces
}
