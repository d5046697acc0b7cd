import { afterEach, describe, expect, it, vi } from 'vitest'
import { type Cache, type CacheOptions, createCache, type StrataError } from '../../dist/index.js'
import { CLIENTS, closeAfterEach, pollUntil, timed } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()
const TIMEOUT_MS = 200
/** Scheduling slack on top of a deadline (two CI cores, two suites at a time). */
const MARGIN_MS = 300
/** getOrSet's bound over one timeout: the factory is synchronous, so this is scheduling only. */
const GETORSET_SLACK_MS = 150

/** Resolves when the cache's breaker reports `state`. */
function breakerState(cache: Cache, state: 'closed' | 'open'): Promise<void> {
  return new Promise((resolve) => {
    const listener = (event: { state: string }) => {
      if (event.state !== state) return
      cache.off('breaker', listener)
      resolve()
    }
    cache.on('breaker', listener)
  })
}

describe.each(CLIENTS)('Redis down or frozen (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (namespace: string, l2: Partial<NonNullable<Exclude<CacheOptions['l2'], false>>> = {}) =>
    track(
      createCache({
        namespace,
        jitter: 0,
        l2: { redis: server().url, client, timeout: `${TIMEOUT_MS}ms`, ...l2 },
      }),
    )
  afterEach(async () => {
    if (server().spawned && server().pid === undefined) await server().restart()
  })

  it('with the server killed: get is a miss, set resolves (L1 updated, repair queued), and the L1 keeps serving', async () => {
    const cache = open(uniqueNamespace('killed'))
    await cache.set('warm', 'in L1')
    await server().kill()

    const get = await timed(() => cache.get('absent'))
    expect(get.ok).toBe(true)
    expect(get.value).toBeUndefined()
    expect(get.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)

    const set = await timed(() => cache.set('written', 1))
    expect(set.ok).toBe(true)
    expect(set.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)

    let calls = 0
    const loaded = await cache.getOrSet({
      key: 'loaded',
      factory: () => {
        calls++
        return 'from the source'
      },
    })
    expect(loaded).toBe('from the source')
    expect(calls).toBe(1)

    // The L1 keeps serving what it holds, including what the failed write stored there.
    expect(await cache.get('warm')).toBe('in L1')
    expect(cache.peek('written')).toBe(1)
    expect(cache.peek('loaded')).toBe('from the source')
    const stats = cache.stats()
    expect(stats.l2Errors + stats.l2Timeouts + stats.l2Skipped).toBeGreaterThanOrEqual(3)
    expect(stats.l2RepairsQueued).toBe(1)
    expect(stats.inFlight).toBe(0)
  })

  it("with writeErrors: 'throw', a set during the outage rejects with E_L2 or E_L2_TIMEOUT within the deadline", async () => {
    const cache = open(uniqueNamespace('killed-throw'), { writeErrors: 'throw', breaker: false })
    await cache.set('warm', 'in L1')
    await server().kill()
    const set = await timed(() => cache.set('written', 1))
    expect(set.ok).toBe(false)
    expect(['E_L2', 'E_L2_TIMEOUT']).toContain((set.error as StrataError).code)
    expect(set.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
    expect(cache.peek('written')).toBe(1)
  })

  it('with the server killed, getOrSet returns the factory value within a bounded time', async () => {
    const cache = open(uniqueNamespace('killed-load'))
    await cache.set('warm', 'in L1')
    await server().kill()
    const loaded = await timed(() => cache.getOrSet({ key: 'loaded', factory: () => 'from the source' }))
    expect(loaded.ok).toBe(true)
    expect(loaded.value).toBe('from the source')
    // At worst the failed read and the failed write-back each take one l2.timeout.
    expect(loaded.ms).toBeLessThan(2 * TIMEOUT_MS + MARGIN_MS)
  })

  it('with the server paused, getOrSet returns the factory value within one L2 timeout', async () => {
    const cache = open(uniqueNamespace('paused-load'))
    await cache.set('warm', 'in L1')
    server().pause()
    try {
      const loaded = await timed(() => cache.getOrSet({ key: 'loaded', factory: () => 'from the source' }))
      expect(loaded.ok).toBe(true)
      expect(loaded.value).toBe('from the source')
      // One l2.timeout for the read that found Redis unresponsive, not a second one for
      // writing the result back to the same unresponsive Redis.
      expect(loaded.ms).toBeLessThan(TIMEOUT_MS + GETORSET_SLACK_MS)
    } finally {
      server().resume()
    }
  })

  it('a value overwritten during a freeze never comes back from the L2: the key is deleted there once Redis answers', async () => {
    const namespace = uniqueNamespace('repair')
    const cache = open(namespace, { breaker: { threshold: 1, breakDuration: '100ms' } })
    const reader = open(namespace)
    await cache.set('k', 'old')
    const closed = breakerState(cache, 'closed')
    server().pause()
    try {
      const set = await timed(() => cache.set('k', 'new'))
      expect(set.ok).toBe(true)
      expect(cache.peek('k')).toBe('new')
    } finally {
      server().resume()
    }
    await closed
    expect(cache.stats()).toMatchObject({ l2RepairsQueued: 1, l2Repairs: 1 })
    // Deleted as of the failed set: a tombstone (fenced, so a value written after it would stay).
    expect(String(await server().command('GET', `${namespace}:v1:k`))).toMatch(/^!del:/)
    expect(await reader.get('k')).toBeUndefined()
  })

  it('a set made during a freeze reaches the other instances once Redis answers: their L1 copy is dropped', async () => {
    const namespace = uniqueNamespace('repair-bus')
    const cache = open(namespace, { breaker: { threshold: 1, breakDuration: '100ms' } })
    const other = open(namespace)
    await Promise.all([cache.ready(), other.ready()])
    await cache.set('k', 'old')
    await vi.waitFor(() => expect(other.stats().busMessages).toBe(1))
    expect(await other.get('k')).toBe('old')
    const closed = breakerState(cache, 'closed')
    server().pause()
    try {
      await cache.set('k', 'new')
    } finally {
      server().resume()
    }
    await closed
    await vi.waitFor(() => expect(other.peek('k')).toBeUndefined())
    expect(await other.get('k')).toBeUndefined()
    expect(cache.peek('k')).toBe('new')
  })

  it('a set that failed during an outage is not applied later, when Redis comes back', async () => {
    const namespace = uniqueNamespace('late')
    const cache = open(namespace, { writeErrors: 'throw', breaker: false })
    await cache.set('warm', 1)
    await server().kill()
    await expect(cache.set('k', 'written during the outage')).rejects.toMatchObject({
      code: expect.stringMatching(/^E_L2/),
    })
    await server().restart()
    // Once a new write succeeds, everything the client had queued before it has been sent.
    const reconnected = await pollUntil(async () => {
      try {
        await cache.set('probe', 1)
        return true
      } catch {
        return false
      }
    }, 5000)
    expect(reconnected).toBe(true)
    // What the key holds is the repair's tombstone (queued under 'throw' too: the caller may
    // never retry), never the value of the SET that rejected.
    const held = async () => String(await server().command('GET', `${namespace}:v1:k`))
    await expect.poll(held, { timeout: 5000 }).toMatch(/^!del:/)
    expect(
      await held(),
      'the SET that rejected during the outage reached Redis after the reconnect',
    ).not.toContain('written during the outage')
  })

  it('after a killed server comes back on the same port, the breaker closes and the same cache reaches Redis again', async () => {
    const namespace = uniqueNamespace('back')
    const cache = open(namespace, { breaker: { threshold: 1, breakDuration: '100ms' } })
    await cache.set('before', 1)
    const opened = breakerState(cache, 'open')
    await server().kill()
    await cache.set('during', 2)
    await opened
    const closed = breakerState(cache, 'closed')
    await server().restart()
    await closed
    await cache.set('after', 3)
    expect(await server().command('EXISTS', `${namespace}:v1:after`)).toBe(1)
  })

  it('with the server paused (SIGSTOP): get settles as a miss within the timeout, set resolves, and both recover after SIGCONT', async () => {
    const namespace = uniqueNamespace('paused')
    const cache = open(namespace, { breaker: { threshold: 2, breakDuration: '100ms' } })
    await cache.set('warm', 'in L1')
    const opened = breakerState(cache, 'open')
    server().pause()
    try {
      const get = await timed(() => cache.get('absent'))
      expect(get.ok).toBe(true)
      expect(get.value).toBeUndefined()
      expect(get.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)

      const loaded = await timed(() => cache.getOrSet({ key: 'loaded', factory: () => 'fresh' }))
      expect(loaded.value).toBe('fresh')
      expect(loaded.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
      await opened

      // Open breaker: nothing waits on the frozen server any more.
      const set = await timed(() => cache.set('written', 1))
      expect(set.ok).toBe(true)
      expect(set.ms).toBeLessThan(50)
      expect(cache.stats().l2Skipped).toBeGreaterThanOrEqual(1)
      expect(await cache.get('warm')).toBe('in L1')
    } finally {
      server().resume()
    }
    await breakerState(cache, 'closed')
    await cache.set('after', 'ok')
    const reader = open(namespace)
    expect(await reader.get('after')).toBe('ok')
  })
})
