/**
 * The demo behind `stratacache dashboard` without `--redis`: two caches over a simulated slow
 * origin, read by a skewed (Zipf) workload, so the page has live data on a fresh machine. Every
 * `scanEveryMs` a scan of rarely-read keys runs for `scanForMs`: the hit ratio drops, the
 * low-hit-ratio alert fires, then clears once the scan leaves the health window.
 */

import type { Duration } from '../../base/duration.js'
import { type Cache, createCache } from '../../core/cache.js'
import { Random } from '../../simulation/random.js'
import { ZipfianGenerator } from '../../simulation/zipf.js'
import { MemoryRemoteTier } from '../../tiers/memory/memory-remote-tier.js'

export interface DemoOptions {
  /** Reads per second over both caches (roughly: the workers pause between reads). Default 400. */
  readsPerSecond?: number
  /** How often a scan starts. Default 60 000 ms; 0 = never. */
  scanEveryMs?: number
  /** How long a scan lasts. Default 15 000 ms. */
  scanForMs?: number
  /** The health window of the demo caches (alerts follow it). Default '10s'. */
  window?: Duration
  /** Seed of the key choices. Default 1. */
  seed?: number
}

export interface DemoWorkload {
  readonly caches: readonly Cache[]
  /** Whether a scan is running now. */
  readonly scanning: boolean
  /** Starts a scan now (for `scanForMs`). */
  scan(): void
  /** Stops the workers and closes the caches. */
  stop(): Promise<void>
}

const WORKERS = 8

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A database that answers in 3–25 ms. */
async function origin(random: Random, value: unknown): Promise<unknown> {
  await sleep(3 + random.next() * 22)
  return value
}

export function startDemo(options: DemoOptions = {}): DemoWorkload {
  const readsPerSecond = options.readsPerSecond ?? 400
  const scanEveryMs = options.scanEveryMs ?? 60_000
  const scanForMs = options.scanForMs ?? 15_000
  const window = options.window ?? '10s'
  const random = new Random(options.seed ?? 1)
  const shared = new MemoryRemoteTier()
  // The simulated origin takes up to 25 ms, so the latency alert is set above it: in the demo,
  // the alerts that fire are the scan's (low hit ratio, then a full L1 evicting).
  const observability = { window, alerts: { p99Above: 0.05 } }
  const products = createCache({
    namespace: 'products',
    ttl: '60s',
    l1: { maxEntries: 8000 },
    l2: { tier: shared },
    observability,
  })
  const sessions = createCache({
    namespace: 'sessions',
    ttl: '10s',
    l1: { maxEntries: 2000 },
    l2: { tier: shared },
    observability,
  })
  const productIds = new ZipfianGenerator(20_000, 1.1)
  const userIds = new ZipfianGenerator(5_000, 1)

  let stopped = false
  let scanUntil = 0
  const read = async (): Promise<void> => {
    const roll = random.next()
    if (Date.now() < scanUntil && roll < 0.7) {
      // The scan: each id read once, as a report or a crawler would.
      const id = Math.floor(random.next() * 1_000_000)
      await products.getOrSet({ key: `product:${id}`, factory: () => origin(random, { id }) })
    } else if (roll < 0.55) {
      const id = productIds.next(random)
      await products.getOrSet({ key: `product:${id}`, factory: () => origin(random, { id }) })
    } else if (roll < 0.7) {
      const id = productIds.next(random)
      await products.getOrSet({ key: `product:${id}:reviews`, factory: () => origin(random, [id]) })
    } else if (roll < 0.78) {
      const page = Math.floor(random.next() * 20)
      await products.getOrSet({
        key: `category:${page % 7}:page:${page}`,
        factory: () => origin(random, page),
      })
    } else {
      const id = userIds.next(random)
      await sessions.getOrSet({ key: `user:${id}:cart`, factory: () => origin(random, { items: id % 5 }) })
    }
  }
  const pauseMs = (WORKERS * 1000) / readsPerSecond
  const worker = async (): Promise<void> => {
    while (!stopped) {
      try {
        await read()
      } catch {
        // A closed cache during stop: the loop ends at the next check.
      }
      await sleep(pauseMs)
    }
  }
  const workers = Array.from({ length: WORKERS }, worker)
  const scanner = scanEveryMs > 0 ? setInterval(() => demo.scan(), scanEveryMs) : undefined
  scanner?.unref()

  const demo: DemoWorkload = {
    caches: [products, sessions],
    get scanning() {
      return Date.now() < scanUntil
    },
    scan() {
      scanUntil = Date.now() + scanForMs
    },
    async stop() {
      stopped = true
      if (scanner !== undefined) clearInterval(scanner)
      await Promise.all(workers)
      await Promise.all([products.close(), sessions.close()])
    },
  }
  return demo
}
