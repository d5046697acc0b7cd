/**
 * waitUntil against a simulated serverless runtime (test/helpers/workers/serverless-worker.mjs):
 * a process that answers one request and ends the work right after, unless the cache handed it
 * promises. The L2 holds a stale value (within grace); the request is answered with it while the
 * refresh runs in the background. With waitUntil the refresh completes (the new value is in
 * Redis); without it the runtime cuts it off (Redis still holds only the stale value).
 */
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createCache } from '../../dist/index.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const WORKER = fileURLToPath(new URL('../helpers/workers/serverless-worker.mjs', import.meta.url))
const server = useRedisServer()

interface Invocation {
  /** The JSON lines the runtime wrote: the response, then (when it waited) what it waited for. */
  lines: Record<string, unknown>[]
  code: number | null
}

/** Runs one request in a fresh runtime process and resolves when the process has exited. */
function invoke(config: Record<string, unknown>): Promise<Invocation> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const lines = out
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>)
      resolve({ lines, code })
    })
  })
}

/**
 * Stores `old` as a stale entry within grace: written by an instance whose clock is 10 minutes
 * behind, so its 1-minute TTL ended 9 minutes ago and its 1-hour grace has not.
 */
async function seedStale(namespace: string, key: string): Promise<void> {
  const past = createCache({
    namespace,
    l1: false,
    l2: { redis: server().url },
    ttl: '1m',
    grace: '1h',
    jitter: 0,
    clock: () => Date.now() - 600_000,
  })
  await past.set(key, 'old')
  await past.close()
}

/** What the L2 holds for `key` now, as a fresh instance reads it: the fresh value, or undefined. */
async function freshInRedis(namespace: string, key: string): Promise<unknown> {
  const reader = createCache({ namespace, l1: false, l2: { redis: server().url } })
  try {
    return await reader.get(key)
  } finally {
    await reader.close()
  }
}

/** One request for `k`, with a stale `old` in Redis, in a fresh runtime; the namespace used and the run. */
async function requestWithStaleInRedis(config: { waitUntil: boolean; factory: 'fresh' | 'fails' }) {
  const namespace = uniqueNamespace('serverless')
  await seedStale(namespace, 'k')
  const run = await invoke({ url: server().url, namespace, key: 'k', ...config })
  expect(run.code).toBe(0)
  return { namespace, lines: run.lines }
}

describe('waitUntil in a runtime that stops work once the response is sent', () => {
  it('with waitUntil, the stale answer’s refresh completes: the new value is in Redis after the runtime ended', async () => {
    const { namespace, lines } = await requestWithStaleInRedis({ waitUntil: true, factory: 'fresh' })
    const [response, waited] = lines
    expect(response).toEqual({ answered: 'old', handed: 1 })
    // The refresh, then the lock's release it handed in turn: all settled, none rejected.
    expect(waited?.settled).toEqual(['fulfilled', 'fulfilled'])
    expect(waited?.faults).toEqual([])
    expect(await freshInRedis(namespace, 'k')).toBe('fresh')
    expect(await server().command('EXISTS', `!lock:${namespace}:v1:k`)).toBe(0)
  })

  it('without waitUntil, the same refresh is cut off: Redis still holds only the stale value', async () => {
    const { namespace, lines } = await requestWithStaleInRedis({ waitUntil: false, factory: 'fresh' })
    expect(lines).toEqual([{ answered: 'old', handed: 0 }])
    expect(await freshInRedis(namespace, 'k')).toBeUndefined()
    expect(await server().command('EXISTS', `${namespace}:v1:k`)).toBe(1)
  })

  it('a background refresh whose origin fails is handed as a promise that resolves: no rejection reaches the runtime', async () => {
    const { namespace, lines } = await requestWithStaleInRedis({ waitUntil: true, factory: 'fails' })
    const [response, waited] = lines
    expect(response).toEqual({ answered: 'old', handed: 1 })
    expect(waited?.settled).not.toContain('rejected')
    expect(waited?.faults).toEqual([])
    expect(await freshInRedis(namespace, 'k')).toBeUndefined()
  })
})
