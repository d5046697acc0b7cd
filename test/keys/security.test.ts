import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  assertPattern,
  createCache,
  escapeGlob,
  InvalidKeyError,
  InvalidOptionError,
  KeyTooLongError,
  key,
  LIMIT_DEFAULTS,
  shortenKey,
  TooManyTagsError,
  tenantScope,
} from '../../dist/index.js'
import { globToRegExp } from '../../dist/keys/glob.js'

const anyPart = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.constantFrom(
    '*',
    '?',
    '[a-z]',
    '[^x]',
    '\\',
    'a\\',
    ':',
    '%',
    '%3A',
    '%25',
    '\r\nFLUSHALL\r\n',
    '\u0000',
  ),
  fc.integer(),
  fc.boolean(),
)

describe('key encoding is injective (S3)', () => {
  it('distinct (entity, parts) tuples — glob characters, separators and escapes included — give distinct keys', () => {
    fc.assert(
      fc.property(fc.array(anyPart, { maxLength: 4 }), fc.array(anyPart, { maxLength: 4 }), (a, b) => {
        const ka = key('k', ...a)
        const kb = key('k', ...b)
        const same = a.length === b.length && a.every((p, i) => String(p) === String(b[i]))
        // Parts compare as their text: 1 and '1' are the same part, on purpose.
        expect(ka === kb).toBe(same)
      }),
      { numRuns: 5000 },
    )
  })

  it('(ns="a:b", key="c") and (ns="a", key="b:c") cannot collide: a namespace may not contain ":"', () => {
    expect(() => createCache({ namespace: 'a:b' })).toThrow(InvalidOptionError)
    expect(key('a', 'b:c')).not.toBe(key('a', 'b', 'c'))
  })

  it('hashed long keys never equal a short key', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 300, maxLength: 400 }),
        fc.string({ maxLength: 60 }),
        (long, short) => {
          const hashed = shortenKey(key('k', long))
          expect(hashed).toContain('%#')
          expect(hashed).not.toBe(key('k', short))
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('glob escaping (S1)', () => {
  it('an escaped string, as a Redis glob, matches only itself', () => {
    const tricky = fc.stringMatching(/^[a-c*?[\]\\^-]{0,10}$/)
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 20 }), tricky),
        fc.oneof(fc.string({ maxLength: 20 }), tricky),
        (literal, other) => {
          const pattern = globToRegExp(escapeGlob(literal))
          expect(pattern.test(literal)).toBe(true)
          expect(pattern.test(other)).toBe(other === literal)
        },
      ),
      { numRuns: 5000 },
    )
  })

  it('a user segment "u*" inside a prefix pattern matches the literal key only', () => {
    const pattern = globToRegExp(`${escapeGlob('ns:u*')}:*`)
    expect(
      ['ns:u*:profile', 'ns:u1:profile', 'ns:uX:profile', 'ns:u:profile'].filter((k) => pattern.test(k)),
    ).toEqual(['ns:u*:profile'])
  })

  it('parts built with key() contain no glob metacharacter at all', () => {
    fc.assert(
      fc.property(fc.array(anyPart, { maxLength: 4 }), (parts) => {
        expect(key('k', ...parts)).not.toMatch(/[*?[\]\\]/)
      }),
      { numRuns: 2000 },
    )
  })
})

describe('pattern limits (S2)', () => {
  it.each([
    ['a star bomb', `${'*a'.repeat(40)}b`],
    ['a huge pattern', 'x'.repeat(LIMIT_DEFAULTS.maxPatternLength + 1)],
  ])('%s is refused with a typed error', (_name, pattern) => {
    expect(() => assertPattern(pattern)).toThrow(InvalidOptionError)
  })

  it('escaped stars do not count', () => {
    expect(() => assertPattern(`${escapeGlob('*'.repeat(40))}:*`)).not.toThrow()
  })
})

describe('internal namespaces cannot be aliased (S4)', () => {
  it('no user key of any namespace starts with "!" (tag markers, locks, the bus, write-behind)', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 20 }), (raw) => {
        // A namespace must start with a letter or digit: '!tag', '!lock', '!bus' are unreachable.
        const valid = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(raw)
        if (valid) expect(() => createCache({ namespace: raw })).not.toThrow()
        else expect(() => createCache({ namespace: raw })).toThrow(InvalidOptionError)
      }),
      { numRuns: 500 },
    )
  })
})

describe('tenant scopes (S14)', () => {
  it('distinct (namespace, tenant) pairs — and a tenant vs no tenant — never share a prefix', () => {
    const ns = fc.stringMatching(/^[a-z0-9][a-z0-9_.-]{0,6}$/)
    const tenant = fc.option(
      fc.oneof(fc.string({ minLength: 1, maxLength: 10 }), fc.constantFrom('a:b', '*', '@', 'x@y', '%3A')),
      {
        nil: undefined,
      },
    )
    fc.assert(
      fc.property(ns, tenant, ns, tenant, (n1, t1, n2, t2) => {
        const same = n1 === n2 && t1 === t2
        const s1 = `${tenantScope(n1, t1)}:`
        const s2 = `${tenantScope(n2, t2)}:`
        expect(s1 === s2).toBe(same)
        // No scope's keys fall under another scope's clear() prefix.
        if (!same) expect(s1.startsWith(s2) || s2.startsWith(s1)).toBe(false)
        // The scope is a literal in SCAN MATCH / PSUBSCRIBE.
        expect(s1).not.toMatch(/[*?[\]\\]/)
      }),
      { numRuns: 5000 },
    )
  })

  it('refuses an empty or oversized tenant', () => {
    expect(() => tenantScope('ns', '')).toThrow(InvalidOptionError)
    expect(() => tenantScope('ns', 'x'.repeat(LIMIT_DEFAULTS.maxTenantLength + 1))).toThrow(
      InvalidOptionError,
    )
  })
})

describe('limit errors are typed', () => {
  it('KeyTooLongError is an InvalidKeyError (E_INVALID_KEY), TooManyTagsError an InvalidOptionError', () => {
    expect(new KeyTooLongError('x')).toBeInstanceOf(InvalidKeyError)
    expect(new KeyTooLongError('x').code).toBe('E_INVALID_KEY')
    expect(new TooManyTagsError('x')).toBeInstanceOf(InvalidOptionError)
    expect(new TooManyTagsError('x').code).toBe('E_INVALID_OPTION')
  })
})
