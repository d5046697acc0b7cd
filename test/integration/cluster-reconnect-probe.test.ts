/**
 * On a Redis Cluster, as on a single Redis (resilience/reconnect-probe.test.ts): a master's
 * breaker probes when the client's connection to that master is ready again, not at the end of
 * its break. With a one-minute break, a master (no replica: nothing takes its slots over) is
 * SIGKILLed and started again; its breaker — and only its — opens, then closes within seconds of
 * the restart, and its keys are read and written through the L2 again.
 */
import { loadavg } from 'node:os'
import { describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { type ClusterNode, useRedisCluster } from '../helpers/redis-cluster.js'
import { uniqueNamespace } from '../helpers/redis-server.js'

const cluster = useRedisCluster(3)

/** Resolves with the time of `cache`'s next 'breaker' event of `master` with `state`; rejects after `ms`. */
function nextBreakerState(
  cache: Cache,
  master: string,
  state: 'open' | 'closed',
  ms: number,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cache.off('breaker', listener)
      reject(new Error(`no breaker '${state}' for ${master} within ${ms} ms`))
    }, ms)
    const listener = (event: { state: string; master?: string }) => {
      if (event.state !== state || event.master !== master) return
      clearTimeout(timer)
      cache.off('breaker', listener)
      resolve(performance.now())
    }
    cache.on('breaker', listener)
  })
}

describe.each(CLIENTS)(
  'a cluster master’s breaker probes when its connection is back (client %s)',
  (client) => {
    const track = closeAfterEach()

    it('a master restarted: its breaker (one-minute break) closes once the client reconnects to it, the others never opened', async () => {
      const namespace = uniqueNamespace('cluster-reconnect')
      const victim = (await cluster().masters())[0] as ClusterNode
      const master = `127.0.0.1:${victim.port}`
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
      const owners = await Promise.all(keys.map((k) => cluster().nodeOf(`${namespace}:v1:${k}`)))
      const mine = keys.find((_, i) => owners[i] === victim) as string
      const other = keys.find((_, i) => owners[i] !== victim) as string
      expect(mine).toBeDefined()
      expect(other).toBeDefined()
      const cache = track(
        createCache({
          namespace,
          l1: false,
          l2: {
            redis: { cluster: cluster().urls },
            client,
            timeout: '500ms',
            breaker: { threshold: 1, breakDuration: '60s' },
          },
        }),
      )
      const states: string[] = []
      cache.on('breaker', (event) => states.push(`${event.master}:${event.state}`))
      await cache.ready()
      await cache.set(mine, 'before')
      const opened = nextBreakerState(cache, master, 'open', 20_000)
      await victim.kill()
      // A call to that master fails (its connection is gone) and opens its breaker: the next timer
      // probe is a minute away.
      await cache.set(mine, 'during').catch(() => {})
      await opened
      await cache.set(other, 'while the victim is down')
      const closed = nextBreakerState(cache, master, 'closed', 40_000)
      await victim.start()
      const startedAt = performance.now()
      // Generous for a loaded machine, and far below the break: only the reconnect can close it.
      const closedAt = await closed
      console.log(
        `[cluster reconnect probe] ${client}: breaker of ${master} closed ${Math.round(closedAt - startedAt)} ms after the restart (break 60 s); loadavg ${loadavg()
          .map((n) => n.toFixed(1))
          .join(' ')}`,
      )
      expect(closedAt - startedAt).toBeLessThan(40_000)
      // Only the restarted master's breaker changed state.
      expect(states.every((s) => s.startsWith(`${master}:`))).toBe(true)
      await cluster().waitUntilOk(30_000)
      await cache.set(mine, 'after')
      const reader = track(
        createCache({ namespace, l1: false, l2: { redis: { cluster: cluster().urls }, client } }),
      )
      expect(await reader.get(mine)).toBe('after')
      expect(await reader.get(other)).toBe('while the victim is down')
      expect((await cache.health()).l2?.masters?.every((m) => m.breaker === 'closed')).toBe(true)
    }, 90_000)
  },
)
