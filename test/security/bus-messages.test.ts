import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BusCodec,
  type BusMessage,
  decodeMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
} from '../../dist/invalidation/messages.js'
import { ReplayWindow } from '../../dist/security/hmac.js'

const SECRET = 'a shared secret of at least 32 bytes!'
const OTHER = 'another shared secret, also 32+ bytes'
const del: BusMessage = { op: 'delete', source: 'instance-a', at: 1, version: 'v1', keys: ['k'] }
const clear: BusMessage = { op: 'clear', source: 'instance-a', at: 2 }

describe('bus messages: versioned and HMAC-authenticated (S10)', () => {
  it('has a pinned v2 frame: magic 0xB5, version 2, flags, HMAC-SHA256, JSON body with seq and sent', () => {
    const codec = new BusCodec({ secret: SECRET, now: () => 1_700_000_000_000 })
    const frame = codec.encode(del)
    expect([...frame.subarray(0, 3)]).toEqual([0xb5, 2, 1])
    expect(JSON.parse(frame.subarray(35).toString())).toEqual({ ...del, seq: 1, sent: 1_700_000_000_000 })
    expect(codec.encode(del).subarray(35).toString()).toContain('"seq":2')
    const unsigned = new BusCodec({ now: () => 1 }).encode(del)
    expect([...unsigned.subarray(0, 3)]).toEqual([0xb5, 2, 0])
  })

  it('a receiver with the secret accepts signed messages from another instance', () => {
    const sender = new BusCodec({ secret: SECRET })
    const receiver = new BusCodec({ secret: SECRET })
    expect(receiver.decode(sender.encode(del))).toEqual({ message: del })
    expect(receiver.decode(sender.encode(clear))).toEqual({ message: clear })
  })

  it('anything PUBLISHed without the secret is dropped as unauthenticated: unsigned, v1 JSON, or signed with another secret', () => {
    const receiver = new BusCodec({ secret: SECRET })
    const forged = [
      new BusCodec().encode(clear),
      Buffer.from(JSON.stringify({ v: 1, op: 'clear', source: 'x', at: 1 })),
      new BusCodec({ secret: OTHER }).encode(clear),
    ]
    for (const bytes of forged) expect(receiver.decode(bytes)).toEqual({ dropped: 'unauthenticated' })
  })

  it('a flipped byte anywhere in a signed frame is dropped', () => {
    const frame = new BusCodec({ secret: SECRET }).encode(del)
    for (let at = 0; at < frame.length; at++) {
      const receiver = new BusCodec({ secret: SECRET })
      const tampered = Buffer.from(frame)
      tampered[at] = (tampered[at] as number) ^ 0x01
      expect(receiver.decode(tampered).message, `byte ${at}`).toBeUndefined()
    }
  })

  it('a replayed message is dropped; reordered messages within the window are not', () => {
    const sender = new BusCodec({ secret: SECRET })
    const receiver = new BusCodec({ secret: SECRET })
    const [m1, m2, m3] = [sender.encode(del), sender.encode(del), sender.encode(clear)]
    expect(receiver.decode(m1).message).toEqual(del)
    expect(receiver.decode(m1)).toEqual({ dropped: 'replayed' })
    expect(receiver.decode(m3).message).toEqual(clear)
    expect(receiver.decode(m2).message).toEqual(del)
    expect(receiver.decode(m2)).toEqual({ dropped: 'replayed' })
    expect(receiver.decode(m3)).toEqual({ dropped: 'replayed' })
  })

  it('a message older than maxAge (or from a clock far ahead) is dropped as expired', () => {
    let now = 1_000_000
    const sender = new BusCodec({ secret: SECRET, now: () => now })
    const receiver = new BusCodec({ secret: SECRET, maxAgeMs: 60_000, now: () => now })
    const old = sender.encode(del)
    now += 60_001
    expect(receiver.decode(old)).toEqual({ dropped: 'expired' })
    const future = new BusCodec({ secret: SECRET, now: () => now + 120_000 }).encode(del)
    expect(receiver.decode(future)).toEqual({ dropped: 'expired' })
  })

  it('a second secret verifies too, so the secret can be rotated without a flag day', () => {
    const oldSender = new BusCodec({ secret: SECRET })
    const newSender = new BusCodec({ secret: [OTHER, SECRET] })
    const during = new BusCodec({ secret: [SECRET, OTHER] })
    expect(during.decode(oldSender.encode(del)).message).toEqual(del)
    const fromB: BusMessage = { ...clear, source: 'instance-b' }
    expect(during.decode(newSender.encode(fromB)).message).toEqual(fromB)
  })

  it('without a secret, messages are still validated and replay-checked, and v1 messages are read', () => {
    const receiver = new BusCodec()
    const frame = encodeMessage(del)
    expect(receiver.decode(frame).message).toEqual(del)
    expect(receiver.decode(frame)).toEqual({ dropped: 'replayed' })
    expect(decodeMessage(Buffer.from(JSON.stringify({ v: 1, ...clear })))).toEqual(clear)
  })

  it('without a secret, one forged message with a huge sequence number silences a sender for at most maxAge, not for good', () => {
    let now = 1_000_000
    const maxAgeMs = 60_000
    const sender = new BusCodec({ now: () => now })
    const receiver = new BusCodec({ maxAgeMs, now: () => now })
    expect(receiver.decode(sender.encode(del)).message).toEqual(del)
    // Anyone who can PUBLISH (and SUBSCRIBE, to learn a source id) sends this once, dated as far
    // ahead as the receiver accepts.
    const forged = Buffer.concat([
      Buffer.from([0xb5, 2, 0]),
      Buffer.from(
        JSON.stringify({ ...del, keys: ['harmless'], seq: Number.MAX_SAFE_INTEGER, sent: now + maxAgeMs }),
      ),
    ])
    expect(receiver.decode(forged).message).toBeDefined()
    now += 1_000
    // Within maxAge of the forged date, the sender's next message may be refused...
    expect(receiver.decode(sender.encode(del))).toEqual({ dropped: 'replayed' })
    now += maxAgeMs
    // ...but once its clock has passed the forged date, its messages are heard again.
    const later = sender.encode(del)
    expect(receiver.decode(later).message).toEqual(del)
    expect(receiver.decode(sender.encode(clear)).message).toEqual(clear)
    // And a genuine message is still accepted only once.
    expect(receiver.decode(later)).toEqual({ dropped: 'replayed' })

    // With a secret, a sequence number is genuine: the send time never moves the window back, so
    // a frame signed before the sender's clock stepped back cannot be replayed.
    const signer = new BusCodec({ secret: SECRET, now: () => now })
    const checker = new BusCodec({ secret: SECRET, now: () => now })
    now += 1_000
    const beforeStep = signer.encode(del)
    now -= 1_000
    const afterStep = Array.from({ length: 40 }, () => signer.encode(del))
    expect(checker.decode(afterStep[39] as Buffer).message).toEqual(del)
    expect(checker.decode(beforeStep)).toEqual({ dropped: 'replayed' })
  })

  it('oversized and malformed messages are dropped: lengths beyond the buffer, wrong types, forged patterns', () => {
    const receiver = new BusCodec()
    expect(receiver.decode(Buffer.alloc(MAX_MESSAGE_BYTES + 1, 0x20))).toEqual({ dropped: 'oversized' })
    const body = (fields: Record<string, unknown>) =>
      Buffer.concat([
        Buffer.from([0xb5, 2, 0]),
        Buffer.from(JSON.stringify({ source: 's', at: 1, seq: 1, sent: Date.now(), ...fields })),
      ])
    for (const bad of [
      Buffer.from([0xb5]),
      Buffer.from([0xb5, 2, 1, 0, 0]),
      Buffer.from([0xb5, 3, 0, 0x7b, 0x7d]),
      body({ op: 'delete', version: 'v1', keys: 'k' }),
      body({ op: 'delete', version: 'v1', keys: [''] }),
      body({ op: 'tags', tags: ['t'], mode: 'nuke' }),
      body({ op: 'pattern', version: 'v1', pattern: `${'*a'.repeat(40)}b` }),
      body({ op: 'drop-database' }),
      body({ op: 'clear', seq: -1 }),
      body({ op: 'clear', source: 7 }),
    ]) {
      expect(new BusCodec().decode(bad)).toEqual({ dropped: 'malformed' })
    }
  })

  it('a __proto__ field in a message pollutes nothing and survives as nothing', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xb5, 2, 0]),
      Buffer.from(
        `{"__proto__":{"isAdmin":true},"op":"clear","source":"s","at":1,"seq":1,"sent":${Date.now()}}`,
      ),
    ])
    const decoded = new BusCodec().decode(bytes)
    expect(decoded.message).toEqual({ op: 'clear', source: 's', at: 1 })
    expect(({} as { isAdmin?: unknown }).isAdmin).toBeUndefined()
  })

  it('fuzz: random bytes and mutated frames never throw and never hang', () => {
    const valid = new BusCodec({ secret: SECRET }).encode(del)
    const receivers = [new BusCodec(), new BusCodec({ secret: SECRET })]
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
            const copy = Buffer.from(valid)
            copy[at] = byte
            return copy
          }),
          fc
            .jsonValue()
            .map((v) => Buffer.concat([Buffer.from([0xb5, 2, 0]), Buffer.from(JSON.stringify(v))])),
          fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v))),
        ),
        (bytes) => {
          for (const receiver of receivers) {
            const started = performance.now()
            const result = receiver.decode(bytes)
            // A hang, not a speed check: generous for a loaded machine.
            expect(performance.now() - started).toBeLessThan(1000)
            expect(result.message !== undefined || result.dropped !== undefined).toBe(true)
          }
        },
      ),
      { numRuns: 4000 },
    )
  })
})

describe('the replay window', () => {
  it('accepts each sequence number once, within 32 of the highest, per sender', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.integer({ min: 1, max: 80 })), { maxLength: 200 }),
        (offers) => {
          const window = new ReplayWindow()
          const accepted = new Set<string>()
          const highest = new Map<string, number>()
          for (const [sender, seq] of offers) {
            const top = highest.get(sender)
            const expected = !accepted.has(`${sender}:${seq}`) && (top === undefined || seq > top - 32)
            expect(window.accept(sender, seq)).toBe(expected)
            if (expected) {
              accepted.add(`${sender}:${seq}`)
              highest.set(sender, Math.max(top ?? seq, seq))
            }
          }
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('remembers a bounded number of senders', () => {
    const window = new ReplayWindow(100)
    for (let i = 0; i < 1000; i++) window.accept(`s${i}`, 1)
    expect(window.size).toBe(100)
  })
})
