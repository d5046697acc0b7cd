import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

// Memory is measured the way bench/memory.js measures it: heap + ArrayBuffers after two forced
// collections, in a fresh process per figure (`--expose-gc`), lru-cache measured in the same test,
// each full cache at steady state: twice its capacity written, so half was evicted and the ghost
// history is as large as it gets.
const BENCH = resolve(import.meta.dirname, '../../bench/memory.js')
const ENTRIES = 100_000
const WRITTEN = 2 * ENTRIES

interface Footprint {
  bytesPerEntry: number
  heap: number
  arrayBuffers: number
}

/** The footprint of `impl` with room for `capacity`, after `written` distinct keys (it holds `held`). */
function footprint(impl: string, capacity: number, held = capacity, written = held): Footprint {
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', BENCH, '--child', impl, String(capacity), String(held), String(written)],
    { encoding: 'utf8', maxBuffer: 1 << 20 },
  )
  if (run.status !== 0) throw new Error(`${impl}: ${run.stderr}`)
  return JSON.parse(run.stdout.trim().split('\n').pop() as string) as Footprint
}

describe('L1 memory footprint (heap + ArrayBuffers, fresh process each)', () => {
  it('a full store costs at most 1.5× lru-cache per entry', () => {
    const peer = footprint('lru-cache', ENTRIES, ENTRIES, WRITTEN).bytesPerEntry
    for (const policy of ['w-tinylfu', 'lru']) {
      const own = footprint(`store:${policy}`, ENTRIES, ENTRIES, WRITTEN).bytesPerEntry
      expect(
        own,
        `store:${policy} ${own.toFixed(1)} B vs lru-cache ${peer.toFixed(1)} B`,
      ).toBeLessThanOrEqual(1.5 * peer)
    }
  }, 120_000)

  it('a full createCache L1 (default policy and TTL) costs at most 1.5× plain lru-cache per entry, filled and at steady state', () => {
    for (const written of [ENTRIES, WRITTEN]) {
      const peer = footprint('lru-cache', ENTRIES, ENTRIES, written).bytesPerEntry
      const own = footprint('cache:w-tinylfu', ENTRIES, ENTRIES, written).bytesPerEntry
      expect(
        own,
        `${written} written: ${own.toFixed(1)} B vs lru-cache ${peer.toFixed(1)} B`,
      ).toBeLessThanOrEqual(1.5 * peer)
    }
  }, 120_000)

  it('room for 1,000,000 entries holding 1,000 costs under 8 MB', () => {
    const room = footprint('cache:w-tinylfu', 1_000_000, 1_000)
    expect(room.heap + room.arrayBuffers).toBeLessThan(8_000_000)
  }, 120_000)
})
