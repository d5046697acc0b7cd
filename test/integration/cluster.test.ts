/**
 * The cache, tags, locks and the bus against a real Redis Cluster (3 masters on loopback), with
 * both clients. The scenarios of the invalidation suite run twice, on a single Redis and on the
 * cluster, from one list: what holds on one must hold on the other. Then what only a cluster has:
 * keys on every master, hash slots, cluster clients passed in, and one master killed.
 */
import Redis from 'ioredis'
import { createCluster } from 'redis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type CacheOptions, createCache, key } from '../../dist/index.js'
import {
  IoRedisClusterAdapter,
  keySlot,
  NodeRedisClusterAdapter,
  parseClusterUrls,
  type RedisAdapter,
} from '../../dist/tiers/redis/index.js'
import {
  CLIENTS,
  type ClientName,
  closeAfterEach,
  collectUnhandledRejections,
  deferred,
  pollUntil,
} from '../helpers/fixtures.js'
import { type RespArg, useRedisCluster } from '../helpers/redis-cluster.js'
import {
  type AclRules,
  CACHE_CORE_COMMANDS,
  uniqueNamespace,
  useRedisServer,
} from '../helpers/redis-server.js'

/**
 * docs/security.md's per-namespace ACL line for the namespaces `sc.<name>` (child namespaces of
 * `sc`, one per scenario), plus what a cluster client needs: CLUSTER SLOTS (the topology) and, for
 * ioredis, CLIENT SETNAME.
 */
const CLUSTER_NAMESPACE_ACL: AclRules = {
  // ioredis names the connection it refreshes the slot table on (CLIENT SETNAME), whatever its options.
  commands: [...CACHE_CORE_COMMANDS, 'cluster|slots', 'client|setname'],
  keys: ['sc.*:*', 'sc.*@*', '!tag:sc.*:*', '!tag:sc.*@*', '!lock:sc.*:*', '!lock:sc.*@*'],
  channels: ['!bus:sc.*'],
}

const server = useRedisServer()
const cluster = useRedisCluster()
const secureCluster = useRedisCluster(3, { tls: true, acl: CLUSTER_NAMESPACE_ACL })

type RedisOption = NonNullable<Exclude<CacheOptions['l2'], false | undefined>['redis']>

/** Where a scenario runs: how to point a cache at it and look inside. */
interface Target {
  readonly name: string
  readonly isCluster: boolean
  /** A namespace of its own for one scenario. */
  namespace(label: string): string
  redis(): RedisOption
  /** More `l2` options (TLS). */
  l2(): Partial<Exclude<CacheOptions['l2'], false | undefined>>
  /** Every key matching `match` on each master (a cluster), one list per master. */
  perMaster(match: string): Promise<string[][]>
  /** Commands the server's ACL refused (none without an ACL). */
  denied(): Promise<string[]>
  /** Every key matching `match`, across every master. */
  scan(match: string): Promise<string[]>
  /** A command, sent to the master that owns its first key (`args[1]`). */
  command(...args: RespArg[]): Promise<unknown>
  /** Drops every subscriber connection (CLIENT KILL TYPE pubsub on every node). */
  killSubscribers(): Promise<void>
}

const single: Target = {
  name: 'a single Redis',
  isCluster: false,
  namespace: uniqueNamespace,
  redis: () => server().url,
  l2: () => ({}),
  perMaster: async (match) => [await server().scan(match)],
  denied: () => server().deniedCommands(),
  scan: (match) => server().scan(match),
  command: (...args) => server().command(...args),
  killSubscribers: async () => {
    await server().command('CLIENT', 'KILL', 'TYPE', 'pubsub')
  },
}

const cluster3: Target = {
  name: 'a 3-master Redis Cluster',
  isCluster: true,
  namespace: uniqueNamespace,
  redis: () => ({ cluster: cluster().urls }),
  l2: () => ({}),
  perMaster: async (match) => Promise.all((await cluster().masters()).map((n) => n.scan(match))),
  denied: () => cluster().deniedCommands(),
  scan: (match) => cluster().scan(match),
  command: (...args) => cluster().commandForKey(String(args[1]), ...args),
  killSubscribers: async () => {
    await Promise.all(cluster().nodes.map((n) => n.command('CLIENT', 'KILL', 'TYPE', 'pubsub')))
  },
}

