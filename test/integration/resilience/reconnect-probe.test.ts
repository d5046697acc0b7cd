/**
 * Issue 24: recovery is driven by the client reconnecting, not by the breaker's timer. With a
 * break of a minute, Redis is SIGKILLed and restarted: the breaker closes as soon as the client
 * reconnects — seconds, not the minute its timer would take — and the cache uses the L2 again.
 */
import { describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'

const server = useRedisServer()

/** Resolves with the time of the cache's next 'breaker' event with `state`; rejects after `ms`. */
function nextBreakerState(cache: Cache, state: 'open' | 'closed', ms: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cache.off('breaker', listener)
      reject(new Error(`no breaker '${state}' within ${ms} ms`))
    }, ms)
    const listener = (event: { state: string }) => {
      if (event.state !== state) return
      clearTimeout(timer)
      cache.off('breaker', listener)
      resolve(performance.now())
    }
    cache.on('breaker', listener)
  })
}

describe.each(CLIENTS)('the breaker probes when the client reconnects (client %s)', (client) => {
  const track = closeAfterEach()

  it('after Redis restarts, a breaker with a one-minute break closes once the client reconnects, not a minute later', async () => {
    const namespace = uniqueNamespace('reconnect-probe')
    const cache = track(
      createCache({
        namespace,
        l2: {
          redis: server().url,
          client,
          timeout: '500ms',
          breaker: { threshold: 1, breakDuration: '60s' },
        },
      }),
    )
    await cache.ready()
    await cache.set('k', 'before')
    const opened = nextBreakerState(cache, 'open', 20_000)
    await server().kill()
    // A call fails (the connection is gone) and opens the breaker: the next timer probe is a minute away.
    await cache.set('k', 'during')
    await opened
    await server().restart()
    const answeredAt = performance.now()
    // Generous for a loaded CI machine, and far below the break: only the reconnect can close it.
    const closedAt = await nextBreakerState(cache, 'closed', 30_000)
    expect(closedAt - answeredAt).toBeLessThan(30_000)
    await cache.set('k', 'after')
    const other = track(createCache({ namespace, l1: false, l2: { redis: server().url, client } }))
    expect(await other.get('k')).toBe('after')
  }, 90_000)

  it('after Redis restarts, the first write of each script costs no NOSCRIPT round trip: the client loaded them on reconnecting', async () => {
    const namespace = uniqueNamespace('reconnect-scripts')
    const cache = track(createCache({ namespace, l2: { redis: server().url, client, timeout: '2s' } }))
    await cache.ready()
    await cache.set('k', 'before', { tags: ['t'] })
    const opened = nextBreakerState(cache, 'open', 20_000)
    await server().kill()
    await cache.set('k', 'during')
    await opened
    await server().restart()
    await nextBreakerState(cache, 'closed', 30_000)
    // Every script of the tier once: a write batch, a tag bump, a lock and a write-back after a load.
    await cache.set('k', 'after', { tags: ['t'] })
    await cache.delete('k')
    await cache.invalidateTags(['t'])
    expect(await cache.getOrSet({ key: 'loaded', factory: async () => 'v' })).toBe('v')
    const errors = String(await server().command('INFO', 'errorstats'))
    expect(errors).not.toMatch(/NOSCRIPT/)
    expect(
      await track(createCache({ namespace, l1: false, l2: { redis: server().url, client } })).get('loaded'),
    ).toBe('v')
  }, 90_000)
})
