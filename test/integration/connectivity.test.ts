import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { freePort, useRedisServer } from '../helpers/redis-server.js'

/**
 * A wrong Redis URL speaks: `ready({ timeout })` rejects within its timeout naming the socket's
 * or the server's error, the first failure is reported once (an 'l2-error' event with operation
 * 'connect', and a process warning carrying the cause), and health() and diagnose() name it.
 * Real servers: the suite's own, and the same one once it requires a password (requirepass).
 */
const server = useRedisServer()
const track = closeAfterEach()
const TIMEOUT_MS = 800
/** Scheduling slack on top of the timeout (two CI cores shared by several suites). */
const MARGIN_MS = 700
const PASSWORD = 'right-password'

let refusedUrl: string
let passwordUrl: (password: string | undefined) => string
beforeAll(async () => {
  // A port nothing listens on: bound once by freePort(), then released.
  refusedUrl = `redis://127.0.0.1:${await freePort()}`
  await server().command('CONFIG', 'SET', 'requirepass', PASSWORD)
  const { host, port } = server()
  passwordUrl = (password) =>
    password === undefined ? `redis://${host}:${port}` : `redis://:${password}@${host}:${port}`
})

const warnings: Error[] = []
const onWarning = (warning: Error) => warnings.push(warning)
beforeEach(() => {
  warnings.length = 0
  process.on('warning', onWarning)
})
afterEach(() => {
  process.off('warning', onWarning)
})

interface Observed {
  cache: Cache
  connectErrors: unknown[]
}

function open(url: string, client: 'redis' | 'ioredis', extra: CacheOptions = {}): Observed {
  const cache = track(createCache({ namespace: 'conn', l2: { redis: url, client }, ...extra }))
  const connectErrors: unknown[] = []
  cache.on('l2-error', (event) => {
    if (event.operation === 'connect') connectErrors.push(event.error)
  })
  return { cache, connectErrors }
}

/** ready() rejects within its timeout; resolves to the error. */
async function readyFails(cache: Cache): Promise<Error & { code: string; cause?: unknown }> {
  const started = performance.now()
  const error = await cache.ready({ timeout: TIMEOUT_MS }).then(
    () => {
      throw new Error('ready() resolved, but Redis should not have answered')
    },
    (e: unknown) => e as Error & { code: string; cause?: unknown },
  )
  expect(performance.now() - started).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
  return error
}

describe.each(CLIENTS)('connectivity that speaks (client %s)', (client) => {
  it('ready() resolves once Redis answered; health() names no error', async () => {
    const { cache, connectErrors } = open(passwordUrl(PASSWORD), client)
    await cache.ready({ timeout: '5s' })
    const health = await cache.health()
    expect(health.l2?.connected).toBe(true)
    expect(health.l2?.error).toBeUndefined()
    expect(connectErrors).toEqual([])
  })

  it('a refused port: ready() rejects naming ECONNREFUSED; reported once as an event and a warning', async () => {
    const { cache, connectErrors } = open(refusedUrl, client)
    const error = await readyFails(cache)
    expect(error.code).toBe('E_L2')
    expect(error.message).toMatch(/ECONNREFUSED/)
    expect(error.message).toMatch(/redis-server is running/)
    expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED')

    // The client retried several times meanwhile: one event, one warning, each with the cause.
    expect(connectErrors).toHaveLength(1)
    expect((connectErrors[0] as Error).message).toMatch(/Cannot connect to Redis: .*ECONNREFUSED/)
    expect(((connectErrors[0] as Error).cause as { code?: string }).code).toBe('ECONNREFUSED')
    const mine = warnings.filter((w) => /Cannot connect to Redis/.test(w.message))
    expect(mine).toHaveLength(1)
    expect(((mine[0] as Error).cause as { code?: string }).code).toBe('ECONNREFUSED')
    expect(cache.stats().l2ConnectionErrors).toBeGreaterThan(1)

    const health = await cache.health()
    expect(health.l2?.connected).toBe(false)
    expect(health.l2?.error).toMatch(/ECONNREFUSED/)
    const alert = health.alerts.find((a) => a.name === 'l2-unavailable')
    expect(alert?.message).toMatch(/ECONNREFUSED/)
    const finding = (await cache.diagnose()).findings.find((f) => f.kind === 'l2-unavailable')
    expect(finding?.message).toMatch(/ECONNREFUSED/)
    expect(finding?.evidence.error).toMatch(/ECONNREFUSED/)
  })

  it('a namespace shares the connection: its ready() names the cause, the failure is announced once', async () => {
    const { cache, connectErrors } = open(refusedUrl, client)
    const child = cache.namespace('child')
    const childErrors: unknown[] = []
    child.on('l2-error', (event) => {
      if (event.operation === 'connect') childErrors.push(event.error)
    })
    const error = await readyFails(child)
    expect(error.message).toMatch(/ECONNREFUSED/)
    expect(connectErrors).toHaveLength(1)
    expect(childErrors).toEqual([])
    expect(warnings.filter((w) => /Cannot connect to Redis/.test(w.message))).toHaveLength(1)
  })

  it('an unknown host: ready() rejects naming ENOTFOUND', async () => {
    const { cache, connectErrors } = open('redis://no-such-host.invalid:6390', client)
    const error = await readyFails(cache)
    expect(error.message).toMatch(/ENOTFOUND/)
    expect(error.message).toMatch(/host name does not resolve/)
    expect((error.cause as { code?: string }).code).toBe('ENOTFOUND')
    expect(connectErrors).toHaveLength(1)
    expect((await cache.health()).l2?.error).toMatch(/ENOTFOUND/)
  })

  it('a wrong password (requirepass): ready() rejects naming WRONGPASS', async () => {
    const { cache, connectErrors } = open(passwordUrl('wrong-password'), client)
    const error = await readyFails(cache)
    expect(error.message).toMatch(/WRONGPASS/)
    expect(error.message).toMatch(/refused the user name or password/)
    expect(error.message).not.toContain('wrong-password')
    expect(connectErrors).toHaveLength(1)
    expect((await cache.health()).l2?.error).toMatch(/WRONGPASS/)
  })

  it('no password where one is required: ready() rejects naming NOAUTH', async () => {
    const { cache } = open(passwordUrl(undefined), client)
    const error = await readyFails(cache)
    expect(error.message).toMatch(/NOAUTH/)
    expect(error.message).toMatch(/requires a password/)
  })
})

describe('ready({ timeout })', () => {
  it('refuses a timeout that is not a duration', async () => {
    const cache = track(createCache({ namespace: 'conn', l2: false }))
    await expect(cache.ready({ timeout: 'soon' as never })).rejects.toMatchObject({
      code: 'E_INVALID_OPTION',
    })
  })

  it('resolves at once without an L2', async () => {
    const cache = track(createCache({ namespace: 'conn', l2: false }))
    await expect(cache.ready({ timeout: 0 })).resolves.toBeUndefined()
  })
})
