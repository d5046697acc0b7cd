/**
 * Issue 18 (coherence): a plain `get`'s L2 read keeps what it found in the L1 only if no change of
 * the key overtook it. B misses its L1 and reads the old value from Redis; A changes the key, and
 * the invalidation (a bus message, or Redis's tracking report) reaches B's subscriber connection
 * before the GET's reply arrives on B's command connection. The reply answers that `get` (it was
 * read before the change), but it must not stay in B's L1: B's next `get` reads the new value.
 * Two caches on one real redis-server; B's command connection through the TCP proxy of
 * test/helpers/tcp-proxy.ts, which holds the GET's reply; B's subscriber connection forwards.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { CLIENTS, deferred, pollUntil } from '../helpers/fixtures.js'
import { TRACKING_ACL, uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { type ProxyLink, startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const busServer = useRedisServer()
/** For `l2.invalidation: 'tracking'`, whose ACL also grants client tracking. */
const trackingServer = useRedisServer({ acl: TRACKING_ACL })
const proxies: TcpProxy[] = []
const caches: Cache[] = []
/** The caches close before their proxy does (so they close over a working connection). */
afterEach(async () => {
  await Promise.all(caches.splice(0).map((cache) => cache.close()))
  for (const proxy of proxies.splice(0)) await proxy.close()
})
function track(cache: Cache): Cache {
  caches.push(cache)
  return cache
}

const MODES = [
  { invalidation: 'bus', server: busServer },
  { invalidation: 'tracking', server: trackingServer },
] as const

/** Longer than any test: a held reply is released by `resume`, not by the delay running out. */
const HOLD_MS = 60_000
/** Long enough that the held reply is released well before B's read gives up on it. */
const B_L2_TIMEOUT = '10s'

/** Settles when `cache` hears its first invalidation from another instance (or from Redis). */
function heard(cache: Cache): Promise<void> {
  const got = deferred<void>()
  cache.on('invalidate', (event) => {
    if (event.origin === 'remote') got.resolve()
  })
  return got.promise
}

describe.each(MODES.flatMap((mode) => CLIENTS.map((client) => ({ ...mode, client }))))(
  "a get's L2 reply that arrives after an invalidation of its key (l2.invalidation $invalidation, $client)",
  ({ invalidation, server, client }) => {
    async function setUp() {
      const proxy = await startTcpProxy({ port: server().port })
      proxies.push(proxy)
      const namespace = uniqueNamespace('backfill')
      const a = track(createCache({ namespace, l2: { redis: server().url, client, invalidation } }))
      const b = track(
        createCache({
          namespace,
          l2: { redis: proxy.url(server().url), client, invalidation, timeout: B_L2_TIMEOUT },
        }),
      )
      await Promise.all([a.ready(), b.ready()])
      const commandLinks = (link: ProxyLink) => !/subscribe/i.test(link.sent)
      expect(
        proxy.links.some((l) => /subscribe/i.test(l.sent)),
        'B’s subscriber goes through the proxy',
      ).toBe(true)
      expect(proxy.links.some(commandLinks), 'B’s command connection goes through the proxy').toBe(true)
      /**
       * B's `read` (a get) whose reply is held by the proxy until `change` (made on A) has been
       * heard by B; answers what that read returned.
       */
      const crossing = async <T>(read: () => Promise<T>, change: () => Promise<unknown>) => {
        const hearing = heard(b)
        // Replies on B's command connection are held (queued in the proxy, where they can be
        // seen); its requests, and its subscriber connection, pass.
        proxy.delay(HOLD_MS, commandLinks, 'down')
        const held = () => proxy.links.filter(commandLinks).reduce((n, l) => n + l.down.held, 0)
        const getting = read()
        // The GET reached Redis and its reply is waiting in the proxy: the read saw the old value.
        expect(await pollUntil(() => held() > 0, 5000), 'the reply is held').toBe(true)
        await change()
        await hearing
        proxy.resume(commandLinks, 'down')
        return await getting
      }
      /** A stores the old value; B hears of it (so no message about it is still on its way). */
      const seed = async (key: string, value: string) => {
        const hearing = heard(b)
        await a.set(key, value)
        await hearing
      }
      return { a, b, seed, crossing, namespace }
    }

    it("A sets the key: B's get answers the old value or nothing, and B's L1 does not keep the old value", async () => {
      const { a, b, seed, crossing } = await setUp()
      await seed('k', 'old')
      // A miss when B already knows of the change: RemoteReads refuses a value older than a delete
      // it heard of (the key's dependency marker), which kept this case right before the fix too.
      expect([undefined, 'old']).toContain(
        await crossing(
          () => b.get('k'),
          () => a.set('k', 'new'),
        ),
      )
      expect(b.peek('k')).toBeUndefined()
      expect(await b.get('k')).toBe('new')
    }, 30_000)

    it("A deletes keys by pattern: B's get answers the old value, and B's L1 does not keep it", async () => {
      const { a, b, seed, crossing } = await setUp()
      await seed('user:1', 'old')
      expect(
        await crossing(
          () => b.get('user:1'),
          () => a.deleteMatching('user:*'),
        ),
      ).toBe('old')
      expect(b.peek('user:1')).toBeUndefined()
      expect(await b.get('user:1')).toBeUndefined()
    }, 30_000)

    it("getMany: B's L1 does not keep an old value whose key was deleted while the read was out", async () => {
      const { a, b, seed, crossing } = await setUp()
      await seed('user:2', 'old')
      expect(
        await crossing(
          () => b.getMany(['user:2']),
          () => a.deleteMatching('user:*'),
        ),
      ).toEqual(['old'])
      expect(b.peek('user:2')).toBeUndefined()
      expect(await b.getMany(['user:2'])).toEqual([undefined])
    }, 30_000)

    if (invalidation === 'tracking')
      it("a key deleted from outside (a DEL, as redis-cli sends it): B's L1 does not keep the old value", async () => {
        const { b, seed, crossing, namespace } = await setUp()
        await seed('k', 'old')
        const del = () => server().command('DEL', `${namespace}:v1:k`)
        expect(await crossing(() => b.get('k'), del)).toBe('old')
        expect(b.peek('k')).toBeUndefined()
        expect(await b.get('k')).toBeUndefined()
      }, 30_000)
  },
)
