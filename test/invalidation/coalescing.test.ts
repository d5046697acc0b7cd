import { describe, expect, it } from 'vitest'
import { createCache, MemoryRemoteTier } from '../../dist/index.js'
import {
  type BusChange,
  BusCodec,
  type BusMessage,
  coalesce,
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
} from '../../dist/invalidation/messages.js'

/** Lets queued bus deliveries (microtasks) run. */
const delivered = () => new Promise<void>((resolve) => setImmediate(resolve))

describe('coalesce: the changes of one tick as few messages as possible', () => {
  it('one change goes out as its own message, which every release understands', () => {
    expect(coalesce('a', [{ op: 'clear', at: 5 }])).toEqual([{ op: 'clear', at: 5, source: 'a' }])
  })

  it('deletes of one version merge into one delete, each key with its own time (the later if twice)', () => {
    const out = coalesce('a', [
      { op: 'delete', at: 1, version: 'v1', keys: ['k1'] },
      { op: 'delete', at: 3, version: 'v1', keys: ['k2', 'k1'] },
      { op: 'delete', at: 2, version: 'v1', keys: ['k3'] },
    ])
    expect(out).toEqual([
      { op: 'delete', source: 'a', at: 2, version: 'v1', keys: ['k1', 'k2', 'k3'], ats: [3, 3, 2] },
    ])
    // One time for all: no `ats`.
    expect(
      coalesce('a', [
        { op: 'delete', at: 4, version: 'v1', keys: ['k1'] },
        { op: 'delete', at: 4, version: 'v1', keys: ['k2'] },
      ]),
    ).toEqual([{ op: 'delete', source: 'a', at: 4, version: 'v1', keys: ['k1', 'k2'] }])
    const two = coalesce('a', [
      { op: 'delete', at: 1, version: 'v1', keys: ['k1'] },
      { op: 'delete', at: 2, version: 'v2', keys: ['k1'] },
    ])
    expect(two).toHaveLength(1)
    expect(two[0]?.op).toBe('batch')
  })

  it('changes of several kinds leave as one batch, in order, each item with its own time', () => {
    const out = coalesce('a', [
      { op: 'delete', at: 1, version: 'v1', keys: ['k1'] },
      { op: 'tags', at: 2, tags: ['t1'], mode: 'delete' },
      { op: 'tags', at: 4, tags: ['t2', 't1'], mode: 'delete' },
      { op: 'tags', at: 3, tags: ['t3'], mode: 'expire' },
      { op: 'pattern', at: 5, version: 'v1', pattern: 'user:*' },
      { op: 'pattern', at: 6, version: 'v1', pattern: 'user:*' },
      { op: 'clear', at: 7 },
      { op: 'clear', at: 6 },
    ])
    expect(out).toEqual([
      {
        op: 'batch',
        source: 'a',
        at: 7,
        changes: [
          { op: 'delete', at: 1, version: 'v1', keys: ['k1'] },
          { op: 'tags', at: 4, tags: ['t1', 't2'], mode: 'delete' },
          { op: 'tags', at: 3, tags: ['t3'], mode: 'expire' },
          { op: 'pattern', at: 5, version: 'v1', pattern: 'user:*' },
          { op: 'clear', at: 7 },
        ],
      },
    ])
  })

  it('a tick of many keys is split so that no message nears the size receivers accept', () => {
    const changes: BusChange[] = Array.from({ length: 40_000 }, (_, i) => ({
      op: 'delete',
      at: i,
      version: 'v1',
      keys: [`some-rather-long-key-name:${i}`],
    }))
    const out = coalesce('a', changes)
    expect(out.length).toBeGreaterThan(1)
    const keys = new Set<string>()
    for (const message of out) {
      const bytes = encodeMessage(message)
      expect(bytes.byteLength).toBeLessThan(MAX_MESSAGE_BYTES / 2)
      const decoded = decodeMessage(bytes)
      if (decoded?.op !== 'delete') throw new Error(`expected a delete, got ${decoded?.op}`)
      for (const key of decoded.keys) keys.add(key)
    }
    expect(keys.size).toBe(40_000)
  })
})

