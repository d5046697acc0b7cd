import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache } from '../../../dist/index.js'
import { BusCodec } from '../../../dist/invalidation/messages.js'
import { CLIENTS, closeAfterEach } from '../../helpers/fixtures.js'
import {
  type AclRules,
  CACHE_ACL,
  CACHE_CORE_COMMANDS,
  startRedisServer,
  useRedisServer,
} from '../../helpers/redis-server.js'

/**
 * The per-namespace ACL of docs/security.md, for namespace `secure` and its tenants: its keys,
 * tag markers and locks, its bus channels, and the cache's commands — nothing else.
 */
const SECURE_ACL: AclRules = {
  commands: CACHE_CORE_COMMANDS,
  keys: ['secure:*', 'secure@*', '!tag:secure:*', '!tag:secure@*', '!lock:secure:*', '!lock:secure@*'],
  channels: ['!bus:secure', '!bus:secure@*', '!bus:secure:stats'],
}

const server = useRedisServer({ acl: SECURE_ACL })
const SECRET = 'integration-suite bus secret, 32+ bytes'
const keys = { k1: randomBytes(32) }

describe.each(CLIENTS)('least privilege on a real Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (options: CacheOptions = {}) =>
    track(
      createCache({
        namespace: 'secure',
        jitter: 0,
        encryption: { keys, current: 'k1' },
        bus: { secret: SECRET },
        ...options,
        l2: { redis: server().url, client, breaker: false },
      }),
    )

  it('every feature works as a user limited to its namespace, channels and the cache commands', async () => {
    const a = open({ lock: { ttl: '2s' } })
    const b = open()
    await Promise.all([a.ready(), b.ready()])
    let calls = 0
    const load = () =>
      a.getOrSet({ key: 'user:1', tags: ['users'], factory: async () => ({ id: 1, n: ++calls }) })
    expect(await Promise.all([load(), load()])).toEqual([
      { id: 1, n: 1 },
      { id: 1, n: 1 },
    ])
    expect(await b.get('user:1')).toEqual({ id: 1, n: 1 })
    await a.set('user:2', { id: 2 }, { tags: ['users'], dependsOn: ['user:1'] })
    await a.invalidateTags(['users'])
    expect(await b.get('user:1', { skipL1: true })).toBeUndefined()
    await a.set('page:1', 'p1')
    await a.set('page:2', 'p2')
    expect(await a.deleteMatching('page:*')).toBe(2)
    await a.set('gone', 1)
    await a.delete('gone')
    expect(await b.get('gone')).toBeUndefined()
    const tenant = open({ tenant: 'acme' })
    await tenant.set('user:1', 'acme')
    await tenant.clear()
    await a.clear()
    expect(a.stats()).toMatchObject({ l2Errors: 0, securityEvents: 0 })
    expect(b.stats()).toMatchObject({ l2Errors: 0, securityEvents: 0 })
    expect(await server().deniedCommands()).toEqual([])
  })

  it('an attacker with full Redis access cannot plant, move or tamper with values, nor forge the bus', async () => {
    const a = open({ l1: { maxEntries: 100 } })
    const b = open({ l1: { maxEntries: 100 } })
    await Promise.all([a.ready(), b.ready()])
    await a.set('session:alice', { user: 'alice', admin: true })
    await a.set('session:mallory', { user: 'mallory', admin: false })
    // Moved: alice's ciphertext under mallory's key.
    const alice = await server().commandBuffer('GET', 'secure:v1:session:alice')
    await server().command('SET', 'secure:v1:session:mallory', alice as Buffer)
    expect(await b.get('session:mallory', { skipL1: true })).toBeUndefined()
    // Tampered: one byte of the ciphertext.
    const tampered = Buffer.from(alice as Buffer)
    tampered[tampered.length - 20] = (tampered[tampered.length - 20] as number) ^ 1
    await server().command('SET', 'secure:v1:session:alice', tampered)
    expect(await b.get('session:alice', { skipL1: true })).toBeUndefined()
    expect(b.stats()).toMatchObject({ integrityFailures: 2 })
    // Forged bus messages: unsigned, and a real one replayed.
    await b.set('kept', 'v')
    await server().command(
      'PUBLISH',
      '!bus:secure',
      new BusCodec().encode({ op: 'clear', source: 'evil', at: Date.now() }),
    )
    await expect.poll(() => b.stats().busUnauthenticated).toBe(1)
    expect(b.peek('kept')).toBe('v')
  })
})

