import { afterAll, afterEach, beforeAll } from 'vitest'
/** Small shared pieces of the integration suites. */
import type { Cache, CacheOptions, StandardSchemaV1 } from '../../dist/index.js'
import {
  IoRedisAdapter,
  NodeRedisAdapter,
  type RedisAdapter,
  RedisTier,
} from '../../dist/tiers/redis/index.js'

import type { RedisCluster } from './redis-cluster.js'

export type ClientName = 'redis' | 'ioredis'

/** Both Redis clients, for `describe.each(CLIENTS)`. */
export const CLIENTS: readonly ClientName[] = ['redis', 'ioredis']

export { type Deferred, deferred } from './deferred.js'

/** Tracks the caches a test opens and closes them after each test (so no handle outlives it). */
export function closeAfterEach(): <C extends Cache>(cache: C) => C {
  const caches: Cache[] = []
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.close()))
  })
  return (cache) => {
    caches.push(cache)
    return cache
  }
}

/** A hand-written Standard Schema: `{ id: number }`. */
export const idSchema: StandardSchemaV1<unknown, { id: number }> = {
  '~standard': {
    version: 1,
    vendor: 'test',
    validate: (v: unknown) =>
      typeof (v as { id?: unknown } | null)?.id === 'number'
        ? { value: v as { id: number } }
        : { issues: [{ message: 'id must be a number' }] },
  },
}

export interface CallLog {
  get: string[][]
  mget: string[][]
  set: string[]
}

/** The adapter of `client` to `url`, with a command timeout and errors ignored (a test reads them elsewhere). */
export function openAdapter(client: ClientName, url: string, timeoutMs: number): RedisAdapter {
  const options = {
    commandTimeoutMs: timeoutMs,
    connectTimeoutMs: 1000,
    maxQueuedCommands: 10_000,
    onError: () => {},
  }
  return client === 'ioredis' ? new IoRedisAdapter(url, options) : new NodeRedisAdapter(url, options)
}

/**
 * A RedisAdapter over a real client that records every read it forwards, so a test can count
 * round trips exactly (each adapter call is one Redis command).
 */
export function countingTier(
  client: ClientName,
  url: string,
  timeoutMs = 500,
): { tier: RedisTier; calls: CallLog; reset: () => void } {
  const inner = openAdapter(client, url, timeoutMs)
  const calls: CallLog = { get: [], mget: [], set: [] }
  const adapter: RedisAdapter = {
    client: inner.client,
    get: (key) => {
      calls.get.push([key])
      return inner.get(key)
    },
    mget: (keys) => {
      calls.mget.push([...keys])
      return inner.mget(keys)
    },
    set: (key, value, ttlMs) => {
      calls.set.push(key)
      return inner.set(key, value, ttlMs)
    },
    setMany: (entries) => inner.setMany(entries),
    unlink: (keys) => inner.unlink(keys),
    scan: (cursor, match, count) => inner.scan(cursor, match, count),
    close: (force) => inner.close(force),
  }
  const tier = new RedisTier(adapter, { timeoutMs, batchSize: 100 })
  return {
    tier,
    calls,
    reset: () => {
      calls.get.length = 0
      calls.mget.length = 0
      calls.set.length = 0
    },
  }
}

/** Polls `check` every 10 ms until it returns true or `ms` pass; resolves to whether it did. */
export async function pollUntil(check: () => Promise<boolean> | boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return true
    if (Date.now() >= deadline) return false
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** How long `run()` takes to settle, and how it settled. */
export async function timed<T>(
  run: () => Promise<T>,
): Promise<{ ms: number; value?: T; error?: unknown; ok: boolean }> {
  const start = performance.now()
  try {
    const value = await run()
    return { ms: performance.now() - start, value, ok: true }
  } catch (error) {
    return { ms: performance.now() - start, error, ok: false }
  }
}

/**
 * Collects the file's unhandled rejections (registered for the whole file or describe block): a
 * test asserts the list is empty after its faults.
 */
export function collectUnhandledRejections(): unknown[] {
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  beforeAll(() => {
    process.on('unhandledRejection', onUnhandled)
  })
  afterAll(() => {
    process.off('unhandledRejection', onUnhandled)
  })
  return unhandled
}

/** After each test: every node of the cluster running again (resumed, restarted) and the cluster OK. */
export function restoreClusterAfterEach(cluster: () => RedisCluster, okWithinMs?: number): void {
  afterEach(async () => {
    for (const node of cluster().nodes) {
      node.resume()
      if (node.pid === undefined) await node.start()
    }
    await cluster().waitUntilOk(okWithinMs)
  }, 40_000)
}

/** A cache on the cluster: `l2: { redis: { cluster: urls }, client }`, no jitter, plus `extra`. */
export function clusterCacheOptions(
  cluster: () => RedisCluster,
  client: ClientName,
  namespace: string,
  extra: Partial<CacheOptions> = {},
): CacheOptions {
  return { namespace, jitter: 0, l2: { redis: { cluster: cluster().urls }, client }, ...extra }
}