const secure: Target = {
  name: 'a 3-master Redis Cluster over TLS, under the per-namespace ACL',
  isCluster: true,
  namespace: (label) => `sc.${uniqueNamespace(label)}`,
  redis: () => ({ cluster: secureCluster().urls }),
  l2: () => ({ tls: { ca: secureCluster().certificates?.ca as string } }),
  perMaster: async (match) => Promise.all((await secureCluster().masters()).map((n) => n.scan(match))),
  denied: () => secureCluster().deniedCommands(),
  scan: (match) => secureCluster().scan(match),
  command: (...args) => secureCluster().commandForKey(String(args[1]), ...args),
  killSubscribers: async () => {
    await Promise.all(secureCluster().nodes.map((n) => n.command('CLIENT', 'KILL', 'TYPE', 'pubsub')))
  },
}

/**
 * The interleaving of "Scaling Memcache" §3.2.1, forced: a load reads the source (v1), the source
 * changes to v2 and the cache entry is invalidated, then the load writes what it read.
 */
async function race(
  getOrSet: (load: () => Promise<string>) => Promise<string>,
  invalidate: () => Promise<void>,
): Promise<void> {
  let source = 'v1'
  const readDone = deferred()
  const resume = deferred()
  const loading = getOrSet(async () => {
    const read = source
    readDone.resolve()
    await resume.promise
    return read
  })
  await readDone.promise
  source = 'v2'
  await invalidate()
  resume.resolve()
  await loading
}

