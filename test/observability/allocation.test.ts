import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const WORKER = fileURLToPath(new URL('./workers/hit-path-allocation.mjs', import.meta.url))

/** Bytes per call of each measurement; a measurement a collection ran inside is refused (it would hide allocations). */
function measureAllocations(): Record<string, number> {
  const run = spawnSync(
    process.execPath,
    ['--expose-gc', '--trace-gc', '--min-semi-space-size=64', '--max-semi-space-size=64', WORKER],
    { encoding: 'utf8', timeout: 60_000 },
  )
  expect(run.status, run.stderr).toBe(0)
  const results: Record<string, number> = {}
  let open: string | undefined
  for (const line of run.stdout.split('\n')) {
    const start = /^measure-start (\S+)$/.exec(line)
    if (start !== null) {
      open = start[1]
      continue
    }
    if (line.startsWith('measure-end ')) {
      open = undefined
      continue
    }
    const result = /^result (\S+) (\S+)$/.exec(line)
    if (result !== null) {
      results[result[1] as string] = Number(result[2])
      continue
    }
    if (open !== undefined && /Scavenge|Mark-Compact|Mark-sweep/i.test(line)) {
      throw new Error(
        `A garbage collection ran during the "${open}" measurement; the young generation is too small for it.`,
      )
    }
  }
  return results
}

describe('the L1 hit path allocates nothing of its own', () => {
  it('with stats disabled or enabled, a hit allocates no more than the promise any async read allocates; a tracing subscriber is seen', () => {
    const bytes = measureAllocations()
    const baseline = bytes.baseline as number
    expect(baseline).toBeGreaterThan(0)
    for (const name of ['getOrSet-off', 'get-off', 'getOrSet-on', 'get-on']) {
      expect(bytes[name], `${name}: ${JSON.stringify(bytes)}`).toBeLessThanOrEqual(baseline + 8)
    }
    // peek is synchronous: awaiting its value costs what awaiting any value costs.
    expect(bytes['peek-off']).toBeLessThanOrEqual(baseline + 8)
    expect(bytes['peek-on']).toBeLessThanOrEqual(baseline + 8)
    // The measurement can see an allocation per call: with a tracing subscriber, each call allocates its context.
    expect(bytes['getOrSet-traced']).toBeGreaterThan(baseline + 64)
  })
})
