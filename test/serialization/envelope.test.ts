import { randomBytes } from 'node:crypto'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeEnvelope, encodeEnvelope, TaggedJsonSerializer } from '../../dist/serialization/index.js'

describe('entry envelope', () => {
  it('has a pinned v2 wire format', () => {
    const payload = new TaggedJsonSerializer().encode({ id: 1, name: 'x' })
    const bytes = encodeEnvelope({
      createdAt: 1_700_000_000_000,
      expiresAt: 1_700_003_600_000,
      loadMs: 12.5,
      tags: ['p:1'],
      payload,
    })
    // Golden bytes: changing the format must bump ENVELOPE_VERSION and keep a reader for the previous one.
    expect(Buffer.from(bytes).toString('hex')).toBe(
      'c50200' + // magic, version 2, flags
        '00008056febc7842' + // created-at float64 LE
        '000068c501bd7842' + // expires-at float64 LE
        '00004841' + // factory duration float32 LE (12.5 ms)
        '0100' + // one tag
        '0300703a31' + // "p:1"
        Buffer.from('p{"id":1,"name":"x"}').toString('hex'),
    )
    const back = decodeEnvelope(bytes)
    expect(back.createdAt).toBe(1_700_000_000_000)
    expect(back.expiresAt).toBe(1_700_003_600_000)
    expect(back.loadMs).toBe(12.5)
    expect(back.tags).toEqual(['p:1'])
    expect(Buffer.from(back.payload).toString()).toBe('p{"id":1,"name":"x"}')
  })

  it('still reads v1 entries (written by the previous release), with an unknown factory duration', () => {
    const v1 = Buffer.from(
      'c50100' +
        '00008056febc7842' +
        '000068c501bd7842' +
        '0100' +
        '0300703a31' +
        Buffer.from('p{"id":1,"name":"x"}').toString('hex'),
      'hex',
    )
    const back = decodeEnvelope(v1)
    expect(back).toMatchObject({ createdAt: 1_700_000_000_000, expiresAt: 1_700_003_600_000, loadMs: 0 })
    expect(back.tags).toEqual(['p:1'])
    expect(Buffer.from(back.payload).toString()).toBe('p{"id":1,"name":"x"}')
  })

  it('stores Infinity as "never expires"', () => {
    const bytes = encodeEnvelope({
      createdAt: 1,
      expiresAt: Number.POSITIVE_INFINITY,
      tags: [],
      payload: new Uint8Array([1]),
    })
    expect(decodeEnvelope(bytes).expiresAt).toBe(Number.POSITIVE_INFINITY)
  })

  it('compresses payloads above the threshold only when it saves space', () => {
    const payload = Buffer.from('x'.repeat(10_000))
    const small = encodeEnvelope({ createdAt: 1, expiresAt: 2, tags: [], payload }, 1024)
    expect(small.byteLength).toBeLessThan(500)
    expect(small[2]).toBe(1)
    expect(Buffer.from(decodeEnvelope(small).payload).toString()).toBe('x'.repeat(10_000))
    const incompressible = randomBytes(2000)
    const stored = encodeEnvelope({ createdAt: 1, expiresAt: 2, tags: [], payload: incompressible }, 1024)
    expect(stored[2]).toBe(0)
    expect(Buffer.from(decodeEnvelope(stored).payload).equals(incompressible)).toBe(true)
  })

  it('refuses a compressed payload that inflates past the limit', () => {
    const bytes = encodeEnvelope(
      { createdAt: 1, expiresAt: 2, tags: [], payload: Buffer.alloc(1_000_000) },
      1,
    )
    expect(() => decodeEnvelope(bytes, 1000)).toThrow()
  })

  it('rejects foreign bytes, other versions and truncation with an error, never a crash', () => {
    const good = encodeEnvelope({ createdAt: 1, expiresAt: 2, tags: ['a', 'b'], payload: Buffer.from('p1') })
    expect(() => decodeEnvelope(Buffer.from('hello world, plain string'))).toThrow(/magic/)
    const other = Buffer.from(good)
    other[1] = 9
    expect(() => decodeEnvelope(other)).toThrow(/version 9/)
    for (let cut = 0; cut < 31; cut++) {
      expect(() => decodeEnvelope(good.subarray(0, cut))).toThrow()
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decodeEnvelope(bytes)
        } catch (error) {
          expect(error).toBeInstanceOf(Error)
        }
      }),
    )
  })
})