describe.each([
  [single.name, single],
  [cluster3.name, cluster3],
  [secure.name, secure],
] as const)('on %s', (_, target) => {
  describe.each(CLIENTS)('client %s', (client) => {
    const track = closeAfterEach()
    afterEach(async () => {
      // Under an ACL: the cache never sent a command (or touched a key or channel) it may not.
      expect(await target.denied()).toEqual([])
    })
    const open = async (namespace: string, extra: CacheOptions = {}) => {
      const cache = track(
        createCache({
          namespace,
          jitter: 0,
          l2: { redis: target.redis(), client, ...target.l2() },
          ...extra,
        }),
      )
      await cache.ready()
      return cache
    }

    it('get, set, getMany, getOrSet, getOrSetMany and delete over 300 keys (on every master of a cluster)', async () => {
      const namespace = target.namespace('spread')
      const a = await open(namespace)
      const keys = Array.from({ length: 300 }, (_, i) => `k${i}`)
      for (const k of keys.slice(0, 50)) await a.set(k, `set:${k}`)
      expect(await a.getOrSet({ key: 'k60', factory: () => 'loaded:k60' })).toBe('loaded:k60')
      let asked: string[] = []
      const loaded = await a.getOrSetMany({
        keys,
        factory: async (missing) => {
          asked = [...missing]
          return new Map(missing.map((k) => [k, `loaded:${k}`]))
        },
      })
      expect(asked).toHaveLength(249)
      expect(loaded.get('k0')).toBe('set:k0')
      expect(loaded.get('k299')).toBe('loaded:k299')
      // getOrSetMany writes back in the background.
      expect(await pollUntil(async () => (await target.scan(`${namespace}:*`)).length === 300, 5000)).toBe(
        true,
      )
      const stored = await target.scan(`${namespace}:*`)
      if (target.isCluster) {
        const perMaster = await target.perMaster(`${namespace}:*`)
        // CRC16 spreads 300 keys over the three slot ranges: ~100 each, none empty.
        for (const onOne of perMaster) expect(onOne.length).toBeGreaterThan(50)
        expect(perMaster.flat().sort()).toEqual(stored)
      }
      // Another instance (empty L1) reads everything back from the L2, in one getMany.
      const b = await open(namespace)
      const values = await b.getMany(keys)
      expect(values).toEqual(keys.map((k, i) => (i < 50 ? `set:${k}` : `loaded:${k}`)))
      expect(b.stats().l2Hits).toBe(300)
      expect(b.stats().l2Errors).toBe(0)
      // Deletes leave tombstones (the lease check of loads in flight), one per key, on every master.
      await a.deleteMany(keys.slice(0, 150))
      const c = await open(namespace)
      expect(await c.getMany(['k0', 'k149', 'k150', 'k299'])).toEqual([
        undefined,
        undefined,
        'loaded:k150',
        'loaded:k299',
      ])
      expect(a.stats().l2Errors + b.stats().l2Errors + c.stats().l2Errors).toBe(0)
    })

    it('a delete in one instance reaches the L1 of another over pub/sub', async () => {
      const namespace = target.namespace('bus')
      const a = await open(namespace)
      const b = await open(namespace)
      await a.set('k', 'v1')
      await vi.waitFor(() => expect(b.stats().busMessages).toBe(1)) // the set's own message
      expect(await b.get('k')).toBe('v1')
      await a.delete('k')
      await vi.waitFor(() => expect(b.peek('k')).toBeUndefined())
      expect(b.stats().busMessages).toBe(2)
    })

    it('invalidateTags reaches every instance and the L2; untagged and other-tag entries stay', async () => {
      const namespace = target.namespace('tags')
      const a = await open(namespace)
      const b = await open(namespace)
      await a.set('p1', 1, { tags: ['products', 'tv'] })
      await a.set('p2', 2, { tags: ['products', 'audio'] })
      await a.set('u', 3)
      // Each set publishes: once b has heard them, only the invalidation can drop its copies.
      await vi.waitFor(() => expect(b.stats().busMessages).toBe(3))
      expect(await b.getMany(['p1', 'p2', 'u'])).toEqual([1, 2, 3])
      await a.invalidateTags(['tv'])
      await vi.waitFor(() => expect(b.peek('p1')).toBeUndefined())
      expect(b.peek('p2')).toBe(2)
      const c = await open(namespace)
      expect(await c.getMany(['p1', 'p2', 'u'])).toEqual([undefined, 2, 3])
    })

    it('tag markers deleted behind the cache’s back: the tagged entries read as misses, not stale hits', async () => {
      const namespace = target.namespace('evicted')
      const a = await open(namespace)
      await a.set('p', 'value', { tags: ['t1', 't2'] })
      const markers = await target.scan(`!tag:${namespace}:*`)
      expect(markers.sort()).toEqual([`!tag:${namespace}:t1`, `!tag:${namespace}:t2`])
      await target.command('DEL', `!tag:${namespace}:t2`)
      const b = await open(namespace)
      expect(await b.get('p')).toBeUndefined()
      expect(b.stats().tagInvalidatedReads).toBe(1)
    })

    it('tag markers expire with the entries that use them (bounded metadata)', async () => {
      const namespace = target.namespace('bounded')
      const a = await open(namespace)
      await a.set('p', 'v', { tags: ['t'], ttl: '10s' })
      const pttl = Number(await target.command('PTTL', `!tag:${namespace}:t`))
      expect(pttl).toBeGreaterThan(9_000)
      expect(pttl).toBeLessThanOrEqual(10_000)
      await a.set('q', 'v', { tags: ['t'], ttl: '1h' })
      expect(Number(await target.command('PTTL', `!tag:${namespace}:t`))).toBeGreaterThan(3_500_000)
    })

    it('deleteMatching deletes only what the literal pattern names (user input with * ? [ ] \\), on every master', async () => {
      const namespace = target.namespace('match')
      const a = await open(namespace)
      const inputs = ['u*', 'u?', 'u[1]', 'u[a-z]', 'u\\', 'u1', 'ua', 'u']
      for (const input of inputs) {
        await a.set(key('user', input, 'profile'), input)
        await a.set(key('user', input, 'orders'), input)
      }
      for (let i = 0; i < 40; i++) await a.set(key('bulk', String(i)), i)
      for (const hostile of ['u*', 'u?', 'u[1]', 'u\\']) {
        const before = (await target.scan(`${namespace}:*`)).length
        expect(await a.deleteMatching(`${key('user', hostile)}:*`)).toBe(2)
        expect((await target.scan(`${namespace}:*`)).length).toBe(before - 2)
      }
      // 40 keys spread over every master: SCAN must visit each.
      expect(await a.deleteMatching(`${key('bulk')}:*`)).toBe(40)
      const b = await open(namespace)
      for (const input of ['u[a-z]', 'u1', 'ua', 'u']) {
        expect(await b.get(key('user', input, 'profile'))).toBe(input)
      }
      expect(await b.get(key('user', 'u*', 'profile'))).toBeUndefined()
      expect(await b.get(key('bulk', '7'))).toBeUndefined()
    })

    it('clear() removes the namespace from every master and reaches the other instances', async () => {
      const namespace = target.namespace('clear')
      const other = target.namespace('kept')
      const a = await open(namespace)
      const b = await open(namespace)
      const keep = await open(other)
      const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
      for (const k of keys) await a.set(k, k)
      await keep.set('k', 'kept')
      expect(await b.getMany(keys)).toEqual(keys)
      await a.clear()
      expect(await target.scan(`${namespace}:*`)).toEqual([])
      await vi.waitFor(() => expect(b.peek('k0')).toBeUndefined())
      expect(await b.getMany(['k0', 'k59'])).toEqual([undefined, undefined])
      expect(await target.scan(`${other}:*`)).toHaveLength(1)
    })

    it('distributed single-flight: two instances asking for a cold key run one factory', async () => {
      const namespace = target.namespace('sf')
      const a = await open(namespace)
      const b = await open(namespace)
      const release = deferred<string>()
      let calls = 0
      const factory = () => {
        calls++
        return release.promise
      }
      const fromA = a.getOrSet({ key: 'cold', factory })
      // b asks once a holds the lock on the L2.
      expect(
        await pollUntil(async () => (await target.scan(`!lock:${namespace}:*`)).length === 1, 3000),
      ).toBe(true)
      const fromB = b.getOrSet({ key: 'cold', factory })
      await new Promise((resolve) => setTimeout(resolve, 50))
      release.resolve('the one value')
      expect(await Promise.all([fromA, fromB])).toEqual(['the one value', 'the one value'])
      expect(calls).toBe(1)
      expect(b.stats().lockWaits).toBe(1)
    })

    it('a load that started before a delete does not write its old result back; every reader misses', async () => {
      const namespace = target.namespace('lease')
      const a = await open(namespace)
      const b = await open(namespace)
      await race(
        (load) => a.getOrSet({ key: 'k', factory: load }),
        () => b.delete('k'),
      )
      expect(a.stats().writesRefused).toBe(1)
      const c = await open(namespace)
      expect(await c.get('k')).toBeUndefined()
      expect(a.peek('k')).toBeUndefined()
      expect(await a.getOrSet({ key: 'k', factory: () => 'v2' })).toBe('v2')
    })

    it('the same holds for a tag invalidated during the load', async () => {
      const namespace = target.namespace('lease-tag')
      const a = await open(namespace)
      const b = await open(namespace)
      await race(
        (load) => a.getOrSet({ key: 'k', tags: ['t'], factory: load }),
        () => b.invalidateTags(['t']),
      )
      const c = await open(namespace)
      expect(await c.get('k')).toBeUndefined()
      expect(a.peek('k')).toBeUndefined()
    })

    it('late writes are fenced: a set or delete dated before the value a key holds does not replace it (issue 18)', async () => {
      const namespace = target.namespace('fence')
      const b = await open(namespace)
      // Every write of this instance is dated a minute back: older than b's.
      const late = await open(namespace, { clock: () => Date.now() - 60_000 })
      await b.set('k', 'new')
      await b.set('j', 'new')
      await late.set('k', 'older')
      await late.delete('j')
      expect(late.stats().writesRefused).toBe(1)
      expect(late.peek('k')).toBeUndefined()
      const c = await open(namespace)
      expect(await c.getMany(['k', 'j'])).toEqual(['new', 'new'])
      // A newer write still replaces it.
      await b.set('k', 'newer')
      expect(await (await open(namespace)).get('k')).toBe('newer')
    })

    it('the subscriber connection killed while invalidations happen: after it resubscribes, nothing invalidated is served', async () => {
      const namespace = target.namespace('cut')
      const a = await open(namespace)
      const b = await open(namespace)
      for (let i = 0; i < 20; i++) await a.set(`k${i}`, 'old', { tags: ['t'] })
      for (let i = 0; i < 20; i++) expect(await b.get(`k${i}`)).toBe('old')
      await target.killSubscribers()
      // Invalidate while b's subscriber is (or may be) away.
      await a.invalidateTags(['t'])
      for (let i = 0; i < 20; i += 2) await a.set(`k${i}`, 'new', { tags: ['t'] })
      await vi.waitFor(() => expect(b.stats().busResyncs).toBeGreaterThan(0), { timeout: 10_000 })
      for (let i = 0; i < 20; i++) expect(await b.get(`k${i}`)).toBe(i % 2 === 0 ? 'new' : undefined)
      // And the bus works again.
      await a.delete('k0')
      await vi.waitFor(() => expect(b.peek('k0')).toBeUndefined())
    })
  })
})

