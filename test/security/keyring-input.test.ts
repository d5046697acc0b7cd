import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { encryptionFromEnv, KeyRing } from '../../src/security/keyring.js'

/** The error `build` throws (it must throw). */
function refusal(build: () => unknown): Error & { code?: string } {
  try {
    build()
  } catch (error) {
    return error as Error & { code?: string }
  }
  throw new Error('expected a refusal')
}

describe('key ring input never echoes key material', () => {
  const hex = randomBytes(32).toString('hex')
  const base64url = randomBytes(32).toString('base64url')

  it.each([
    ['a hex key', hex],
    ['an unpadded base64url key', base64url],
  ])('a map written the wrong way round (%s as the id) is refused without quoting it', (_, key) => {
    const error = refusal(() => KeyRing.from({ keys: { [key]: 'k1' }, current: 'k1' }))
    expect(error.code).toBe('E_INVALID_OPTION')
    expect(error.message).not.toContain(key)
    expect(error.message).toMatch(/wrong way round/)
  })

  it('the same from STRATACACHE_KEYS ("<key>=k1"), and the CLI prints no key', async () => {
    const env = { STRATACACHE_KEYS: `${hex}=k1` }
    const error = refusal(() => KeyRing.from(encryptionFromEnv('STRATACACHE_KEYS', env)))
    expect(error.code).toBe('E_INVALID_OPTION')
    expect(error.message).not.toContain(hex)
    let printed = ''
    const sink = {
      write: (s: string) => {
        printed += s
        return true
      },
    }
    const code = await main(['rotate-keys', '--redis', 'redis://127.0.0.1:1', '--namespace', 'x'], {
      stdout: sink,
      stderr: sink,
      env,
    })
    expect(code).toBe(1)
    expect(printed).toMatch(/wrong way round/)
    expect(printed).not.toContain(hex)
  })

  it('a key id that is itself key material is refused even next to a valid key: ids are stored in clear', () => {
    const error = refusal(() => KeyRing.from({ keys: { [hex]: randomBytes(32) }, current: hex }))
    expect(error.code).toBe('E_INVALID_OPTION')
    expect(error.message).not.toContain(hex)
  })
})

describe('weak keys are refused', () => {
  it.each([
    ['32 zero bytes', Buffer.alloc(32)],
    ['one repeated byte', Buffer.alloc(32, 7)],
    ['64 hex zeros', '0'.repeat(64)],
    ['base64 of 32 zero bytes', Buffer.alloc(32).toString('base64')],
    ['a password typed as 32 bytes', Buffer.from('correct horse battery staple 123')],
    ['base64 of text', Buffer.from('passwordpasswordpasswordpassword').toString('base64')],
    ['a short repeating pattern', Buffer.from(Array.from({ length: 32 }, (_, i) => i % 4))],
  ])('%s', (_, material) => {
    const error = refusal(() => KeyRing.from({ keys: { k1: material }, current: 'k1' }))
    expect(error.code).toBe('E_INVALID_OPTION')
    expect(error.message).toMatch(/encryption\.keys\.k1.*weak.*openssl rand -base64 32/s)
  })

  it('random keys are accepted (10,000 of them)', () => {
    for (let i = 0; i < 10_000; i++) {
      expect(KeyRing.from({ keys: { k1: randomBytes(32) }, current: 'k1' }).currentId).toBe('k1')
    }
  })
})

describe('the keys variable', () => {
  it('a value given where the variable name goes is refused without printing it (rotate-keys --keys-env)', async () => {
    const k1 = randomBytes(32).toString('base64')
    const error = refusal(() => encryptionFromEnv(`k1=${k1}`, {}))
    expect(error.code).toBe('E_INVALID_OPTION')
    expect(error.message).not.toContain(k1)
    expect(error.message).toMatch(/name of an environment variable/)
    let printed = ''
    const sink = {
      write: (s: string) => {
        printed += s
        return true
      },
    }
    const argv = [
      'rotate-keys',
      '--redis',
      'redis://127.0.0.1:1',
      '--namespace',
      'x',
      '--keys-env',
      `k1=${k1}`,
    ]
    expect(await main(argv, { stdout: sink, stderr: sink, env: {} })).toBe(1)
    expect(printed).toMatch(/name of an environment variable/)
    expect(printed).not.toContain(k1)
  })
})

describe('one key under two ids', () => {
  it('is refused: a rotation to the new id would re-encrypt under the same key', () => {
    const key = randomBytes(32)
    const error = refusal(() =>
      KeyRing.from({ keys: { k2: key.toString('base64'), k1: key.toString('hex') }, current: 'k2' }),
    )
    expect(error.code).toBe('E_INVALID_OPTION')
    expect(error.message).toMatch(/encryption\.keys\.k1 is the same key as encryption\.keys\.k2/)
    expect(error.message).not.toContain(key.toString('hex'))
  })
})
