/**
 * A many-key read on a Redis Cluster with one master failed (killed, or frozen: SIGSTOP) and the
 * others fine: the dead master's keys are failed reads (l2Errors), not L2 misses. A miss means
 * Redis answered "absent"; counting the unread keys as misses too made the L2 hit ratio fall and
 * the errors double-count during a partial outage.
 */
import { describe, expect, it } from 'vitest'
import { createCache } from '../../dist/index.js'
import {
  CLIENTS,
  closeAfterEach,
  clusterCacheOptions,
  collectUnhandledRejections,
  restoreClusterAfterEach,
} from '../helpers/fixtures.js'
import { type ClusterNode, useRedisCluster } from '../helpers/redis-cluster.js'
import { uniqueNamespace } from '../helpers/redis-server.js'

const cluster = useRedisCluster(3)
/** The L2 calls that failed so far: errors, and timeouts (a frozen master does not answer). */
const failures = (stats: { l2Errors: number; l2Timeouts: number }) => stats.l2Errors + stats.l2Timeouts
const unhandled = collectUnhandledRejections()

describe.each(CLIENTS)('client %s', (client) => {
  const track = closeAfterEach()
  restoreClusterAfterEach(cluster)

  describe.each(['killed', 'frozen'] as const)('one master %s', (fault) => {
    it('getMany and getOrSetMany count its keys as failed reads, not as L2 misses; the others are hits, and misses only where Redis said absent', async () => {
      const namespace = uniqueNamespace(`partial-${fault}`)
      const victim = (await cluster().masters())[1] as ClusterNode
      const all = Array.from({ length: 30 }, (_, i) => `k${i}`)
      const owners = await Promise.all(all.map((k) => cluster().nodeOf(`${namespace}:v1:${k}`)))
      const dead = all.filter((_, i) => owners[i] === victim)
      const live = all.filter((_, i) => owners[i] !== victim)
      // Live keys never written: the misses Redis itself answers.
      const absent = live.slice(0, 3)
      const present = live.slice(3)
      expect(dead.length).toBeGreaterThan(3)
      expect(present.length).toBeGreaterThan(3)
      // No breaker: every read reaches the failed master (its failure is the same either way).
      const l2 = { redis: { cluster: cluster().urls }, client, breaker: false } as const
      const c = track(createCache(clusterCacheOptions(cluster, client, namespace, { l1: false, l2 })))
      await c.ready()
      for (const k of [...present, ...dead]) await c.set(k, `v:${k}`)

      if (fault === 'killed') await victim.kill()
      else victim.pause()
      try {
        const before = c.stats()
        const values = await c.getMany(all)
        const after = c.stats()
        console.log(
          `[cluster partial read] ${JSON.stringify({ client, fault, l2Misses: after.l2Misses - before.l2Misses, l2Errors: after.l2Errors - before.l2Errors, l2Timeouts: after.l2Timeouts - before.l2Timeouts, l2ConnectionErrors: after.l2ConnectionErrors - before.l2ConnectionErrors })}`,
        )
        expect(values).toEqual(all.map((k) => (present.includes(k) ? `v:${k}` : undefined)))
        expect(after.l2Hits - before.l2Hits).toBe(present.length)
        // Before the fix: absent.length + dead.length (the unread keys counted as misses too).
        expect(after.l2Misses - before.l2Misses).toBe(absent.length)
        expect(failures(after) - failures(before)).toBeGreaterThan(0)
        // What the caller saw: every key without a value is a miss of the cache, as for get().
        expect(after.misses - before.misses).toBe(absent.length + dead.length)

        // getOrSetMany reads the same way: the factory loads the unread keys, still no L2 miss for them.
        const loaded: string[] = []
        const got = await c.getOrSetMany<string>({
          keys: all,
          factory: async (keys) => {
            loaded.push(...keys)
            return new Map(keys.map((k) => [k, `origin:${k}`]))
          },
        })
        const last = c.stats()
        expect(all.map((k) => got.get(k))).toEqual(
          all.map((k) => (present.includes(k) ? `v:${k}` : `origin:${k}`)),
        )
        expect(new Set(loaded)).toEqual(new Set([...absent, ...dead]))
        expect(last.l2Hits - after.l2Hits).toBe(present.length)
        expect(last.l2Misses - after.l2Misses).toBe(absent.length)
        expect(failures(last) - failures(after)).toBeGreaterThan(0)
      } finally {
        victim.resume()
      }
      expect(unhandled).toEqual([])
    }, 60_000)
  })
})