describe('only on a cluster', () => {
  const adapterOptions = { commandTimeoutMs: 1000, connectTimeoutMs: 1000, maxQueuedCommands: 10_000 }
  const adapters: RedisAdapter[] = []
  afterEach(async () => {
    await Promise.all(adapters.splice(0).map((a) => a.close(false)))
  })
  const openAdapter = (client: ClientName, onError: (error: unknown) => void = () => {}) => {
    const nodes = parseClusterUrls({ cluster: cluster().urls })
    const options = { ...adapterOptions, onError }
    const adapter =
      client === 'ioredis'
        ? new IoRedisClusterAdapter(nodes, options)
        : new NodeRedisClusterAdapter(nodes, options)
    adapters.push(adapter)
    return adapter
  }

  it('keySlot agrees with CLUSTER KEYSLOT, {hash tags} and UTF-8 included', async () => {
    const keys = [
      '',
      'a',
      '123456789',
      '{user1000}.following',
      '{user1000}.followers',
      'foo{}{bar}',
      'foo{{bar}}zap',
      'foo{bar}{zap}',
      '{}x',
      'x{',
      'x}{y}',
      'cache:v1:user:42',
      'clé:ü:日本語',
      '{日本}:a',
      '!tag:ns:t',
    ]
    for (let i = 0; i < 200; i++) keys.push(`ns-${i}:v1:${Math.random().toString(36).slice(2)}`)
    const expected = await Promise.all(keys.map((k) => cluster().slotOf(k)))
    expect(keys.map(keySlot)).toEqual(expected)
    expect(keySlot('123456789')).toBe(0x31c3 % 16384) // the spec's CRC16 check value
  })

  it.each(CLIENTS)(
    'client %s: MGET per slot (hash-tagged keys share one), per master in one pipeline; no CROSSSLOT',
    async (client) => {
      const adapter = openAdapter(client)
      const ns = uniqueNamespace('slots')
      const tagged = Array.from({ length: 10 }, (_, i) => `${ns}:{user:1}:${i}`)
      const other = Array.from({ length: 10 }, (_, i) => `${ns}:{user:2}:${i}`)
      const loose = Array.from({ length: 30 }, (_, i) => `${ns}:loose:${i}`)
      const keys = [...tagged, ...loose, ...other]
      await adapter.setMany(keys.map((k) => ({ key: k, value: Buffer.from(k), ttlMs: 60_000 })))
      await Promise.all(cluster().nodes.map((n) => n.command('CONFIG', 'RESETSTAT')))
      const values = await adapter.mget([...keys, `${ns}:missing`])
      expect(values.map((v) => v?.toString() ?? null)).toEqual([...keys, null])
      const calls = async (command: string) => {
        let total = 0
        for (const node of cluster().nodes) {
          const info = String(await node.command('INFO', 'commandstats'))
          const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(info)
          total += match ? Number(match[1]) : 0
        }
        return total
      }
      // One MGET per slot holding several of the keys (each hash tag; two loose keys may share a
      // slot too, by chance), one GET per slot holding one: by the server's own slots.
      const slots = await Promise.all([...keys, `${ns}:missing`].map((k) => cluster().slotOf(k)))
      const perSlot = new Map<number, number>()
      for (const slot of slots) perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1)
      const shared = [...perSlot.values()].filter((n) => n > 1).length
      expect(shared).toBeGreaterThanOrEqual(2)
      expect(await calls('mget')).toBe(shared)
      expect(await calls('get')).toBe(perSlot.size - shared)
      expect(await adapter.unlink(keys)).toBe(50)
      expect(await cluster().scan(`${ns}:*`)).toEqual([])
    },
  )

  it.each(CLIENTS)('client %s: SCAN visits every master behind one cursor', async (client) => {
    const adapter = openAdapter(client)
    const ns = uniqueNamespace('scan')
    const keys = Array.from({ length: 90 }, (_, i) => `${ns}:${i}`)
    await adapter.setMany(keys.map((k) => ({ key: k, value: Buffer.from('x'), ttlMs: 60_000 })))
    const seen: string[] = []
    let cursor = '0'
    let pages = 0
    do {
      const page = await adapter.scan(cursor, `${ns}:*`, 10)
      seen.push(...page.keys)
      cursor = page.cursor
      pages++
    } while (cursor !== '0')
    expect([...new Set(seen)].sort()).toEqual([...keys].sort())
    expect(pages).toBeGreaterThanOrEqual(3)
    expect(await adapter.unlink(keys)).toBe(90)
  })

  it.each(CLIENTS)(
    'client %s: a Cluster client you pass in is used as is, and not closed by cache.close()',
    async (client) => {
      const urls = cluster().urls
      const mine =
        client === 'ioredis'
          ? new Redis.Cluster(urls.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) })))
          : createCluster({ rootNodes: urls.map((url) => ({ url })) })
      if (!(mine instanceof Redis.Cluster)) await mine.connect()
      try {
        const namespace = uniqueNamespace('yours')
        const a = createCache({ namespace, l2: { redis: mine } })
        const b = createCache({ namespace, l2: { redis: { cluster: urls }, client } })
        await Promise.all([a.ready(), b.ready()])
        const keys = Array.from({ length: 40 }, (_, i) => `k${i}`)
        for (const k of keys) await a.set(k, k, { tags: ['t'] })
        expect(await b.getMany(keys)).toEqual(keys)
        await b.invalidateTags(['t'])
        await vi.waitFor(() => expect(a.peek('k1')).toBeUndefined())
        expect(await a.getMany(['k1', 'k2'])).toEqual([undefined, undefined])
        await a.close()
        await b.close()
        expect(await mine.set(`${namespace}:still-open`, 'yes')).toBe('OK')
      } finally {
        if (mine instanceof Redis.Cluster) mine.disconnect()
        else mine.destroy()
      }
    },
  )

  it.each(CLIENTS)(
    'client %s: a keyPrefix on your Cluster client is hashed too (no CROSSSLOT for keys its prefix moves apart)',
    async (client) => {
      const urls = cluster().urls
      const mine =
        client === 'ioredis'
          ? new Redis.Cluster(
              urls.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) })),
              { keyPrefix: 'app:' },
            )
          : createCluster({ rootNodes: urls.map((url) => ({ url })), keyPrefix: 'app:' })
      if (!(mine instanceof Redis.Cluster)) await mine.connect()
      try {
        const namespace = uniqueNamespace('prefixed')
        // Two keys whose storage keys share a slot, but not once prefixed: one MGET for both would fail.
        const bySlot = new Map<number, string>()
        let pair: [string, string] | undefined
        for (let i = 0; pair === undefined; i++) {
          const k = `c${i}`
          const slot = keySlot(`${namespace}:v1:${k}`)
          const other = bySlot.get(slot)
          if (
            other !== undefined &&
            keySlot(`app:${namespace}:v1:${other}`) !== keySlot(`app:${namespace}:v1:${k}`)
          ) {
            pair = [other, k]
          } else bySlot.set(slot, k)
        }
        const a = createCache({ namespace, l2: { redis: mine } })
        await a.ready()
        await a.set(pair[0], 'first')
        await a.set(pair[1], 'second')
        const b = createCache({ namespace, l2: { redis: mine } })
        const errors: unknown[] = []
        b.on('l2-error', ({ error }) => errors.push(error))
        expect(await b.getMany(pair)).toEqual(['first', 'second'])
        expect(errors).toEqual([])
        expect(await cluster().scan(`app:${namespace}:*`)).toHaveLength(2)
        await a.close()
        await b.close()
      } finally {
        if (mine instanceof Redis.Cluster) mine.disconnect()
        else mine.destroy()
      }
    },
  )

  it('rejects a malformed cluster option at construction, with the reason', () => {
    const bad: [unknown, RegExp][] = [
      [{ cluster: [] }, /non-empty array of node URLs/],
      [{ cluster: 'redis://127.0.0.1:7000' }, /non-empty array of node URLs/],
      [{ cluster: ['127.0.0.1:7000'] }, /cluster\[0\] must be a redis:\/\/ or rediss:\/\/ URL/],
      [{ cluster: ['redis://127.0.0.1:7000', 42] }, /cluster\[1\] must be a redis:\/\/ or rediss:\/\/ URL/],
      [{ cluster: ['redis://127.0.0.1:7000/2'] }, /database 2: a Redis Cluster has only database 0/],
      [
        { cluster: ['redis://127.0.0.1:7000', 'rediss://127.0.0.1:7001'] },
        /mixes redis:\/\/ and rediss:\/\//,
      ],
      [{ cluster: ['redis://:a@127.0.0.1:7000', 'redis://:b@127.0.0.1:7001'] }, /different credentials/],
      [{ cluster: ['redis://127.0.0.1:7000'], password: 'x' }, /takes only `cluster`.*`password`/],
    ]
    for (const [redis, message] of bad) {
      let thrown: unknown
      try {
        createCache({ l2: { redis: redis as RedisOption } })
      } catch (error) {
        thrown = error
      }
      expect(thrown, JSON.stringify(redis)).toMatchObject({ code: 'E_INVALID_OPTION' })
      expect((thrown as Error).message).toMatch(message)
    }
  })
})