describe('batch messages on the wire', () => {
  it('round-trip through the codec, and a receiver skips kinds of change it does not know', () => {
    const batch: BusMessage = {
      op: 'batch',
      source: 'a',
      at: 2,
      changes: [
        { op: 'delete', at: 1, version: 'v1', keys: ['k', 'j'], ats: [1, 1.5] },
        { op: 'clear', at: 2 },
      ],
    }
    expect(decodeMessage(encodeMessage(batch))).toEqual(batch)
    const fromNewer = JSON.parse(encodeMessage(batch).subarray(3).toString()) as Record<string, unknown>
    ;(fromNewer.changes as unknown[]).push({ op: 'heartbeat-of-the-future', at: 3 })
    const bytes = Buffer.concat([Buffer.from([0xb5, 2, 0]), Buffer.from(JSON.stringify(fromNewer))])
    expect(decodeMessage(bytes)).toEqual(batch)
  })

  it('times that do not match the keys make the message malformed', () => {
    const codec = new BusCodec()
    for (const ats of [[1], [1, Number.NaN], 'x', [1, '2']]) {
      const bytes = codec.encode({
        op: 'delete',
        source: 'a',
        at: 1,
        version: 'v',
        keys: ['k', 'j'],
        ats,
      } as never)
      expect(new BusCodec().decode(bytes).dropped).toBe('malformed')
    }
  })

  it('a malformed change makes the whole batch malformed (nothing half-applied)', () => {
    const codec = new BusCodec()
    const bad = codec.encode({
      op: 'batch',
      source: 'a',
      at: 1,
      changes: [
        { op: 'delete', at: 1, version: 'v1', keys: ['k'] },
        { op: 'delete', at: 1, version: 'v1', keys: [''] },
      ],
    } as BusMessage)
    expect(new BusCodec().decode(bad).dropped).toBe('malformed')
  })
})

describe('the bus of a cache', () => {
  it('64 sets and deletes issued in one tick reach another instance as one message', async () => {
    const tier = new MemoryRemoteTier()
    const a = createCache({ namespace: 'co', l2: { tier } })
    const b = createCache({ namespace: 'co', l2: { tier } })
    await Promise.all([a.ready(), b.ready()])
    const keys = Array.from({ length: 64 }, (_, i) => `k${i}`)
    await Promise.all(keys.map((k) => a.set(k, 'v1')))
    for (const k of keys) expect(await b.get(k)).toBe('v1')
    await delivered()
    const heard = b.stats().busMessages
    const published = a.stats().busPublished
    await Promise.all(keys.map((k, i) => (i % 2 === 0 ? a.set(k, 'v2') : a.delete(k))))
    await delivered()
    expect(a.stats().busPublished - published).toBe(1)
    expect(b.stats().busMessages - heard).toBe(1)
    for (const [i, k] of keys.entries()) {
      expect(b.peek(k)).toBeUndefined()
      expect(await b.get(k)).toBe(i % 2 === 0 ? 'v2' : undefined)
    }
    await Promise.all([a.close(), b.close()])
  })

  it('a set and a tag invalidation in one tick: one batch message, both applied by the receiver', async () => {
    const tier = new MemoryRemoteTier()
    const a = createCache({ namespace: 'co2', l2: { tier } })
    const b = createCache({ namespace: 'co2', l2: { tier } })
    await Promise.all([a.ready(), b.ready()])
    await a.set('tagged', 'x', { tags: ['t'] })
    await a.set('plain', 'p1')
    expect(await b.get('tagged')).toBe('x')
    expect(await b.get('plain')).toBe('p1')
    await delivered()
    const heard = b.stats().busMessages
    await Promise.all([a.set('plain', 'p2'), a.invalidateTags(['t'])])
    await delivered()
    expect(b.stats().busMessages - heard).toBe(1)
    expect(b.peek('tagged')).toBeUndefined()
    expect(b.peek('plain')).toBeUndefined()
    expect(await b.get('plain')).toBe('p2')
    expect(await b.get('tagged')).toBeUndefined()
    await Promise.all([a.close(), b.close()])
  })
})
