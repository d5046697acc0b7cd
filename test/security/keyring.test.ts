import { randomBytes } from 'node:crypto'
import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import { encryptionFromEnv, InvalidOptionError, KeyRing } from '../../dist/index.js'
import { IvSource, isSealed, SEALED_MAGIC, sealedKeyId } from '../../dist/security/keyring.js'

const K1 = randomBytes(32)
const K2 = randomBytes(32)
const plaintext = Buffer.from('an envelope, as the cache would seal it')

function ring(keys: Record<string, string | Uint8Array>, current: string): KeyRing {
  return KeyRing.from({ keys, current })
}

describe('the key ring (AES-256-GCM, AAD = Redis key + version + key id)', () => {
  it('seals with the current key and opens with any listed key', () => {
    const old = ring({ k1: K1 }, 'k1')
    const rotated = ring({ k2: K2, k1: K1 }, 'k2')
    const sealedOld = old.seal(plaintext, 'ns:v1:a')
    const opened = rotated.open(sealedOld, 'ns:v1:a')
    expect(opened).toMatchObject({ ok: true, keyId: 'k1' })
    expect(opened.ok && opened.plaintext.equals(plaintext)).toBe(true)
    const sealedNew = rotated.seal(plaintext, 'ns:v1:a')
    expect(sealedKeyId(sealedNew)).toBe('k2')
    expect(old.open(sealedNew, 'ns:v1:a')).toMatchObject({ ok: false, reason: 'unknown-key', keyId: 'k2' })
  })

  it('has a pinned sealed format: magic, version, key id, 96-bit IV, ciphertext, 128-bit tag', () => {
    const sealed = ring({ k1: K1 }, 'k1').seal(plaintext, 'ns:v1:a')
    expect(sealed[0]).toBe(SEALED_MAGIC)
    expect(sealed[1]).toBe(1)
    expect(sealed[2]).toBe(2)
    expect(sealed.subarray(3, 5).toString()).toBe('k1')
    expect(sealed.length).toBe(5 + 12 + plaintext.length + 16)
    expect(isSealed(sealed)).toBe(true)
    // Not an envelope (0xC5) and not a tombstone ('!'): each reader tells them apart by the first byte.
    expect(sealed[0]).not.toBe(0xc5)
    expect(sealed[0]).not.toBe(0x21)
  })

  it('a value copied to another Redis key does not open (S8)', () => {
    const keys = ring({ k1: K1 }, 'k1')
    const sealed = keys.seal(plaintext, 'ns:v1:user:alice')
    expect(keys.open(sealed, 'ns:v1:user:mallory')).toMatchObject({ ok: false, reason: 'integrity' })
    expect(keys.open(sealed, 'ns:v2:user:alice')).toMatchObject({ ok: false, reason: 'integrity' })
  })

  it('flipping any single bit anywhere in the entry makes it fail (S8)', () => {
    const keys = ring({ k1: K1, k9: randomBytes(32) }, 'k1')
    const sealed = keys.seal(plaintext, 'ns:v1:a')
    for (let at = 0; at < sealed.length; at++) {
      for (const bit of [0x01, 0x80]) {
        const tampered = Buffer.from(sealed)
        tampered[at] = (tampered[at] as number) ^ bit
        const result = keys.open(tampered, 'ns:v1:a')
        expect(result.ok, `byte ${at} bit ${bit}`).toBe(false)
      }
    }
  })

  it('a relabelled key id (another listed key) fails authentication; a removed key id is unknown', () => {
    const keys = ring({ k1: K1, k2: K2 }, 'k1')
    const sealed = keys.seal(plaintext, 'ns:v1:a')
    const relabelled = Buffer.from(sealed)
    relabelled.write('k2', 3, 'latin1')
    expect(keys.open(relabelled, 'ns:v1:a')).toMatchObject({ ok: false, reason: 'integrity' })
    const retired = ring({ k2: K2 }, 'k2')
    expect(retired.open(sealed, 'ns:v1:a')).toMatchObject({ ok: false, reason: 'unknown-key', keyId: 'k1' })
  })

  it('truncated or foreign bytes are malformed, never an exception', () => {
    const keys = ring({ k1: K1 }, 'k1')
    const sealed = keys.seal(plaintext, 'ns:v1:a')
    for (let n = 0; n < 3 + 2 + 12 + 16; n++) {
      expect(keys.open(sealed.subarray(0, n), 'ns:v1:a').ok).toBe(false)
    }
    expect(keys.open(Buffer.from([SEALED_MAGIC, 9, 2, 0x6b, 0x31]), 'x')).toMatchObject({
      reason: 'malformed',
    })
  })

  it('1,000,000 IVs from the IV source are all distinct, and so are the IVs of 50,000 real seals (S9)', () => {
    const source = new IvSource()
    const iv = Buffer.alloc(12)
    const seen = new Set<string>()
    for (let i = 0; i < 1_000_000; i++) {
      source.next(iv)
      seen.add(iv.toString('latin1'))
    }
    expect(seen.size).toBe(1_000_000)
    const keys = ring({ k1: K1 }, 'k1')
    const sealedIvs = new Set<string>()
    const empty = Buffer.alloc(0)
    for (let i = 0; i < 50_000; i++) sealedIvs.add(keys.seal(empty, 'k').toString('latin1', 5, 17))
    expect(sealedIvs.size).toBe(50_000)
  })

  it('never shows key material: inspect, JSON and every error name ids only (S9)', () => {
    const secret = randomBytes(32)
    const base64 = secret.toString('base64')
    // Two keys (one key under two ids is refused): one given as base64, one as hex.
    const older = randomBytes(32).toString('hex')
    const keys = ring({ live: base64, old: older }, 'live')
    const shown = `${inspect(keys, { showHidden: true, depth: 10 })} ${JSON.stringify(keys)} ${String(keys)}`
    expect(shown).not.toContain(base64)
    expect(shown).not.toContain(older)
    expect(JSON.parse(JSON.stringify(keys))).toEqual({ current: 'live', ids: ['live', 'old'] })
    const wrongLength = secret.subarray(0, 31).toString('base64')
    for (const bad of [
      () => ring({ k: wrongLength }, 'k'),
      () => ring({ k: base64 }, base64),
      () =>
        KeyRing.from({
          keys: () => {
            throw new Error(`could not read ${base64}`)
          },
          current: 'k',
        }),
    ]) {
      let message = ''
      try {
        bad()
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidOptionError)
        message = `${(error as Error).message} ${inspect(error)}`
      }
      expect(message).not.toBe('')
      expect(message).not.toContain(base64)
      expect(message).not.toContain(wrongLength)
    }
  })

  it('accepts keys as 32 bytes, base64 or hex, from a callback or from the environment', () => {
    const b64 = K2.toString('base64')
    const fromCallback = KeyRing.from({ keys: () => ({ k2: b64, k1: K1.toString('hex') }), current: 'k2' })
    expect(fromCallback.ids()).toEqual(['k2', 'k1'])
    const env = { STRATACACHE_KEYS: `k2=${b64}, k1=${K1.toString('base64')}` }
    const options = encryptionFromEnv('STRATACACHE_KEYS', env)
    expect(options.current).toBe('k2')
    const fromEnv = KeyRing.from(options)
    expect(fromEnv.open(fromCallback.seal(plaintext, 'x'), 'x').ok).toBe(true)
    expect(() => encryptionFromEnv('MISSING', {})).toThrow(/MISSING is not set/)
  })

  it('an environment list that names one key id twice is refused, not resolved to the later key', () => {
    const first = K2.toString('base64')
    const second = randomBytes(32).toString('base64')
    // Rotating by prepending `k2=<new>` to a list that still holds an old k2: instances that
    // silently kept either value would each fail to open the other's entries.
    const env = { STRATACACHE_KEYS: `k2=${first},k1=${K1.toString('base64')},k2=${second}` }
    let error: unknown
    try {
      encryptionFromEnv('STRATACACHE_KEYS', env)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InvalidOptionError)
    expect((error as Error).message).toMatch(/STRATACACHE_KEYS.*same key id twice/)
    expect((error as Error).message).not.toContain(first)
    expect((error as Error).message).not.toContain(second)
  })

  it('an environment key id spelled __proto__ is a key like any other, not dropped', () => {
    const options = encryptionFromEnv('KEYS', { KEYS: `__proto__=${K2.toString('base64')}` })
    expect(options.current).toBe('__proto__')
    const keys = KeyRing.from(options)
    expect(keys.ids()).toEqual(['__proto__'])
    expect(keys.open(keys.seal(plaintext, 'x'), 'x').ok).toBe(true)
    expect(({} as { isAdmin?: unknown }).isAdmin).toBeUndefined()
  })

  it('refuses bad options with messages that say what to do', () => {
    expect(() => KeyRing.from({ keys: {}, current: 'k' })).toThrow(/at least one key/)
    expect(() => ring({ 'bad id!': K1 }, 'bad id!')).toThrow(/key id/)
    expect(() => ring({ k1: K1 }, 'k2')).toThrow(/current must be the id of one of the keys \(k1\)/)
    expect(() => ring({ k1: 'short' }, 'k1')).toThrow(/openssl rand -base64 32/)
  })
})
