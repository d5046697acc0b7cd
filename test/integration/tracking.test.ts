/**
 * `l2.invalidation: 'tracking'` (issue 18): Redis client tracking (CLIENT TRACKING … REDIRECT
 * BCAST PREFIX … NOLOOP) beside the bus. A key changed by any client — here a plain SET, DEL or
 * FLUSHDB sent on a fresh connection, as redis-cli sends them — leaves the L1 of every instance;
 * losing the tracking connection (the command connection) or the one invalidations are
 * redirected to (the subscriber) drops the L1 once the tracking is back, and the tracking keeps
 * working after it. Real redis-server, both clients, three instances each on its own connections.
 * The 3-process suite runs in this mode too (test/integration/invalidation-processes.test.ts).
 */
import { describe, expect, it, vi } from 'vitest'
import {
  type Cache,
  type CacheOptions,
  createCache,
  type InvalidationEvent,
  MemoryRemoteTier,
} from '../../dist/index.js'
import { CLIENTS, type ClientName, closeAfterEach } from '../helpers/fixtures.js'
import { TRACKING_ACL, uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer({ acl: TRACKING_ACL })

/** Resolves with the first `invalidate` event of `cache` that `match` accepts. */
function heard(cache: Cache, match: (event: InvalidationEvent) => boolean): Promise<InvalidationEvent> {
  return new Promise((resolve) => {
    const listener = (event: InvalidationEvent) => {
      if (!match(event)) return
      cache.off('invalidate', listener)
      resolve(event)
    }
    cache.on('invalidate', listener)
  })
}

const remoteKeys = (key: string) => (e: InvalidationEvent) =>
  e.origin === 'remote' && e.kind === 'keys' && e.keys.includes(key)

/** The ids of the connections that carry a tracking (CLIENT LIST flag `t`). */
async function trackingConnections(): Promise<string[]> {
  const list = String(await server().command('CLIENT', 'LIST'))
  return list
    .split('\n')
    .filter((line) => /\bflags=\S*t/.test(line) && !/\bflags=\S*P/.test(line))
    .map((line) => /^id=(\d+)/.exec(line)?.[1] as string)
}

describe.each(CLIENTS)("l2.invalidation 'tracking', client %s", (client: ClientName) => {
  const track = closeAfterEach()

  async function openThree(namespace: string): Promise<Cache[]> {
    const options: CacheOptions = { namespace, l2: { redis: server().url, client, invalidation: 'tracking' } }
    const caches = [0, 1, 2].map(() => track(createCache(options)))
    await Promise.all(caches.map((c) => c.ready()))
    return caches
  }

  /** Every cache reads `keys` until its L1 holds `value` for each (a report of the write may drop a copy once). */
  async function holdAll(caches: readonly Cache[], keys: readonly string[], value: unknown): Promise<void> {
    await vi.waitFor(
      async () => {
        for (const c of caches) {
          for (const k of keys) await c.get(k)
          expect(keys.map((k) => c.peek(k))).toEqual(keys.map(() => value))
        }
      },
      { timeout: 5000, interval: 10 },
    )
  }

  it('a key SET from outside (another connection, as redis-cli) leaves the L1 of every instance', async () => {
    const namespace = uniqueNamespace(`track-set-${client}`)
    const caches = await openThree(namespace)
    const [a] = caches as [Cache, Cache, Cache]
    await a.set('product:1', { price: 10 })
    await a.set('product:2', { price: 20 })
    await holdAll(caches, ['product:1'], { price: 10 })
    await holdAll(caches, ['product:2'], { price: 20 })

    const reports = caches.map((c) => heard(c, remoteKeys('product:1')))
    await server().command('SET', `${namespace}:v1:product:1`, 'written by another program')
    const events = await Promise.all(reports)

    for (const [i, c] of caches.entries()) {
      expect(c.peek('product:1'), `instance ${i}'s L1`).toBeUndefined()
      // The other key was not touched: still in every L1.
      expect(c.peek('product:2'), `instance ${i}'s L1`).toEqual({ price: 20 })
      expect(events[i]).toMatchObject({ kind: 'keys', origin: 'remote', keys: ['product:1'] })
    }
  })

  it('a DEL from outside drops the key everywhere; a FLUSHDB drops every L1 entry', async () => {
    const namespace = uniqueNamespace(`track-del-${client}`)
    const caches = await openThree(namespace)
    const [a] = caches as [Cache, Cache, Cache]
    await a.set('a', 1)
    await a.set('b', 2)
    await holdAll(caches, ['a'], 1)
    await holdAll(caches, ['b'], 2)

    const deletes = caches.map((c) => heard(c, remoteKeys('a')))
    expect(await server().command('DEL', `${namespace}:v1:a`)).toBe(1)
    await Promise.all(deletes)
    for (const c of caches) {
      expect(c.peek('a')).toBeUndefined()
      expect(await c.get('a')).toBeUndefined()
      expect(c.peek('b')).toBe(2)
    }

    const flushes = caches.map((c) => heard(c, (e) => e.origin === 'remote' && e.kind === 'clear'))
    await server().command('FLUSHDB')
    await Promise.all(flushes)
    for (const c of caches) expect(c.peek('b')).toBeUndefined()
  })

  it('a key outside the namespace (or of another version) is not reported', async () => {
    const namespace = uniqueNamespace(`track-scope-${client}`)
    const caches = await openThree(namespace)
    const [a, b] = caches as [Cache, Cache, Cache]
    await a.set('k', 'v')
    await holdAll([b], ['k'], 'v')
    const events: InvalidationEvent[] = []
    b.on('invalidate', (e) => events.push(e))
    await server().command('SET', `${namespace}-other:v1:k`, 'x')
    await server().command('SET', `${namespace}:v2:k`, 'x')
    // A change that is reported, made after the two: once it arrives, the two would have too.
    const barrier = heard(b, remoteKeys('barrier'))
    await server().command('SET', `${namespace}:v1:barrier`, 'x')
    await barrier
    expect(events.map((e) => (e.kind === 'keys' ? e.keys : e.kind))).toEqual([['barrier']])
    expect(b.peek('k')).toBe('v')
  })

  it("a namespace child is tracked on its parent's connection: its keys reach it, and opening it leaves the parent's L1 alone", async () => {
    const namespace = uniqueNamespace(`track-child-${client}`)
    const [a, b] = (await openThree(namespace)) as [Cache, Cache, Cache]
    await a.set('k', 'parent')
    await holdAll([b], ['k'], 'parent')
    const child = b.namespace('users')
    await child.ready()
    // Its prefix was added to the tracking in place: nothing B held had to go.
    expect(b.peek('k')).toBe('parent')
    expect(b.stats().busResyncs).toBe(0)
    await a.namespace('users').set('u', 'child')
    await holdAll([child], ['u'], 'child')
    const report = heard(child, remoteKeys('u'))
    await server().command('SET', `${namespace}.users:v1:u`, 'changed outside')
    await report
    expect(child.peek('u')).toBeUndefined()
    expect(b.peek('k')).toBe('parent')
  })

  /**
   * B holds a key, `cut` drops connections, and B drops its L1 once it has resynced `resyncs`
   * times; then a change made outside still reaches B's L1 (the tracking is in place again).
   */
  async function afterCut(name: string, cut: () => Promise<void>, resyncs: number): Promise<void> {
    const namespace = uniqueNamespace(`track-${name}-${client}`)
    const [a, b] = (await openThree(namespace)) as [Cache, Cache, Cache]
    await a.set('held', 'v')
    await holdAll([b], ['held'], 'v')
    const before = b.stats().busResyncs
    await cut()
    await vi.waitFor(() => expect(b.stats().busResyncs).toBeGreaterThanOrEqual(before + resyncs), {
      timeout: 10_000,
      interval: 5,
    })
    expect(b.peek('held')).toBeUndefined()
    await holdAll([b], ['held'], 'v')
    const report = heard(b, remoteKeys('held'))
    await server().command('SET', `${namespace}:v1:held`, 'changed outside')
    await report
    expect(b.peek('held')).toBeUndefined()
  }

  it('losing the tracking connection (CLIENT KILL) drops the L1 once the tracking is back, and it keeps reporting', async () => {
    await afterCut(
      'kill',
      async () => {
        const tracking = await trackingConnections()
        expect(tracking.length).toBeGreaterThanOrEqual(3)
        for (const id of tracking) await server().command('CLIENT', 'KILL', 'ID', id)
      },
      1,
    )
  })

  it('losing the subscriber connection (CLIENT KILL TYPE pubsub) drops the L1, and the tracking follows the new connection', async () => {
    // The bus resync and the tracking's both drop the L1: wait for the tracking's (the second).
    await afterCut(
      'sub',
      async () => {
        const killed = Number(await server().command('CLIENT', 'KILL', 'TYPE', 'pubsub'))
        expect(killed).toBeGreaterThanOrEqual(3)
      },
      2,
    )
  })
})

describe("l2.invalidation: what 'tracking' refuses", () => {
  it('an unknown mode, tracking without the bus, a Redis Cluster and a tier without tracking: E_INVALID_OPTION naming the way out', () => {
    const url = 'redis://127.0.0.1:1'
    expect(() => createCache({ l2: { redis: url, invalidation: 'broadcast' as 'bus' } })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTION',
        message: expect.stringContaining("'bus' or 'tracking'"),
      }),
    )
    expect(() => createCache({ bus: false, l2: { redis: url, invalidation: 'tracking' } })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTION',
        message: expect.stringContaining('needs the bus'),
      }),
    )
    expect(() =>
      createCache({
        l2: { redis: { cluster: ['redis://127.0.0.1:1', 'redis://127.0.0.1:2'] }, invalidation: 'tracking' },
      }),
    ).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTION',
        message: expect.stringContaining('Redis Cluster'),
      }),
    )
    expect(() => createCache({ l2: { tier: new MemoryRemoteTier(), invalidation: 'tracking' } })).toThrow(
      expect.objectContaining({
        code: 'E_INVALID_OPTION',
        message: expect.stringContaining("l2.invalidation 'bus'"),
      }),
    )
  })
})
