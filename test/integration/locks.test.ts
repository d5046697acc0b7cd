import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import type { StrataError } from '../../dist/errors.js'
import {
  IoRedisAdapter,
  NodeRedisAdapter,
  type RedisAdapter,
  RedisTier,
} from '../../dist/tiers/redis/index.js'
import { CLIENTS, type ClientName, pollUntil, timed } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()
const TIMEOUT_MS = 200
/** Scheduling slack on top of a deadline (two CI cores, two suites at a time). */
const MARGIN_MS = 300

function adapterFor(client: ClientName, url: string, onReady?: () => void): RedisAdapter {
  const options = {
    commandTimeoutMs: TIMEOUT_MS,
    connectTimeoutMs: 1000,
    maxQueuedCommands: 10_000,
    onError: () => {},
    ...(onReady === undefined ? {} : { onReady }),
  }
  return client === 'ioredis' ? new IoRedisAdapter(url, options) : new NodeRedisAdapter(url, options)
}

describe.each(CLIENTS)('RedisTier locks (client %s)', (client) => {
  const tiers: RedisTier[] = []
  afterEach(async () => {
    server().resume()
    await Promise.all(tiers.splice(0).map((t) => t.close()))
  })
  /**
   * A tier whose connection is up: the lock calls below are timed against a 200 ms deadline, which
   * a first command would otherwise share with connecting (slow on a loaded machine).
   */
  const open = async () => {
    let connected!: () => void
    const ready = new Promise<void>((resolve) => {
      connected = resolve
    })
    const tier = new RedisTier(
      adapterFor(client, server().url, () => connected()),
      {
        timeoutMs: TIMEOUT_MS,
        batchSize: 100,
      },
    )
    tiers.push(tier)
    await ready
    return { tier, locks: tier.locks! }
  }
  const lockKey = () => `${uniqueNamespace('locks')}:lock:k`
  const pttl = async (key: string) => Number(await server().command('PTTL', key))

  it('has locks, since the adapter implements setIfAbsent, compareAndDelete and compareAndExpire', async () => {
    expect((await open()).tier.locks).toBeDefined()
  })

  it('ping resolves while Redis answers', async () => {
    await expect((await open()).tier.ping()).resolves.toBeUndefined()
  })

  it('acquire takes a free lock: the key, used as given, holds the token and expires in ttlMs', async () => {
    const { locks } = await open()
    const key = lockKey()
    const token = randomUUID()
    expect(await locks.acquire(key, token, 5000)).toBe(true)
    expect(await server().command('GET', key)).toBe(token)
    const ttl = await pttl(key)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(5000)
  })

  it('acquire of a held lock returns false, from another instance or with the same token, and leaves it as it was', async () => {
    const a = await open()
    const b = await open()
    const key = lockKey()
    expect(await a.locks.acquire(key, 'a', 5000)).toBe(true)
    expect(await b.locks.acquire(key, 'b', 60_000)).toBe(false)
    expect(await a.locks.acquire(key, 'a', 60_000)).toBe(false)
    expect(await server().command('GET', key)).toBe('a')
    expect(await pttl(key)).toBeLessThanOrEqual(5000)
  })

  it('a lock expires by itself after ttlMs, and can then be taken by another holder', async () => {
    const a = await open()
    const b = await open()
    const key = lockKey()
    const start = performance.now()
    expect(await a.locks.acquire(key, 'a', 150)).toBe(true)
    expect(await b.locks.acquire(key, 'b', 5000)).toBe(false)
    expect(await pollUntil(() => b.locks.acquire(key, 'b', 5000), 3000)).toBe(true)
    expect(performance.now() - start).toBeGreaterThanOrEqual(140)
    expect(await server().command('GET', key)).toBe('b')
  })

  it('extend by the holder pushes the expiry to ttlMs from now', async () => {
    const { locks } = await open()
    const key = lockKey()
    await locks.acquire(key, 'a', 1000)
    expect(await locks.extend(key, 'a', 60_000)).toBe(true)
    expect(await pttl(key)).toBeGreaterThan(1000)
  })

  it('extend with a wrong token returns false and leaves the expiry alone', async () => {
    const { locks } = await open()
    const key = lockKey()
    await locks.acquire(key, 'a', 1000)
    expect(await locks.extend(key, 'b', 60_000)).toBe(false)
    expect(await pttl(key)).toBeLessThanOrEqual(1000)
    expect(await server().command('GET', key)).toBe('a')
  })

  it('extend of a lock that expired or never existed returns false and creates nothing', async () => {
    const { locks } = await open()
    const key = lockKey()
    expect(await locks.extend(key, 'a', 60_000)).toBe(false)
    expect(await server().command('EXISTS', key)).toBe(0)
  })

  it('extend with ttlMs Infinity removes the expiry', async () => {
    const { locks } = await open()
    const key = lockKey()
    await locks.acquire(key, 'a', 1000)
    expect(await locks.extend(key, 'a', Number.POSITIVE_INFINITY)).toBe(true)
    expect(await pttl(key)).toBe(-1)
    await server().command('DEL', key)
  })

  it('release by a wrong token does nothing: the holder keeps the lock', async () => {
    const { locks } = await open()
    const key = lockKey()
    await locks.acquire(key, 'a', 60_000)
    expect(await locks.release(key, 'b')).toBe(false)
    expect(await server().command('GET', key)).toBe('a')
    expect(await locks.acquire(key, 'b', 1000)).toBe(false)
  })

  it('release by the holder frees the lock at once; a second release returns false', async () => {
    const a = await open()
    const b = await open()
    const key = lockKey()
    await a.locks.acquire(key, 'a', 60_000)
    expect(await a.locks.release(key, 'a')).toBe(true)
    expect(await server().command('EXISTS', key)).toBe(0)
    expect(await a.locks.release(key, 'a')).toBe(false)
    expect(await b.locks.acquire(key, 'b', 1000)).toBe(true)
  })

  it('a holder whose lock expired and was taken by another cannot release or extend the new holder’s lock', async () => {
    const late = await open()
    const next = await open()
    const key = lockKey()
    await late.locks.acquire(key, 'late', 100)
    expect(await pollUntil(() => next.locks.acquire(key, 'next', 60_000), 3000)).toBe(true)
    expect(await late.locks.release(key, 'late')).toBe(false)
    expect(await late.locks.extend(key, 'late', 60_000)).toBe(false)
    expect(await server().command('GET', key)).toBe('next')
    expect(await pttl(key)).toBeGreaterThan(1000)
  })

  it('extend and release still work after SCRIPT FLUSH (EVALSHA falls back to EVAL on NOSCRIPT)', async () => {
    const { locks } = await open()
    const key = lockKey()
    await locks.acquire(key, 'a', 1000)
    expect(await locks.extend(key, 'a', 60_000)).toBe(true)
    await server().command('SCRIPT', 'FLUSH')
    expect(await locks.extend(key, 'a', 30_000)).toBe(true)
    await server().command('SCRIPT', 'FLUSH')
    expect(await locks.release(key, 'a')).toBe(true)
    expect(await server().command('EXISTS', key)).toBe(0)
  })

  it('with the server frozen (SIGSTOP), ping and every lock call reject with E_L2_TIMEOUT within the deadline', async () => {
    const { tier, locks } = await open()
    const key = lockKey()
    await locks.acquire(key, 'a', 60_000)
    server().pause()
    try {
      const calls: [string, () => Promise<unknown>][] = [
        ['ping', () => tier.ping()],
        ['acquire', () => locks.acquire(`${key}:2`, 'b', 1000)],
        ['extend', () => locks.extend(key, 'a', 60_000)],
        ['release', () => locks.release(key, 'a')],
      ]
      const results = await Promise.all(calls.map(async ([what, call]) => ({ what, ...(await timed(call)) })))
      for (const { what, ok, error, ms } of results) {
        expect(ok, what).toBe(false)
        expect((error as StrataError).code, what).toBe('E_L2_TIMEOUT')
        expect(ms, what).toBeLessThan(TIMEOUT_MS + MARGIN_MS)
      }
    } finally {
      server().resume()
    }
    // Once Redis answers again, so do the locks. (The commands written before the deadline still
    // ran after SIGCONT, release included: a timed-out call may have been applied.)
    const answered = await pollUntil(
      () =>
        tier.ping().then(
          () => true,
          () => false,
        ),
      5000,
    )
    expect(answered).toBe(true)
    const fresh = lockKey()
    expect(await locks.acquire(fresh, 'c', 60_000)).toBe(true)
    expect(await locks.release(fresh, 'c')).toBe(true)
  })

  it('lock calls on a closed tier reject with E_CLOSED', async () => {
    const { tier, locks } = await open()
    await tier.close()
    await expect(locks.acquire(lockKey(), 'a', 1000)).rejects.toMatchObject({ code: 'E_CLOSED' })
    await expect(tier.ping()).rejects.toMatchObject({ code: 'E_CLOSED' })
  })
})

describe('RedisTier over an adapter without the lock commands', () => {
  it('has no locks, and ping falls back to a GET', async () => {
    const options = {
      commandTimeoutMs: TIMEOUT_MS,
      connectTimeoutMs: 1000,
      maxQueuedCommands: 10_000,
      onError: () => {},
    }
    const real = new IoRedisAdapter(server().url, options)
    const gets: string[] = []
    // A user's own adapter written before ping and the lock commands existed.
    const adapter: RedisAdapter = {
      client: 'custom',
      get: (key) => {
        gets.push(key)
        return real.get(key)
      },
      mget: (keys) => real.mget(keys),
      set: (key, value, ttlMs) => real.set(key, value, ttlMs),
      setMany: (entries) => real.setMany(entries),
      unlink: (keys) => real.unlink(keys),
      scan: (cursor, match, count) => real.scan(cursor, match, count),
      close: (force) => real.close(force),
    }
    const tier = new RedisTier(adapter, { timeoutMs: TIMEOUT_MS, batchSize: 100 })
    try {
      expect(tier.locks).toBeUndefined()
      expect('locks' in tier).toBe(false)
      await tier.ping()
      expect(gets).toEqual(['stratacache:ping'])
    } finally {
      await tier.close()
    }
  })
})
