import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  IoRedisAdapter,
  NodeRedisAdapter,
  type RedisAdapter,
  RedisTier,
} from '../../dist/tiers/redis/index.js'
import { CLIENTS, pollUntil, timed } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

/**
 * Clients that stratacache opens from a URL run without an offline queue: while Redis is down a
 * command fails at once, and nothing issued during the outage is sent after the reconnect (where a
 * late SET or DEL would land over newer data). They still reconnect by themselves.
 */
const server = useRedisServer()
const TIMEOUT_MS = 200
/** Scheduling slack on top of a deadline (two CI cores, two suites at a time). */
const MARGIN_MS = 300
const bytes = (text: string) => new TextEncoder().encode(text)

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown) => unhandled.push(reason)
beforeEach(() => {
  unhandled.length = 0
  process.on('unhandledRejection', onUnhandled)
})
afterEach(async () => {
  await new Promise((resolve) => setImmediate(resolve))
  process.off('unhandledRejection', onUnhandled)
  expect(unhandled).toEqual([])
})

describe.each(CLIENTS)('Redis offline (client %s, opened from a URL)', (client) => {
  const tiers: RedisTier[] = []
  afterEach(async () => {
    await Promise.all(tiers.splice(0).map((t) => t.close()))
    if (server().spawned && server().pid === undefined) await server().restart()
  })

  /** A tier over a client opened from the URL; `nextError()` resolves at the client's next 'error' event. */
  const open = () => {
    let waiting: (() => void)[] = []
    const options = {
      commandTimeoutMs: TIMEOUT_MS,
      connectTimeoutMs: 1000,
      maxQueuedCommands: 10_000,
      onError: () => {
        for (const resolve of waiting) resolve()
        waiting = []
      },
    }
    const adapter: RedisAdapter =
      client === 'ioredis'
        ? new IoRedisAdapter(server().url, options)
        : new NodeRedisAdapter(server().url, options)
    const tier = new RedisTier(adapter, { timeoutMs: TIMEOUT_MS, batchSize: 100 })
    tiers.push(tier)
    const nextError = () => new Promise<void>((resolve) => waiting.push(resolve))
    return { tier, nextError }
  }

  /** Resolves once the tier answers again (the client reconnected by itself). */
  const reconnected = (tier: RedisTier) =>
    pollUntil(
      () =>
        tier.ping().then(
          () => true,
          () => false,
        ),
      5000,
    )

  it('writes issued while Redis is down reject at once, and none is applied after Redis restarts on the same port over newer data', async () => {
    const ns = uniqueNamespace('offline')
    const { tier, nextError } = open()
    await tier.set(`${ns}:warm`, bytes('1'), 60_000)
    const noticed = nextError()
    await server().kill()
    await noticed

    const writes: [string, () => Promise<unknown>][] = [
      ['set', () => tier.set(`${ns}:k`, bytes('written during the outage'), 60_000)],
      ['setMany', () => tier.setMany([{ key: `${ns}:many`, value: bytes('during'), ttlMs: 60_000 }])],
      ['delete', () => tier.delete([`${ns}:newer`])],
      ['lock acquire', () => tier.locks!.acquire(`${ns}:lock`, 'outage', 60_000)],
    ]
    for (const [what, write] of writes) {
      const result = await timed(write)
      expect(result.ok, what).toBe(false)
      // Rejected by the client itself, not by our deadline: it was never queued.
      expect(result.ms, what).toBeLessThan(TIMEOUT_MS)
    }

    await server().restart()
    // Newer data, written by someone else once Redis is back.
    await server().command('SET', `${ns}:k`, 'newer')
    await server().command('SET', `${ns}:newer`, 'newer')
    expect(await reconnected(tier)).toBe(true)
    // Commands on one connection run in order: a replayed command would have run before this one.
    await tier.set(`${ns}:after`, bytes('after'), 60_000)

    expect(await server().command('GET', `${ns}:k`)).toBe('newer')
    expect(await server().command('GET', `${ns}:newer`)).toBe('newer')
    expect(await server().command('EXISTS', `${ns}:many`)).toBe(0)
    expect(await server().command('EXISTS', `${ns}:lock`)).toBe(0)
  })

  it('a write in flight when Redis is killed rejects, and is not re-sent after the restart', async () => {
    const ns = uniqueNamespace('inflight')
    const { tier } = open()
    await tier.ping()
    server().pause()
    // Written to the socket of a frozen server: neither answered nor refused yet.
    const inFlight = tier.set(`${ns}:k`, bytes('in flight'), 60_000).then(
      () => 'applied',
      () => 'rejected',
    )
    await server().kill()
    // Back at once, within the client's first reconnection attempt.
    await server().restart()
    expect(await inFlight).toBe('rejected')
    expect(await reconnected(tier)).toBe(true)
    await tier.set(`${ns}:after`, bytes('after'), 60_000)
    expect(await server().command('EXISTS', `${ns}:k`)).toBe(0)
  })

  it('after Redis restarts on the same port, the same tier reads, writes, pings and locks again', async () => {
    const ns = uniqueNamespace('back')
    const { tier, nextError } = open()
    await tier.set(`${ns}:before`, bytes('1'), 60_000)
    const noticed = nextError()
    await server().kill()
    await noticed
    await expect(tier.get(`${ns}:before`)).rejects.toThrow()
    await server().restart()

    expect(await reconnected(tier)).toBe(true)
    await tier.set(`${ns}:after`, bytes('2'), 60_000)
    expect(await tier.get(`${ns}:after`)).toEqual(Buffer.from('2'))
    expect(await tier.getMany([`${ns}:after`, `${ns}:before`])).toEqual([Buffer.from('2'), undefined])
    expect(await tier.locks!.acquire(`${ns}:lock`, 't', 60_000)).toBe(true)
    expect(await tier.locks!.release(`${ns}:lock`, 't')).toBe(true)
    expect(await tier.delete([`${ns}:after`])).toBe(1)
  })

  it('a tier opened while Redis is down: its first calls wait for the connection at most one deadline, are never sent later, and it works once Redis is up', async () => {
    const ns = uniqueNamespace('cold')
    await server().kill()
    const { tier } = open()
    const set = await timed(() => tier.set(`${ns}:k`, bytes('before Redis was up'), 60_000))
    expect(set.ok).toBe(false)
    expect(set.ms).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
    expect((set.error as { code?: string }).code).toBe('E_L2_TIMEOUT')

    await server().restart()
    expect(await reconnected(tier)).toBe(true)
    await tier.set(`${ns}:after`, bytes('after'), 60_000)
    expect(await server().command('EXISTS', `${ns}:k`)).toBe(0)
    expect(await server().command('GET', `${ns}:after`)).toBe('after')
  })

  it('a call issued right after the tier is created waits for the first connection instead of failing', async () => {
    const ns = uniqueNamespace('warm-start')
    const { tier } = open()
    await tier.set(`${ns}:k`, bytes('v'), 60_000)
    expect(await tier.get(`${ns}:k`)).toEqual(Buffer.from('v'))
  })
})
