/**
 * Issue 18 (1): the staleness bound, across real processes on a real redis-server. A (this
 * process) talks to Redis directly; B (a forked worker, test/helpers/workers/invalidation-worker.mjs)
 * through the TCP proxy of test/helpers/tcp-proxy.ts, which stops forwarding without closing
 * anything — a partition, a dropped NAT entry. Default options. After A changes a key, B serves
 * the old value for at most `bus.maxSilence` (5 s) + one L2 deadline, then never again: with all
 * of B's connections black-holed (B answers a miss: it cannot reach Redis) and with only its
 * subscriber connection black-holed (B reads the new value from Redis); once the proxy forwards
 * again, B hears the bus, resyncs, and serves the new value. In both `l2.invalidation` modes.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'
import { type CacheOptions, createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { TRACKING_ACL, uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'

const busServer = useRedisServer()
/** For `l2.invalidation: 'tracking'`, whose ACL also grants client tracking. */
const trackingServer = useRedisServer({ acl: TRACKING_ACL })
const track = closeAfterEach()
const WORKER_SCRIPT = fileURLToPath(new URL('../helpers/workers/invalidation-worker.mjs', import.meta.url))
/** The defaults the bound is made of: bus.maxSilence and l2.timeout. */
const MAX_SILENCE_MS = 5000
const L2_DEADLINE_MS = 500
/** The machine is shared and loaded: what a read through IPC may add. */
const SLACK_MS = 1000

const children: ChildProcess[] = []
const proxies: TcpProxy[] = []
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  for (const proxy of proxies.splice(0)) await proxy.close()
})

interface Worker {
  call<T>(method: string, params?: Record<string, unknown>): Promise<T>
  faults: unknown[]
}

