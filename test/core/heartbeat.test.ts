/**
 * The staleness bound (docs/invalidation.md, "The staleness bound") against what the coherence
 * suite does not do to the bus: delay it without stopping it, and stall an instance's event loop.
 * Real redis-server, B's connections through the TCP proxy of test/helpers/tcp-proxy.ts. Imports
 * src (the bus watch under test), so no rebuild of dist is needed.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../src/index.js'
import { CLIENTS } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

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

const HEARTBEAT_MS = 100
const MAX_SILENCE_MS = 500
const L2_TIMEOUT_MS = 300
/** What a loaded 2-core machine may add to the bound (timers, the proxy's own scheduling). */
const SLACK_MS = 400
const bus = { heartbeat: `${HEARTBEAT_MS}ms`, maxSilence: `${MAX_SILENCE_MS}ms` } as const

describe.each(CLIENTS)('the staleness bound on a delayed bus (%s)', (client) => {
  it('a subscriber connection that delivers everything, but seconds late, does not keep the L1 verified', async () => {
    const proxy = await startTcpProxy({ port: server().port })
    proxies.push(proxy)
    const namespace = uniqueNamespace('delayed')
    const l2 = { client, timeout: `${L2_TIMEOUT_MS}ms` } as const
    const a = open(createCache({ namespace, bus, l2: { ...l2, redis: server().url } }))
    const b = open(createCache({ namespace, bus, l2: { ...l2, redis: proxy.url(server().url) } }))
    await Promise.all([a.ready(), b.ready()])
    await a.set('k', 'v1')

    // Everything Redis sends B's subscriber arrives 3 s late. The first 3 s are a silence (B
    // hears nothing); then the heartbeats, its own and A's, arrive at their pace again, only late:
    // a change A makes from now on reaches B 3 s later. Hearing something every beat is not
    // enough to trust the L1.
    const subscriber = proxy.links.find((l) => /subscribe/i.test(l.sent))
    expect(subscriber).toBeDefined()
    proxy.delay(3000, subscriber, 'down')
    await new Promise((r) => setTimeout(r, 3000 + 2 * MAX_SILENCE_MS))
    expect(await b.get('k')).toBe('v1')
    const changedAt = Date.now()
    await a.set('k', 'v2')

    let lastOld = -1
    while (Date.now() - changedAt < 2800) {
      const asked = Date.now()
      if ((await b.get('k')) === 'v1') lastOld = asked - changedAt
      await new Promise((r) => setTimeout(r, 25))
    }
    // health() says for how long the L1 has not been verified: at least maxSilence (what B hears
    // is recent, but 3 s old).
    const silent = (await b.health()).alerts.find((x) => x.name === 'bus-silent')
    expect(silent?.value).toBeGreaterThanOrEqual(MAX_SILENCE_MS / 1000)
    // v1 perhaps at first (the bound allows it), never past maxSilence + one L2 deadline.
    expect(lastOld).toBeLessThanOrEqual(MAX_SILENCE_MS + L2_TIMEOUT_MS + SLACK_MS)
    expect(b.stats().busSilences).toBeGreaterThanOrEqual(1)
    expect(await b.get('k')).toBe('v2')

    // The bus delivers in time again: B resyncs once its own beats come back promptly, and its L1
    // is trusted again.
    const resyncs = b.stats().busResyncs
    proxy.resume(subscriber, 'down')
    const until = Date.now() + 10_000
    while (b.stats().busResyncs === resyncs && Date.now() < until) await new Promise((r) => setTimeout(r, 25))
    expect(b.stats().busResyncs).toBe(resyncs + 1)
    expect(await b.get('k')).toBe('v2')
    expect(b.peek('k')).toBe('v2')
  }, 30_000)
})

/**
 * A, in a worker thread (its own event loop, so it runs while this thread is blocked), sets `k`
 * to v2 when told, and answers the time its set resolved. Dist is enough for A: only B (src) is
 * under test.
 */
const WRITER = `
const { parentPort, workerData } = require('node:worker_threads')
import(workerData.dist).then(async ({ createCache }) => {
  const cache = createCache(workerData.options)
  await cache.ready()
  parentPort.on('message', async (m) => {
    if (m === 'close') { await cache.close(); parentPort.close(); return }
    await cache.set(m.key, m.value)
    parentPort.postMessage({ at: Date.now() })
  })
  parentPort.postMessage('ready')
})
`

describe.each(CLIENTS)('the staleness bound on a stalled event loop (%s)', (client) => {
  it('an instance whose event loop was blocked past maxSilence does not answer from its L1 before hearing the bus again', async () => {
    const { Worker } = await import('node:worker_threads')
    const namespace = uniqueNamespace('stalled')
    const options = {
      namespace,
      bus,
      l2: { client, redis: server().url, timeout: `${L2_TIMEOUT_MS}ms` as const },
    }
    const writer = new Worker(WRITER, {
      eval: true,
      workerData: { dist: new URL('../../dist/index.js', import.meta.url).href, options },
    })
    const messages: unknown[] = []
    let arrived = () => {}
    writer.on('message', (m) => {
      messages.push(m)
      arrived()
    })
    const next = () =>
      new Promise<unknown>((resolve) => {
        if (messages.length > 0) resolve(messages.shift())
        else arrived = () => resolve(messages.shift())
      })
    try {
      expect(await next()).toBe('ready')
      // B reads the system clock on every call: the default coarse clock, read just before the
      // stall, would still say 'before the stall' on the first read after it (see the commit).
      const b = open(createCache({ ...options, clock: () => Date.now() }))
      await b.ready()
      writer.postMessage({ key: 'k', value: 'v1' })
      await next()
      expect(await b.get('k')).toBe('v1')
      expect(b.peek('k')).toBe('v1')

      // B's thread is busy for three times maxSilence; A changes k meanwhile, and the bus message
      // waits, unread, in B's socket. The first read after the stall — before any I/O or timer
      // of B runs — must not answer the value B can no longer vouch for.
      writer.postMessage({ key: 'k', value: 'v2' })
      const stalledAt = Date.now()
      while (Date.now() - stalledAt < 3 * MAX_SILENCE_MS) {
        // busy: a long synchronous task (a big JSON.parse, a sync crypto call, a GC pause)
      }
      const read = b.get('k')
      const { at } = (await next()) as { at: number }
      expect(at - stalledAt, 'A changed k during the stall').toBeLessThan(3 * MAX_SILENCE_MS)
      expect(await read).toBe('v2')
      expect(await b.get('k')).toBe('v2')
    } finally {
      writer.postMessage('close')
      await new Promise((resolve) => writer.once('exit', resolve))
    }
  }, 20_000)
})