describe.each(CLIENTS)('bad keys and scripts on a real Redis (client %s)', (client) => {
  const track = closeAfterEach()

  it('CRLF, NUL, emoji and NFC/NFD keys are distinct, literal keys (S5); scripts stay static whatever the keys and tags (S17)', async () => {
    const cache = track(createCache({ namespace: 'secure', l1: false, l2: { redis: server().url, client } }))
    const nfc = 'caf\u00e9'
    const nfd = 'cafe\u0301'
    const keys = ['k\r\nFLUSHALL\r\n', 'k\u0000x', 'k\u{1F600}', nfc, nfd, "k'); redis.call('flushall') --"]
    for (const [i, k] of keys.entries()) await cache.set(k, i, { tags: [`${k}-tag`, `t${i}`] })
    for (const [i, k] of keys.entries()) expect(await cache.get(k)).toBe(i)
    await cache.invalidateTags([`${nfc}-tag`])
    expect(await cache.get(nfc)).toBeUndefined()
    expect(await cache.get(nfd)).toBe(4)
    expect(await server().command('EXISTS', 'secure:v1:k\r\nFLUSHALL\r\n')).toBe(1)
    // Every Lua call used one of a few fixed sources: the server caches no script per key or tag.
    const info = String(await server().command('INFO', 'memory'))
    const scripts = Number(/number_of_cached_scripts:(\d+)/.exec(info)?.[1])
    expect(scripts).toBeGreaterThan(0)
    expect(scripts).toBeLessThanOrEqual(8)
    await cache.clear()
  })

  it('a refused login never shows the password in errors (S15)', async () => {
    const errors: string[] = []
    const url = server().url.replace('redis://', 'redis://nobody:hunter2-secret-password@')
    const cache = track(
      createCache({
        namespace: 'secure',
        l1: false,
        l2: { redis: url, client, timeout: '300ms', breaker: false },
      }),
    )
    cache.on('l2-error', ({ error }) =>
      errors.push(`${(error as Error).message} ${String((error as Error).cause)}`),
    )
    expect(await cache.get('k')).toBeUndefined()
    await expect(cache.set('k', 1, {})).resolves.toBeUndefined()
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.join('\n')).not.toContain('hunter2')
  })
})

describe('the ACL check itself', () => {
  it('the client user is refused FLUSHDB, KEYS, CONFIG and keys outside its patterns, and the helper reports each attempt', async () => {
    const own = await startRedisServer({ acl: SECURE_ACL })
    try {
      for (const command of [
        ['FLUSHDB'],
        ['KEYS', '*'],
        ['CONFIG', 'GET', 'maxmemory'],
        ['GET', 'other:key'],
      ]) {
        await expect(own.clientCommand(...command)).rejects.toThrow(/NOPERM/)
      }
      const denied = await own.deniedCommands()
      expect(denied.join('\n')).toMatch(/flushdb/)
      expect(denied.join('\n')).toMatch(/keys/)
      expect(denied.join('\n')).toMatch(/other:key/)
      // useRedisServer() fails the file on any such entry; admin commands go through another user.
      expect(await own.command('DBSIZE')).toBe(0)
    } finally {
      await own.stop()
    }
  })

  it('the suite-wide ACL (every integration test runs under it) has no dangerous command', () => {
    for (const dangerous of [
      'keys',
      'flushdb',
      'flushall',
      'config',
      'debug',
      'shutdown',
      'script',
      'acl',
      'client',
      'eval_ro',
    ]) {
      expect(CACHE_ACL.commands).not.toContain(dangerous)
    }
  })
})
