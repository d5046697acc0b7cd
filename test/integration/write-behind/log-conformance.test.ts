/**
 * The WriteLog contract (src/write/log.ts), checked on every implementation: the Redis Stream log
 * through both clients (ioredis arrays, node-redis RESP3 maps) and the in-memory log the unit
 * tests use, so that what the engine's unit tests prove holds on Redis too.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryWriteLog, RedisStreamLog, type WriteLog } from '../../../dist/index.js'
import { createRedisTier, type RedisTier } from '../../../dist/tiers/redis/index.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'

const redis = useRedisServer()
const tiers: RedisTier[] = []
afterEach(async () => {
  await Promise.all(tiers.splice(0).map((t) => t.close()))
})

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'))
const text = (value: Uint8Array) => Buffer.from(value).toString('utf8')

type Kind = 'memory' | 'ioredis' | 'redis'

function open(kind: Kind): WriteLog {
  if (kind === 'memory') return new MemoryWriteLog()
  const tier = createRedisTier(
    { redis: redis().url, client: kind },
    { timeoutMs: 2000, batchSize: 100, onError: () => {} },
  )
  tiers.push(tier)
  if (tier.streams === undefined) throw new Error('no stream commands')
  return new RedisStreamLog(tier.streams, { namespace: uniqueNamespace('conf'), name: 'log' })
}

describe.each(['ioredis', 'redis'] as const)(
  'RedisStreamLog with the cache on the same Redis (%s)',
  (kind) => {
    it('writes the cache entries and bumps the existing dependency markers in the append, atomically', async () => {
      const tier = createRedisTier(
        { redis: redis().url, client: kind },
        { timeoutMs: 2000, batchSize: 100, onError: () => {} },
      )
      tiers.push(tier)
      if (tier.streams === undefined) throw new Error('no stream commands')
      const ns = uniqueNamespace('wbc')
      const log = new RedisStreamLog(tier.streams, { namespace: ns, name: 'log', writesCache: true })
      expect(log.writesCache).toBe(true)
      await redis().command('SET', `!tag:${ns}:dep-a`, '1.000,2.000')
      const results = await log.append(
        0,
        [
          {
            key: 'a',
            op: 'set',
            value: bytes('1'),
            cache: { key: `${ns}:1:a`, value: bytes('entry-a'), ttlMs: 60_000 },
            markers: { keys: [`!tag:${ns}:dep-a`, `!tag:${ns}:dep-none`], at: 5.5 },
          },
          {
            key: 'b',
            op: 'set',
            value: bytes('2'),
            cache: { key: `${ns}:1:b`, value: bytes('entry-b'), ttlMs: Infinity },
          },
          { key: 'c', op: 'set', value: bytes('3') },
        ],
        Number.POSITIVE_INFINITY,
      )
      expect(results).toHaveLength(3)
      expect(await redis().command('GET', `${ns}:1:a`)).toBe('entry-a')
      const ttl = Number(await redis().command('PTTL', `${ns}:1:a`))
      expect(ttl).toBeGreaterThan(50_000)
      expect(ttl).toBeLessThanOrEqual(60_000)
      expect(await redis().command('GET', `${ns}:1:b`)).toBe('entry-b')
      expect(Number(await redis().command('PTTL', `${ns}:1:b`))).toBe(-1)
      expect(await redis().command('GET', `!tag:${ns}:dep-a`)).toBe('5.500,2.000')
      expect(await redis().command('EXISTS', `!tag:${ns}:dep-none`)).toBe(0)
      expect(await log.length(0)).toBe(3)
      // Refused writes (the bound) write no cache entry.
      const full = await log.append(
        0,
        [
          {
            key: 'd',
            op: 'set',
            value: bytes('4'),
            cache: { key: `${ns}:1:d`, value: bytes('entry-d'), ttlMs: 60_000 },
          },
        ],
        3,
      )
      expect(full).toEqual([{ full: 3 }])
      expect(await redis().command('EXISTS', `${ns}:1:d`)).toBe(0)
    })

    it("writes an entry that ends with the write's own bytes whole (it is sent as its head, the value once)", async () => {
      const tier = createRedisTier(
        { redis: redis().url, client: kind },
        { timeoutMs: 2000, batchSize: 100, onError: () => {} },
      )
      tiers.push(tier)
      if (tier.streams === undefined) throw new Error('no stream commands')
      const ns = uniqueNamespace('wbh')
      const log = new RedisStreamLog(tier.streams, { namespace: ns, name: 'log', writesCache: true })
      await log.init(1)
      const value = bytes('{"name":"the value"}')
      const entry = (head: string) => Buffer.concat([bytes(head), value])
      await log.append(
        0,
        [
          { key: 'a', op: 'set', value, cache: { key: `${ns}:1:a`, value: entry('head-a|'), ttlMs: 60_000 } },
          // Only the value: an empty head.
          { key: 'b', op: 'set', value, cache: { key: `${ns}:1:b`, value: entry(''), ttlMs: 60_000 } },
          // Ends with all but the value's first byte: not its bytes, sent whole.
          {
            key: 'c',
            op: 'set',
            value,
            cache: { key: `${ns}:1:c`, value: entry('x').subarray(2), ttlMs: Infinity },
          },
        ],
        Number.POSITIVE_INFINITY,
      )
      expect(await redis().command('GET', `${ns}:1:a`)).toBe('head-a|{"name":"the value"}')
      expect(await redis().command('GET', `${ns}:1:b`)).toBe('{"name":"the value"}')
      expect(await redis().command('GET', `${ns}:1:c`)).toBe('"name":"the value"}')
      expect(Number(await redis().command('PTTL', `${ns}:1:c`))).toBe(-1)
      // The log holds the value itself, as before.
      const [first] = await log.read(0, 'reader', 10)
      expect(Buffer.from(first?.value ?? []).toString()).toBe('{"name":"the value"}')
    })

    it('ignores cache entries when it was not told the cache shares its Redis', async () => {
      const tier = createRedisTier(
        { redis: redis().url, client: kind },
        { timeoutMs: 2000, batchSize: 100, onError: () => {} },
      )
      tiers.push(tier)
      if (tier.streams === undefined) throw new Error('no stream commands')
      const ns = uniqueNamespace('wbn')
      const log = new RedisStreamLog(tier.streams, { namespace: ns, name: 'log' })
      expect(log.writesCache).toBe(false)
      await log.append(
        0,
        [
          {
            key: 'a',
            op: 'set',
            value: bytes('1'),
            cache: { key: `${ns}:1:a`, value: bytes('x'), ttlMs: 1000 },
          },
        ],
        Number.POSITIVE_INFINITY,
      )
      expect(await redis().command('EXISTS', `${ns}:1:a`)).toBe(0)
    })
  },
)

describe.each(['memory', 'ioredis', 'redis'] as const)('WriteLog contract (%s)', (kind) => {
  it('appends in order with increasing ids and per-key sequences, up to maxPending', async () => {
    const log = open(kind)
    await log.init(1)
    const results = await log.append(
      0,
      [
        { key: 'a', op: 'set', value: bytes('1') },
        { key: 'a', op: 'set', value: bytes('2') },
        { key: 'b', op: 'delete', value: new Uint8Array(0) },
        { key: 'c', op: 'set', value: bytes('3') },
      ],
      3,
    )
    expect(results[3]).toEqual({ full: 3 })
    const [a1, a2, b] = results as { id: string; seq: number }[]
    expect(a2?.seq).toBe((a1?.seq ?? 0) + 1)
    expect(Number.isSafeInteger(b?.seq)).toBe(true)
    expect(await log.sequences(0, ['a', 'b', 'zz'])).toEqual([a2?.seq, b?.seq, 0])
    expect(await log.length(0)).toBe(3)
    const oldest = await log.oldest(0)
    expect(oldest?.entryId).toBe(a1?.id)
    expect(oldest?.at).toBeGreaterThan(Date.now() - 60_000)
  })

  it('delivers each entry once per read, keeps it pending until acknowledged, and hands pending entries over on claim', async () => {
    const log = open(kind)
    await log.append(
      0,
      [
        { key: 'k', op: 'set', value: bytes('v') },
        { key: 'd', op: 'delete', value: new Uint8Array(0) },
      ],
      Number.POSITIVE_INFINITY,
    )
    const first = await log.read(0, 'c1', 10)
    expect(first.map((e) => [e.key, e.op, text(e.value)])).toEqual([
      ['k', 'set', 'v'],
      ['d', 'delete', ''],
    ])
    expect(await log.read(0, 'c1', 10)).toEqual([])
    const claimed = await log.claim(0, 'c2')
    expect(claimed.map((e) => e.entryId)).toEqual(first.map((e) => e.entryId))
    await log.ack(0, [first[0]?.entryId as string])
    expect((await log.claim(0, 'c3')).map((e) => e.key)).toEqual(['d'])
    expect(await log.length(0)).toBe(1)
  })

  it('moves an entry to the dead-letter stream with its error, and replays keep the original id and sequence', async () => {
    const log = open(kind)
    const [written] = (await log.append(
      0,
      [{ key: 'p', op: 'set', value: bytes('x') }],
      Number.POSITIVE_INFINITY,
    )) as {
      id: string
      seq: number
    }[]
    const [entry] = await log.read(0, 'c', 10)
    if (entry === undefined) throw new Error('nothing read')
    await log.deadLetter(0, entry, 4, 'Error: no', [])
    expect(await log.length(0)).toBe(0)
    expect(await log.dead.count()).toBe(1)
    const [dead] = await log.dead.list(10, undefined)
    expect(dead).toMatchObject({
      key: 'p',
      op: 'set',
      id: written?.id,
      seq: written?.seq,
      attempts: 4,
      error: 'Error: no',
      partition: 0,
    })
    expect(text(dead?.value ?? new Uint8Array())).toBe('x')
    expect(await log.dead.get([dead?.deadId as string])).toHaveLength(1)
    const [again] = await log.append(
      0,
      [
        {
          key: 'p',
          op: 'set',
          value: bytes('x'),
          replay: { id: written?.id as string, seq: written?.seq as number },
        },
      ],
      Number.POSITIVE_INFINITY,
    )
    expect(again).toEqual({ id: written?.id, seq: written?.seq })
    const [replayed] = await log.read(0, 'c', 10)
    expect(replayed).toMatchObject({ key: 'p', id: written?.id, seq: written?.seq })
    expect(await log.dead.remove([dead?.deadId as string])).toBe(1)
    expect(await log.dead.count()).toBe(0)
  })

  it('keeps the dead-letter stream within its bound: the oldest go, reported without their values', async () => {
    const log = open(kind)
    await log.append(
      0,
      ['a', 'b', 'c', 'd'].map((key) => ({ key, op: 'set' as const, value: bytes(`value-${key}`) })),
      Number.POSITIVE_INFINITY,
    )
    const entries = await log.read(0, 'c', 10)
    type Entry = Awaited<ReturnType<WriteLog['read']>>[number]
    const [a, b, c, d] = entries as [Entry, Entry, Entry, Entry]
    // No bound given (a caller that predates it): nothing is dropped.
    expect(await log.deadLetter(0, a, 1, 'Error: a', [])).toEqual({ count: 0, letters: [] })
    expect(await log.deadLetter(0, b, 2, 'Error: b', [], 2)).toEqual({ count: 0, letters: [] })
    const dropped = await log.deadLetter(0, c, 3, 'Error: c', [], 2)
    expect(dropped).toEqual({
      count: 1,
      letters: [
        {
          deadId: expect.any(String),
          partition: 0,
          key: 'a',
          op: 'set',
          id: a.id,
          seq: a.seq,
          attempts: 1,
          error: 'Error: a',
          failedAt: expect.any(Number),
        },
      ],
    })
    expect(await log.dead.count()).toBe(2)
    // Lowering the bound drops every dead letter beyond it at the next one.
    expect(await log.deadLetter(0, d, 4, 'Error: d', [], 1)).toMatchObject({
      count: 2,
      letters: [{ key: 'b' }, { key: 'c' }],
    })
    expect((await log.dead.list(10, undefined)).map((dead) => [dead.key, text(dead.value)])).toEqual([
      ['d', 'value-d'],
    ])
    expect(await log.length(0)).toBe(0)
  })

  it('tells which of given entries are still in the log: not acknowledged, not dead-lettered', async () => {
    const log = open(kind)
    const written = (await log.append(
      0,
      ['a', 'b', 'c'].map((key) => ({ key, op: 'set' as const, value: bytes(key) })),
      Number.POSITIVE_INFINITY,
    )) as { id: string }[]
    const [a, b, c] = written.map((w) => w.id) as [string, string, string]
    expect(await log.remaining?.(0, [c, a, b])).toEqual([c, a, b])
    const entries = await log.read(0, 'c', 10)
    await log.ack(0, [b])
    expect(await log.remaining?.(0, [a, b, c])).toEqual([a, c])
    await log.deadLetter(0, entries[0] as (typeof entries)[number], 1, 'Error: a', [])
    expect(await log.remaining?.(0, [a, b, c, '1-0'])).toEqual([c])
    expect(await log.remaining?.(1, [c])).toEqual([])
    expect(await log.remaining?.(0, [])).toEqual([])
  })

  it('removes acknowledged entries in any order and keeps every other one, pending or never read', async () => {
    const log = open(kind)
    const appended = (await log.append(
      0,
      Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, op: 'set' as const, value: bytes(String(i)) })),
      Number.POSITIVE_INFINITY,
    )) as { id: string; seq: number }[]
    const read = await log.read(0, 'c1', 4)
    expect(read.map((e) => e.key)).toEqual(['k0', 'k1', 'k2', 'k3'])
    const ids = read.map((e) => e.entryId)
    const id = (i: number) => ids[i] as string
    // Out of order: k1 and k3 are flushed while k0 (older) is still pending.
    await log.ack(0, [id(3), id(1)])
    expect(await log.length(0)).toBe(4)
    expect((await log.claim(0, 'c2')).map((e) => e.key)).toEqual(['k0', 'k2'])
    await log.ack(0, [id(0)])
    // k2 pending, k4 and k5 never read.
    expect(await log.length(0)).toBe(3)
    expect((await log.oldest(0))?.entryId).toBe(id(2))
    // An acknowledgment sent again (its first reply was lost) removes nothing else.
    await log.ack(0, [id(0), id(3)])
    expect(await log.length(0)).toBe(3)
    await log.ack(0, [id(2)])
    expect(await log.length(0)).toBe(2)
    expect((await log.oldest(0))?.entryId).toBe(appended[4]?.id)
    const rest = await log.read(0, 'c2', 10)
    expect(rest.map((e) => e.key)).toEqual(['k4', 'k5'])
    await log.ack(0, rest.map((e) => e.entryId).reverse())
    expect(await log.length(0)).toBe(0)
    expect(await log.claim(0, 'c3')).toEqual([])
    const [later] = (await log.append(0, [{ key: 'k6', op: 'set', value: bytes('6') }], 10)) as {
      id: string
    }[]
    const again = await log.read(0, 'c3', 10)
    expect(again.map((e) => e.entryId)).toEqual([later?.id])
    await log.ack(0, [later?.id as string])
    expect(await log.length(0)).toBe(0)
  })

  it('appends 1,500 writes in one call: keys and values of any bytes, each its own sequence', async () => {
    const log = open(kind)
    const keys = ['plain', 'ключ', 'emoji-😀', 'tab\tand space', '']
    const ops = Array.from({ length: 1500 }, (_, i) => {
      const key = `${keys[i % keys.length]}-${i % 7}`
      if (i % 11 === 0) return { key, op: 'delete' as const, value: new Uint8Array(0) }
      // Every byte value, NULs and invalid UTF-8 included; lengths 0 to 300.
      const value = new Uint8Array(i % 301).map((_, j) => (i + j * 31) % 256)
      return { key, op: 'set' as const, value }
    })
    const results = (await log.append(0, ops, Number.POSITIVE_INFINITY)) as { id: string; seq: number }[]
    expect(results).toHaveLength(1500)
    // Every later write of a key gets a greater sequence.
    const previous = new Map<string, number>()
    for (let i = 0; i < ops.length; i++) {
      const key = ops[i]?.key as string
      expect(results[i]?.seq).toBeGreaterThan(previous.get(key) ?? 0)
      previous.set(key, results[i]?.seq as number)
    }
    const entries = await log.read(0, 'c', 2000)
    expect(entries.map((e) => [e.entryId, e.key, e.op, e.seq])).toEqual(
      ops.map((op, i) => [results[i]?.id, op.key, op.op, results[i]?.seq]),
    )
    for (let i = 0; i < ops.length; i++) {
      expect(
        Buffer.from(entries[i]?.value as Uint8Array).equals(Buffer.from(ops[i]?.value as Uint8Array)),
      ).toBe(true)
    }
    // Each key's sequence is its last write's.
    const last = new Map<string, number>()
    for (let i = 0; i < ops.length; i++) last.set(ops[i]?.key as string, results[i]?.seq as number)
    expect(await log.sequences(0, [...last.keys()])).toEqual([...last.values()])
    await log.ack(
      0,
      entries.map((e) => e.entryId),
      [...last].map(([key, seq]) => ({ key, seq })),
    )
    expect(await log.length(0)).toBe(0)
    expect(await log.sequences(0, [...last.keys()])).toEqual([...last.keys()].map(() => 0))
  })

  it("forgets a key's sequence once its newest write is acknowledged, and still gives later writes greater ones", async () => {
    const log = open(kind)
    const inf = Number.POSITIVE_INFINITY
    const [a1, b1] = (await log.append(
      0,
      [
        { key: 'a', op: 'set', value: bytes('1') },
        { key: 'b', op: 'set', value: bytes('1') },
      ],
      inf,
    )) as { id: string; seq: number }[]
    const [a2] = (await log.append(0, [{ key: 'a', op: 'set', value: bytes('2') }], inf)) as {
      id: string
      seq: number
    }[]
    const [e1, e2, e3] = await log.read(0, 'c', 10)
    if (e1 === undefined || e2 === undefined || e3 === undefined) throw new Error('not read')
    // a's newest write (a2) is still pending: its sequence stays; b has nothing pending.
    await log.ack(
      0,
      [e1.entryId, e2.entryId],
      [
        { key: 'a', seq: a1?.seq as number },
        { key: 'b', seq: b1?.seq as number },
      ],
    )
    expect(await log.sequences(0, ['a', 'b'])).toEqual([a2?.seq, 0])
    await log.ack(0, [e3.entryId], [{ key: 'a', seq: a2?.seq as number }])
    expect(await log.sequences(0, ['a', 'b'])).toEqual([0, 0])
    const [a3, b2] = (await log.append(
      0,
      [
        { key: 'a', op: 'set', value: bytes('3') },
        { key: 'b', op: 'delete', value: new Uint8Array(0) },
      ],
      inf,
    )) as { id: string; seq: number }[]
    expect(a3?.seq).toBeGreaterThan(a2?.seq as number)
    expect(b2?.seq).toBeGreaterThan(b1?.seq as number)
  })

  it('keeps a held sequence past its flush until its writer releases it, and a newer write replaces the hold', async () => {
    const log = open(kind)
    const inf = Number.POSITIVE_INFINITY
    const append = async (key: string, value: string, holdSequence: boolean) => {
      const [result] = await log.append(0, [{ key, op: 'set', value: bytes(value), holdSequence }], inf)
      if (result === undefined || 'full' in result) throw new Error('not appended')
      return result
    }
    // Flushed first, released after: the release reads the sequence, then forgets it.
    const a1 = await append('a', '1', true)
    const [ea1] = await log.read(0, 'c', 10)
    await log.ack(0, [ea1?.entryId as string], [{ key: 'a', seq: a1.seq }])
    expect(await log.sequences(0, ['a'])).toEqual([a1.seq])
    expect(await log.releaseSequences(0, [{ key: 'a', seq: a1.seq }])).toEqual([a1.seq])
    expect(await log.sequences(0, ['a'])).toEqual([0])
    // Released first, flushed after: the ack forgets it, as for a write never held.
    const a2 = await append('a', '2', true)
    expect(await log.releaseSequences(0, [{ key: 'a', seq: a2.seq }])).toEqual([a2.seq])
    expect(await log.sequences(0, ['a'])).toEqual([a2.seq])
    const [ea2] = await log.read(0, 'c', 10)
    await log.ack(0, [ea2?.entryId as string], [{ key: 'a', seq: a2.seq }])
    expect(await log.sequences(0, ['a'])).toEqual([0])
    // A newer write (not held) replaces a hold: the held writer's release reads the newer sequence
    // (and releases nothing); once the newer one is flushed, nothing is kept.
    const a3 = await append('a', '3', true)
    const a4 = await append('a', '4', false)
    const flushed = await log.read(0, 'c', 10)
    await log.ack(
      0,
      flushed.map((e) => e.entryId),
      [{ key: 'a', seq: a4.seq }],
    )
    expect(await log.releaseSequences(0, [{ key: 'a', seq: a3.seq }])).toEqual([0])
    // Two held writes of one key: the older one's release leaves the newer one's hold.
    const a5 = await append('a', '5', true)
    const a6 = await append('a', '6', true)
    expect(await log.releaseSequences(0, [{ key: 'a', seq: a5.seq }])).toEqual([a6.seq])
    const both = await log.read(0, 'c', 10)
    await log.ack(
      0,
      both.map((e) => e.entryId),
      [{ key: 'a', seq: a6.seq }],
    )
    expect(await log.sequences(0, ['a'])).toEqual([a6.seq])
    expect(await log.releaseSequences(0, [{ key: 'a', seq: a6.seq }])).toEqual([a6.seq])
    expect(await log.sequences(0, ['a'])).toEqual([0])
    // Held entries are delivered as ordinary sets.
    expect(both.map((e) => [e.op, text(e.value)])).toEqual([
      ['set', '5'],
      ['set', '6'],
    ])
  })

  it('gives a partition lease to one holder at a time, renewable and releasable only by it', async () => {
    const log = open(kind)
    expect(await log.acquire(1, 'A', 5000)).toBe(true)
    expect(await log.acquire(1, 'B', 5000)).toBe(false)
    expect(await log.renew(1, 'B', 5000)).toBe(false)
    expect(await log.renew(1, 'A', 5000)).toBe(true)
    await log.release(1, 'B')
    expect(await log.acquire(1, 'B', 5000)).toBe(false)
    await log.release(1, 'A')
    expect(await log.acquire(1, 'B', 5000)).toBe(true)
  })

  it('takes and renews a lease of any finite length (visibilityTimeout is not capped at the longest timer)', async () => {
    const log = open(kind)
    for (const [partition, ttl] of [
      [2, 2 ** 31],
      [3, 1e22],
    ] as const) {
      expect(await log.acquire(partition, 'A', ttl)).toBe(true)
      expect(await log.renew(partition, 'A', ttl)).toBe(true)
      expect(await log.acquire(partition, 'B', ttl)).toBe(false)
    }
  })

  it('refuses a process that disagrees on the partition count', async () => {
    const log = open(kind)
    await log.init(2)
    await log.init(2)
    await expect(log.init(3)).rejects.toThrow()
  })
})