describe.each(CLIENTS)('one master killed (client %s)', (client) => {
  const track = closeAfterEach()
  const unhandled = collectUnhandledRejections()
  afterEach(async () => {
    // Whatever happened, leave a whole cluster to what comes next.
    for (const node of cluster().nodes) if (node.pid === undefined) await node.start()
    await cluster().waitUntilOk()
  })

  it('keys on the other masters keep working, keys on the dead one fail fast and fall back, the bus moves to a live master; the breaker opens on a run of failures and closes once the master is back', async () => {
    const namespace = uniqueNamespace('down')
    const options = (extra: CacheOptions = {}): CacheOptions => ({
      namespace,
      jitter: 0,
      l2: { redis: { cluster: cluster().urls }, client, breaker: false },
      ...extra,
    })
    const pubsubClients = async () =>
      Promise.all(
        cluster().nodes.map(async (node) => {
          const list = String(await node.command('CLIENT', 'LIST', 'TYPE', 'pubsub'))
          return new Set([...list.matchAll(/id=(\d+)/g)].map((m) => m[1]))
        }),
      )
    const a = track(createCache(options()))
    await a.ready()
    const before = await pubsubClients()
    const b = track(createCache(options()))
    await b.ready()
    const after = await pubsubClients()
    const keys = Array.from({ length: 60 }, (_, i) => `k${i}`)
    for (const k of keys) await a.set(k, `v:${k}`)
    // Kill the master that holds b's subscriber, so that b's bus has to move.
    const victim = cluster().nodes.find((_, i) => [...after[i]!].some((id) => !before[i]!.has(id)))!
    expect(victim).toBeDefined()
    const owners = await Promise.all(keys.map((k) => cluster().nodeOf(`${namespace}:v1:${k}`)))
    const dead = keys.filter((_, i) => owners[i] === victim)
    const live = keys.filter((_, i) => owners[i] !== victim)
    expect(dead.length).toBeGreaterThan(5)
    await victim.kill()

    // A fresh instance (empty L1): live keys come from the L2, dead ones are misses, nothing throws.
    const c = track(createCache(options()))
    const errors: unknown[] = []
    c.on('l2-error', ({ error }) => errors.push(error))
    expect(await c.getMany(live)).toEqual(live.map((k) => `v:${k}`))
    for (const k of live.slice(0, 5)) expect(await c.get(k)).toBe(`v:${k}`)
    const started = performance.now()
    for (const k of dead.slice(0, 5)) expect(await c.get(k)).toBeUndefined()
    expect(await c.getOrSet({ key: dead[0]!, factory: () => 'from the factory' })).toBe('from the factory')
    // Refused connections fail at once, not at the 500 ms deadline.
    expect(performance.now() - started).toBeLessThan(5 * 500)
    expect(errors.length).toBeGreaterThan(0)
    expect(errors.some((e) => /CROSSSLOT/.test(String((e as Error).message)))).toBe(false)
    // Writes to live keys reach the L2; writes to dead keys are suppressed (queued for repair).
    await c.set(live[0]!, 'written while one master is down')
    await c.set(dead[1]!, 'only in the L1')
    expect(
      await cluster().commandForKey(`${namespace}:v1:${live[0]}`, 'EXISTS', `${namespace}:v1:${live[0]}`),
    ).toBe(1)
    // getMany mixing both: the live ones are hits, the dead ones misses.
    const d = track(createCache(options()))
    const mixed = await d.getMany([live[1]!, dead[2]!, live[2]!])
    expect(mixed).toEqual([`v:${live[1]}`, undefined, `v:${live[2]}`])

    // clear() cannot reach the dead master's keys. It follows l2.writeErrors like delete (the one
    // L2-failure policy): with 'throw' it fails rather than report success, naming the client's
    // error as its cause…
    const g = track(
      createCache({
        ...options(),
        namespace: uniqueNamespace('clear-down'),
        l2: { redis: { cluster: cluster().urls }, client, breaker: false, writeErrors: 'throw' },
      }),
    )
    const failure = await g.clear().then(
      () => undefined,
      (error: unknown) => error as Error & { code?: string; cause?: unknown },
    )
    expect(failure).toBeInstanceOf(Error)
    expect(failure?.code).toMatch(/^E_L2/)
    expect(`${failure?.message} ${String(failure?.cause)}`).toMatch(/not connected|offline|closed/i)
    // …and with the default ('suppress') it resolves: the L1 is cleared, the L2 clear is queued.
    const h = track(createCache({ ...options(), namespace: uniqueNamespace('clear-down') }))
    await h.set('cleared', 'in the L1')
    await h.clear()
    expect(h.peek('cleared')).toBeUndefined()

    // The bus: b's subscriber was on the victim; it resubscribes on a live master.
    await vi.waitFor(() => expect(b.stats().busResyncs).toBeGreaterThan(0), { timeout: 10_000 })
    expect(await b.get(live[3]!)).toBe(`v:${live[3]}`)
    // (A set, not a delete: a delete also bumps the key's dependency marker, in another slot,
    // which may be on the dead master; then the delete fails as a whole and is not published.)
    await a.set(live[3]!, 'replaced')
    await vi.waitFor(() => expect(b.peek(live[3]!)).toBeUndefined())
    expect(await b.get(live[3]!)).toBe('replaced')

    // With a breaker: a run of failures on the dead master opens it (calls fail fast, L1 only)…
    const e = track(
      createCache({
        ...options(),
        l2: { redis: { cluster: cluster().urls }, client, breaker: { threshold: 3, breakDuration: '300ms' } },
      }),
    )
    const states: string[] = []
    e.on('breaker', ({ state }) => states.push(state))
    for (const k of dead.slice(0, 4)) expect(await e.get(k)).toBeUndefined()
    expect(e.stats().breakerOpened).toBe(1)
    // …and once the master is back, the probe (a PING any master answers) closes it.
    await victim.start()
    await cluster().waitUntilOk()
    expect(
      await pollUntil(async () => {
        await e.get(live[4]!)
        return states.at(-1) === 'closed'
      }, 10_000),
    ).toBe(true)
    expect(await pollUntil(async () => (await e.get(live[5]!)) === `v:${live[5]}`, 10_000)).toBe(true)
    // The restarted master is empty, and usable again (once the clients reconnect to it).
    const f = track(createCache(options()))
    expect(
      await pollUntil(async () => {
        await c.set(dead[3]!, 'after the restart')
        return (await f.get(dead[3]!)) === 'after the restart'
      }, 10_000),
    ).toBe(true)
    expect(unhandled).toEqual([])
  }, 45_000)
})