function startWorker(): Promise<Worker> {
  const child = fork(WORKER_SCRIPT, [], { execArgv: [], serialization: 'advanced', stdio: 'ignore' })
  children.push(child)
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const faults: unknown[] = []
  let next = 1
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited with ${code}`)))
    child.on(
      'message',
      (message: {
        id?: number
        ok?: boolean
        value?: unknown
        error?: string
        event?: string
        data?: unknown
      }) => {
        if (message.event === 'ready')
          resolve({
            faults,
            call: <T>(method: string, params?: Record<string, unknown>) =>
              new Promise<T>((res, rej) => {
                const id = next++
                pending.set(id, { resolve: res as (v: unknown) => void, reject: rej })
                child.send({ id, method, params })
              }),
          })
        if (message.event === 'fault') faults.push(message.data)
        if (message.id === undefined) return
        const call = pending.get(message.id)
        pending.delete(message.id)
        if (message.ok) call?.resolve(message.value)
        else call?.reject(new Error(message.error))
      },
    )
  })
}

/**
 * Both modes: with tracking, Redis's reports of changed keys arrive on the subscriber connection,
 * the one the heartbeats prove alive, so the bound is the same.
 */
const MODES = [
  { invalidation: 'bus', server: busServer },
  { invalidation: 'tracking', server: trackingServer },
] as const

describe.each(MODES.flatMap((mode) => CLIENTS.map((client) => ({ ...mode, client }))))(
  'the staleness bound (l2.invalidation $invalidation, $client), B behind a black-holing proxy',
  ({ invalidation, server, client }) => {
    for (const cut of ['all of B’s connections', 'only B’s subscriber connection'] as const) {
      it(`after A changes a key, B serves the old value for at most maxSilence + one L2 deadline, with ${cut} black-holed`, async () => {
        const proxy = await startTcpProxy({ port: server().port })
        proxies.push(proxy)
        const namespace = uniqueNamespace('bound')
        const a = track(createCache({ namespace, l2: { redis: server().url, client, invalidation } }))
        const b = await startWorker()
        const options: CacheOptions = {
          namespace,
          l2: { redis: proxy.url(server().url), client, invalidation },
        }
        await Promise.all([a.ready(), b.call('open', { options })])
        await a.set('k', 'v1')
        // With tracking, Redis also reports the set to B; a later bus message of A (on the same
        // subscriber connection) arrives after that report. Once B has heard everything A
        // published, nothing about v1 is still on its way to drop B's copy (or its load of it).
        if (invalidation === 'tracking') await a.delete('barrier')
        while ((await b.call<{ busMessages: number }>('stats')).busMessages < a.stats().busPublished)
          await new Promise((resolve) => setImmediate(resolve))
        await b.call('load', { key: 'k', old: 'v1' })

        const subscriber = proxy.links.find((l) => /subscribe/i.test(l.sent))
        expect(subscriber, 'B’s subscriber connection goes through the proxy').toBeDefined()
        if (cut === 'all of B’s connections') proxy.blackhole()
        else proxy.blackhole(subscriber)
        const changedAt = Date.now()
        await a.set('k', 'v2')

        // B is read every 100 ms until well past the bound: when did it last answer v1?
        let lastOld = -1
        const answers = new Set<unknown>()
        while (Date.now() - changedAt < MAX_SILENCE_MS + L2_DEADLINE_MS + 2 * SLACK_MS) {
          const asked = Date.now()
          const { values } = await b.call<{ values: unknown[] }>('read', { keys: ['k'] })
          answers.add(values[0])
          if (values[0] === 'v1') lastOld = asked - changedAt
          await new Promise((r) => setTimeout(r, 100))
        }
        expect(lastOld, 'B served v1 while it could still trust its L1').toBeGreaterThanOrEqual(0)
        expect(lastOld).toBeLessThanOrEqual(MAX_SILENCE_MS + L2_DEADLINE_MS + SLACK_MS)
        // Past the bound: a miss when Redis is out of reach, the new value when only the bus is.
        expect([...answers]).toEqual(cut === 'all of B’s connections' ? ['v1', undefined] : ['v1', 'v2'])

        // The network heals: B hears the bus again, drops its L1 and reads the new value.
        proxy.resume()
        let healed: unknown
        const until = Date.now() + 10_000
        while (Date.now() < until) {
          healed = (await b.call<{ values: unknown[] }>('read', { keys: ['k'] })).values[0]
          if (healed === 'v2') break
          await new Promise((r) => setTimeout(r, 100))
        }
        expect(healed).toBe('v2')
        const stats = await b.call<{ busSilences: number; busResyncs: number }>('stats')
        expect(stats.busSilences).toBeGreaterThanOrEqual(1)
        expect(b.faults).toEqual([])
      }, 40_000)
    }
  },
)

describe.each(CLIENTS)('the bus watch (%s)', (client) => {
  const server = busServer
  it('a healthy bus is never silent; a black-holed subscriber shows bus-silent in health() until it is heard again, then the L1 resyncs', async () => {
    const proxy = await startTcpProxy({ port: server().port })
    proxies.push(proxy)
    const namespace = uniqueNamespace('watch')
    const bus = { heartbeat: '250ms', maxSilence: '1s' } as const
    const a = track(createCache({ namespace, bus, l2: { redis: server().url, client } }))
    const b = track(createCache({ namespace, bus, l2: { redis: proxy.url(server().url), client } }))
    await Promise.all([a.ready(), b.ready()])
    await a.set('k', 'v1')
    expect(await b.get('k')).toBe('v1')
    // Three times maxSilence of a healthy bus: still verified, still an L1 hit.
    await new Promise((r) => setTimeout(r, 3000))
    expect(b.stats().busSilences).toBe(0)
    expect(b.peek('k')).toBe('v1')
    expect((await b.health()).alerts.map((x) => x.name)).not.toContain('bus-silent')

    proxy.blackhole((l) => /subscribe/i.test(l.sent))
    await a.set('k', 'v2')
    const deadline = Date.now() + 10_000
    while (b.stats().busSilences === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(b.stats().busSilences).toBe(1)
    expect(b.peek('k')).toBeUndefined()
    // getOrSet does not answer with the held value as stale-while-revalidate (which served it
    // however long the silence had lasted): it reads the L2 again, and the factory is not needed.
    const staleServed: unknown[] = []
    b.on('stale-served', (event) => void staleServed.push(event))
    let factoryCalls = 0
    const factory = async () => {
      factoryCalls++
      return 'from the origin'
    }
    expect(await b.getOrSet({ key: 'k', factory })).toBe('v2')
    expect(factoryCalls).toBe(0)
    expect(staleServed).toEqual([])
    expect(await b.get('k')).toBe('v2')
    const health = await b.health()
    expect(health.alerts.map((x) => x.name)).toContain('bus-silent')
    expect(health.status).toBe('degraded')

    const resyncs = b.stats().busResyncs
    proxy.resume()
    while (b.stats().busResyncs === resyncs && Date.now() < deadline + 10_000)
      await new Promise((r) => setTimeout(r, 50))
    expect(b.stats().busResyncs).toBe(resyncs + 1)
    expect((await b.health()).alerts.map((x) => x.name)).not.toContain('bus-silent')
    expect(await b.get('k')).toBe('v2')
    expect(b.peek('k')).toBe('v2')
  }, 40_000)

  it('refuses a maxSilence shorter than two heartbeats', () => {
    expect(() => createCache({ bus: { heartbeat: '1s', maxSilence: '1500ms' } })).toThrow(
      /twice bus.heartbeat/,
    )
  })
})
