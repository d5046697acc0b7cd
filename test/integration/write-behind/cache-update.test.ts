/**
 * The cache side of `cache.writeBehind()` on a single Redis (real redis-server, least-privilege
 * ACL, both clients): the append writes the cache's L2 entry in the same script, so the L2 always
 * holds the newest appended value, this process's L1 has it when `set` resolves, and one bus
 * message per batch drops the other instances' copies. The sequence store holds nothing once
 * every write is flushed.
 */
import { describe, expect, it, vi } from 'vitest'
import { type Cache, createCache, type WriteReceipt } from '../../../dist/index.js'
import { closeAfterEach } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'

const redis = useRedisServer()
const track = closeAfterEach()

function open(
  namespace: string,
  client: 'ioredis' | 'redis',
  extra: { l1?: false; serializer?: 'msgpack' } = {},
): Cache {
  return track(createCache({ namespace, l2: { redis: redis().url, client }, ...extra }))
}

describe.each(['ioredis', 'redis'] as const)('write-behind cache update (%s)', (client) => {
  it('writes the L2 entry with the append, the L1 before set resolves, and drops the other instances’ copies', async () => {
    const namespace = uniqueNamespace('wbcu')
    const a = open(namespace, client)
    const b = open(namespace, client)
    const l2Only = open(namespace, client, { l1: false })
    const flushed: string[] = []
    const wb = a.writeBehind<{ v: number }>({
      name: 'carts',
      maxDelay: 5,
      flush: async (batch) => {
        for (const op of batch) flushed.push(op.key)
      },
    })
    await a.set('cart:1', { v: 0 })
    expect(await b.get('cart:1')).toEqual({ v: 0 }) // now in b's L1
    await wb.set('cart:1', { v: 1 })
    expect(await a.get('cart:1')).toEqual({ v: 1 })
    expect(await l2Only.get('cart:1')).toEqual({ v: 1 })
    await vi.waitFor(async () => expect(await b.get('cart:1')).toEqual({ v: 1 }), { timeout: 5000 })
    await wb.settled(10_000)
    expect(flushed).toContain('cart:1')
    // Everything flushed: no sequence is kept for any key.
    expect(Number(await redis().command('HLEN', `!wb:{${namespace}:carts:0}:seq`))).toBe(0)
  })

  it('ends with the newest appended value in the L2, and no older one in any instance, whatever the interleaving of two writers', async () => {
    const namespace = uniqueNamespace('wbci')
    const writers = [open(namespace, client), open(namespace, client)]
    const reader = open(namespace, client)
    const logs = writers.map((c) =>
      c.writeBehind<number>({ name: 'n', maxDelay: 5, partitions: 2, flush: async () => {} }),
    )
    const keys = ['k:0', 'k:1', 'k:2']
    for (const key of keys) await reader.get(key) // a miss each; nothing cached yet
    let seed = 7
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
      return seed / 2_147_483_648
    }
    const receipts: { key: string; value: number; receipt: WriteReceipt }[] = []
    await Promise.all(
      Array.from({ length: 8 }, async (_, caller) => {
        for (let i = 0; i < 40; i++) {
          const key = keys[Math.floor(random() * keys.length)] as string
          const value = caller * 1000 + i
          const receipt = await (logs[caller % 2] as (typeof logs)[number]).set(key, value)
          receipts.push({ key, value, receipt })
          if (random() < 0.3) await reader.get(key)
        }
      }),
    )
    const newest = new Map<string, { value: number; seq: number }>()
    for (const r of receipts) {
      const seen = newest.get(r.key)
      if (seen === undefined || r.receipt.seq > seen.seq)
        newest.set(r.key, { value: r.value, seq: r.receipt.seq })
    }
    // The newest value or nothing, never an older one. (Nothing: two instances wrote the key at
    // once and the one whose append came last stamped its entry earlier than the other's bus
    // message; the others then take that entry as outdated, a miss — see docs/write-behind.md.)
    for (const key of keys) {
      const expected = newest.get(key)?.value
      await vi.waitFor(
        async () => {
          for (const c of [...writers, reader]) expect([expected, undefined]).toContain(await c.get(key))
        },
        { timeout: 5000 },
      )
    }
    // The L2 itself holds the newest appended value of every key: an instance opened now (which
    // heard none of the bus messages) reads exactly that.
    const fresh = open(namespace, client, { l1: false })
    for (const key of keys) expect(await fresh.get(key)).toBe(newest.get(key)?.value)
    await Promise.all(logs.map((l) => l.settled(10_000)))
    for (const p of [0, 1]) {
      expect(Number(await redis().command('HLEN', `!wb:{${namespace}:n:${p}}:seq`))).toBe(0)
      expect(Number(await redis().command('XLEN', `!wb:{${namespace}:n:${p}}:log`))).toBe(0)
    }
  })

  it('writes the L2 entry in the cache’s own encoding when it differs from the log’s', async () => {
    const namespace = uniqueNamespace('wbcs')
    // The log writes tagged JSON (its default); the cache reads msgpack: the entry is encoded again.
    const a = open(namespace, client, { serializer: 'msgpack' })
    const wb = a.writeBehind<{ at: Date; n: bigint }>({ name: 's', flusher: false, flush: async () => {} })
    const value = { at: new Date(1_700_000_000_000), n: 12n }
    await wb.set('k:1', value)
    expect(await open(namespace, client, { l1: false, serializer: 'msgpack' }).get('k:1')).toEqual(value)
    await wb.close({ timeoutMs: 0 })
  })

  it('takes the value out of the L1 again when the append fails, and rejects', async () => {
    const namespace = uniqueNamespace('wbcf')
    const a = open(namespace, client)
    const wb = a.writeBehind<number>({ name: 'x', maxPending: 1, flusher: false, flush: async () => {} })
    await wb.set('k:1', 1)
    await expect(wb.set('k:2', 2)).rejects.toMatchObject({ code: 'E_WRITE_BEHIND_FULL' })
    expect(await a.get('k:2')).toBeUndefined()
    expect(await a.get('k:1')).toBe(1)
    await wb.close({ timeoutMs: 0 })
  })
})
