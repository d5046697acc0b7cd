import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MessageAuthenticator } from '../../src/security/hmac.js'

describe('bus secrets', () => {
  it.each([
    ['one repeated character', 'x'.repeat(40)],
    ['a short repeating pattern', 'ab'.repeat(20)],
    ['32 zero bytes', Buffer.alloc(32)],
    ['a placeholder', 'changeme'.repeat(4)],
    ['a phrase typed twice', 'sixteen letters!'.repeat(2)],
  ])('a placeholder secret is refused: %s', (_, secret) => {
    let error: (Error & { code?: string }) | undefined
    try {
      new MessageAuthenticator(['a real shared secret, long enough!!', secret])
    } catch (caught) {
      error = caught as Error & { code?: string }
    }
    expect(error?.code).toBe('E_INVALID_OPTION')
    expect(error?.message).toMatch(/bus\.secret\[1\].*openssl rand -base64 32/s)
    expect(error?.message).not.toContain(typeof secret === 'string' ? secret : 'never')
  })

  it('passphrases and random secrets are accepted', () => {
    for (const secret of [
      'the bus secret shared by every instance!',
      randomBytes(32),
      randomBytes(32).toString('base64'),
    ]) {
      const auth = new MessageAuthenticator(secret)
      const body = Buffer.from('{}')
      expect(auth.verify(auth.sign(body), body)).toBe(true)
    }
  })
})
