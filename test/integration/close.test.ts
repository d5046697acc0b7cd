import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { CLIENTS } from '../helpers/fixtures.js'
import { TRACKING_ACL, uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()
const trackingServer = useRedisServer({ acl: TRACKING_ACL })
const DIST = fileURLToPath(new URL('../../dist/index.js', import.meta.url))
const EXIT_WITHIN_MS = 5000

interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
  ms: number
  stderr: string
}

/** Runs an ES module script in a fresh node; SIGKILLs it if it has not exited within 5 s. */
function runScript(script: string): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, ms: performance.now() - start, stderr })
    })
  })
}

describe.each(CLIENTS)('close() (client %s)', (client) => {
  afterEach(async () => {
    if (server().spawned && server().pid === undefined) await server().restart()
  })

  it('lets the process exit on its own: no handle is left open', async () => {
    const namespace = uniqueNamespace('close')
    const script = `
      import { createCache } from ${JSON.stringify(DIST)}
      const c = createCache({ namespace: ${JSON.stringify(namespace)}, l2: { redis: ${JSON.stringify(server().url)}, client: ${JSON.stringify(client)} } })
      await c.set('k', 1)
      await c.close()
    `
    const exit = await runScript(script)
    expect(exit.stderr).toBe('')
    expect(exit.signal).toBeNull()
    expect(exit.code).toBe(0)
    expect(exit.ms).toBeLessThan(EXIT_WITHIN_MS)
    // It did talk to Redis before closing.
    expect(await server().command('EXISTS', `${namespace}:v1:k`)).toBe(1)
  })

  it('lets the process exit when Redis is unreachable', async () => {
    const namespace = uniqueNamespace('close-down')
    await server().kill()
    const script = `
      import { createCache } from ${JSON.stringify(DIST)}
      const c = createCache({ namespace: ${JSON.stringify(namespace)}, l2: { redis: ${JSON.stringify(server().url)}, client: ${JSON.stringify(client)}, timeout: '200ms' } })
      const value = await c.getOrSet({ key: 'k', factory: () => 42 })
      if (value !== 42) throw new Error('unexpected value ' + value)
      await c.close()
    `
    const exit = await runScript(script)
    // Nothing on stderr but the one connection warning a refused Redis gets (reported once, with
    // its cause): no unhandled rejection, no second report.
    const lines = exit.stderr.split('\n').filter((line) => line !== '' && !line.includes('--trace-warnings'))
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/\[E_L2\] L2Error: Cannot connect to Redis: connect ECONNREFUSED/)
    expect(exit.signal).toBeNull()
    expect(exit.code).toBe(0)
  })
})

/** Resolves 'closed', or 'hung' when `cache.close()` has not settled within 5 s. */
function closeWithin(cache: Cache): Promise<'closed' | 'hung'> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve('hung'), EXIT_WITHIN_MS)
    cache.close().then(() => {
      clearTimeout(timer)
      resolve('closed')
    }, reject)
  })
}

describe.each(CLIENTS)('close() after Redis went away (client %s)', (client) => {
  afterEach(async () => {
    if (trackingServer().spawned && trackingServer().pid === undefined) await trackingServer().restart()
  })

  // node-redis queued the subscriber's UNSUBSCRIBE (RESP3, tracking mode) for a connection that
  // never came back, and close() never settled.
  it.each(['bus', 'tracking'] as const)('settles in %s mode', async (invalidation) => {
    const cache = createCache({
      namespace: uniqueNamespace('close-gone'),
      l2: { redis: trackingServer().url, client, invalidation },
    })
    await cache.ready()
    await cache.set('k', 1)
    await trackingServer().kill()
    expect(await closeWithin(cache)).toBe('closed')
  })
})
