/**
 * Issue 18 (3): late writes are fenced. A write carries its version (the time its value was made:
 * a `set`'s time, a loaded value's load start, a delete's time), and the write script refuses to
 * replace what the key holds when that is newer — a value created later or a delete made later —
 * so a write that reaches Redis after a newer one (held by the network past its deadline, then
 * delivered) does not replace it, and announces nothing. Two caches on one real redis-server,
 * A's connections through the TCP proxy of test/helpers/tcp-proxy.ts, both clients.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach, deferred, pollUntil } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const server = useRedisServer()
const track = closeAfterEach()
const proxies: TcpProxy[] = []
afterEach(async () => {
  for (const proxy of proxies.splice(0)) await proxy.close()
})

/** Keys announced to `cache` over the bus by the others, as they arrive. */
function heardKeys(cache: Cache): string[] {
  const keys: string[] = []
  cache.on('invalidate', (event) => {
    if (event.origin === 'remote' && event.kind === 'keys') keys.push(...event.keys)
  })
  return keys
}

describe.each(CLIENTS)(
  'fencing (%s): a write that reaches Redis late never replaces a newer one',
  (client) => {
    async function setUp() {
      const proxy = await startTcpProxy({ port: server().port })
      proxies.push(proxy)
      const namespace = uniqueNamespace('fence')
      const a = track(createCache({ namespace, l2: { redis: proxy.url(server().url), client } }))
      const b = track(createCache({ namespace, l2: { redis: server().url, client } }))
      await Promise.all([a.ready(), b.ready()])
      /** A third instance that starts after everything: it can only read what Redis holds. */
      const fresh = async () => {
        const c = track(createCache({ namespace, l2: { redis: server().url, client } }))
        await c.ready()
        return c
      }
      /** Held writes delivered, then one more write of A answered: Redis has run the late ones (one connection, in order). */
      const landed = async () => {
        proxy.resume()
        await a.set('probe', 1)
        expect(proxy.links.reduce((n, l) => n + l.up.held, 0)).toBe(0)
      }
      return { proxy, a, b, fresh, landed }
    }

    it("A's set delayed past its deadline by the proxy, then B's set of a newer value: after A's late write lands (and A's repair ran), every instance reads B's value", async () => {
      const { proxy, a, b, fresh, landed } = await setUp()
      const heardByB = heardKeys(b)
      await a.set('k', 'v0')
      expect(await b.get('k')).toBe('v0')

      // A's command connection stops forwarding (its subscriber still hears the bus).
      proxy.blackhole((link) => !/subscribe/i.test(link.sent))
      await a.set('k', 'old') // times out (l2.timeout) and resolves (l2.writeErrors: 'suppress')
      expect(a.stats().l2Timeouts).toBeGreaterThanOrEqual(1)
      await b.set('k', 'new')
      // A hears B's change and drops its own copy.
      expect(await pollUntil(() => a.peek('k') === undefined, 5000)).toBe(true)

      await landed()
      // A's late write failed to replace B's value; A's repair (queued when its write failed, run
      // on its next successful write) does not delete it either.
      expect(await pollUntil(() => a.stats().l2Repairs >= 1, 5000)).toBe(true)
      const c = await fresh()
      expect(await c.get('k')).toBe('new')
      expect(await b.get('k')).toBe('new')
      expect(await a.get('k')).toBe('new')
      // B heard A's first set only: the late write's message (sent with it) was refused with it,
      // and the repair deleted nothing, so announced nothing.
      expect(heardByB.filter((key) => key === 'k')).toHaveLength(1)
    }, 30_000)

    it('a write-back whose load started before an invalidation, delayed past its deadline, does not replace the value set after the invalidation', async () => {
      const { proxy, a, b, fresh, landed } = await setUp()
      const factory = deferred<string>()
      const called = deferred<void>()
      // A misses and loads (the load starts now) …
      const loading = a.getOrSet({
        key: 'k',
        factory: () => {
          called.resolve()
          return factory.promise
        },
      })
      await called.promise
      // … while B deletes the key and sets a newer value, which A cannot hear yet.
      proxy.blackhole()
      await b.delete('k')
      await b.set('k', 'new')
      factory.resolve('old')
      expect(await loading).toBe('old')
      // A's write-back is held past its deadline.
      expect(await pollUntil(() => a.stats().l2Timeouts >= 1, 5000)).toBe(true)

      await landed()
      const c = await fresh()
      expect(await c.get('k')).toBe('new')
      expect(await b.get('k')).toBe('new')
      // A hears B's changes once the path heals, and reads the newer value.
      expect(await pollUntil(async () => (await a.get('k')) === 'new', 5000)).toBe(true)
    }, 30_000)

    it('a refused write sends no bus message, and its writer drops its own copy', async () => {
      const namespace = uniqueNamespace('fence')
      const b = track(createCache({ namespace, l2: { redis: server().url, client } }))
      // An instance whose clock is a minute behind: each of its writes is older than B's.
      const late = track(
        createCache({ namespace, clock: () => Date.now() - 60_000, l2: { redis: server().url, client } }),
      )
      await Promise.all([late.ready(), b.ready()])
      const heardByB = heardKeys(b)
      await b.set('k', 'new')
      await late.set('k', 'older')
      expect(late.stats().writesRefused).toBe(1)
      expect(late.peek('k')).toBeUndefined()
      // A write that is not refused, after it: B hears that one only.
      await late.set('other', 1)
      expect(await pollUntil(() => heardByB.includes('other'), 5000)).toBe(true)
      expect(heardByB).toEqual(['other'])
      expect(await late.get('k')).toBe('new')
      expect(b.peek('k')).toBe('new')
    }, 30_000)
  },
)
