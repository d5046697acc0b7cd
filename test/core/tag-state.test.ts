/**
 * TagState: what an instance remembers of tag invalidations never moves back. A tag marker read
 * from the L2 may answer after the bus told of a newer invalidation of the same tag (the two travel
 * on different connections): the older marker must not replace the newer one. Imports src.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { TagState } from '../../src/core/tag-state.js'
import { type Cache, createCache } from '../../src/index.js'
import type { TagMarker } from '../../src/invalidation/store.js'
import { CLIENTS, deferred } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { TcpProxy } from '../helpers/tcp-proxy.js'

describe('TagState: a marker read that answers after a newer invalidation was heard', () => {
  it('judges with the newer invalidation, and keeps remembering it', async () => {
    const state = new TagState(100)
    state.hearing()
    const reply = deferred<readonly (TagMarker | undefined)[]>()
    // An entry created at 100, tag T not known yet: its marker is read from the L2…
    const judged = state.judge(['T'], 100, () => reply.promise)
    // …the bus tells of T deleted at 200 meanwhile…
    state.learn('T', 'delete', 200)
    // …then the read answers what Redis held before that invalidation.
    reply.resolve([{ deletedAt: 50, expiredAt: 0 }])
    expect(await judged).toBe('gone')
    expect(state.known(['T'], 100)).toBe('gone')
    expect(state.judge(['T'], 100, () => Promise.reject(new Error('not read again')))).toBe('gone')
  })

  it("the same for 'expire': an entry expired by a heard invalidation stays stale", async () => {
    const state = new TagState(100)
    state.hearing()
    const reply = deferred<readonly (TagMarker | undefined)[]>()
    const judged = state.judge(['T'], 100, () => reply.promise)
    state.learn('T', 'expire', 200)
    reply.resolve([{ deletedAt: 50, expiredAt: 60 }])
    expect(await judged).toBe('stale')
    expect(state.known(['T'], 100)).toBe('stale')
  })
})

const server = useRedisServer()
const caches: Cache[] = []
const proxies: TcpProxy[] = []
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()))
  for (const proxy of proxies.splice(0)) await proxy.close()
})
const open = (cache: Cache): Cache => {
  caches.push(cache)
  return cache
}

describe.each(CLIENTS)('a tag marker read crossing an invalidation on the bus (%s)', (client) => {
  it('leaves no invalidated entry in the L1 of the instance that read it', async () => {
    let onMarkerRead: (() => void) | undefined
    const proxy = await TcpProxy.start({
      target: { port: server().port },
      onSent: (chunk) => {
        if (onMarkerRead !== undefined && chunk.includes('!tag:')) {
          const run = onMarkerRead
          onMarkerRead = undefined
          run()
        }
      },
    })
    proxies.push(proxy)
    const namespace = uniqueNamespace('marker-cross')
    const bus = { heartbeat: '100ms', maxSilence: '500ms' } as const
    const a = open(createCache({ namespace, bus, l2: { client, redis: server().url } }))
    const b = open(
      createCache({ namespace, bus, l2: { client, redis: proxy.url(server().url), timeout: '3s' } }),
    )
    await Promise.all([a.ready(), b.ready()])
    await a.set('e', 'v', { tags: ['T'] })

    // B's command replies arrive 400 ms late; its subscriber connection is prompt. B reads e, then
    // T's marker; Redis answers the marker at once (the reply is on its way to B for 400 ms), and
    // A invalidates T just after: B hears it on the bus before the marker's (older) reply.
    proxy.delay(400, (l) => !/subscribe/i.test(l.sent), 'down')
    const invalidated = deferred<void>()
    onMarkerRead = () => {
      setTimeout(() => void a.invalidateTags(['T']).then(() => invalidated.resolve()), 50)
    }
    await b.get('e')
    await invalidated.promise
    proxy.resume('all', 'down')

    // Well past the bound: e was invalidated, on every instance.
    await new Promise((r) => setTimeout(r, 1000))
    expect(b.peek('e')).toBeUndefined()
    expect(await b.get('e')).toBeUndefined()
    expect(await a.get('e')).toBeUndefined()
  }, 20_000)
})
