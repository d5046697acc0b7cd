import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { defineKeys, escapeGlob, key, shortenKey } from '../../dist/index.js'

describe('key()', () => {
  it('joins an entity and its parts with ":"', () => {
    expect(key('product', 42)).toBe('product:42')
    expect(key('user_posts', 7, 'page', 2)).toBe('user_posts:7:page:2')
  })

  it('cannot be forged by a part that contains the separator', () => {
    expect(key('user', 'a:b')).not.toBe(key('user', 'a', 'b'))
    expect(key('user', 'a:b')).toBe('user:a%3Ab')
  })

  it('escapes every Redis glob metacharacter in parts', () => {
    const built = key('user', 'u*', '?', '[a-z]', '[^x]', 'back\\slash', 'trailing\\')
    expect(built).not.toMatch(/[*?[\]\\]/)
  })

  it('is injective: distinct part tuples give distinct keys', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string(), { maxLength: 4 }),
        fc.array(fc.string(), { maxLength: 4 }),
        (a, b) => {
          fc.pre(JSON.stringify(a) !== JSON.stringify(b))
          expect(key('k', ...a)).not.toBe(key('k', ...b))
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('refuses entities that are not lowercase identifiers', () => {
    for (const entity of ['', 'User', 'a:b', 'a b', '1abc', 'a*']) {
      expect(() => key(entity)).toThrow(expect.objectContaining({ code: 'E_INVALID_KEY' }))
    }
  })

  it('refuses parts that are objects, null, undefined or non-finite numbers', () => {
    for (const part of [{}, null, undefined, Number.NaN, Number.POSITIVE_INFINITY, Symbol('x')]) {
      expect(() => key('user', part as never)).toThrow(expect.objectContaining({ code: 'E_INVALID_KEY' }))
    }
  })

  it('hashes keys longer than 250 bytes behind a readable prefix', () => {
    const long = key('search', 'q'.repeat(400))
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(250)
    expect(long.startsWith('search:qqq')).toBe(true)
    expect(long).toMatch(/%#[0-9a-f]{32}$/)
    expect(key('search', `${'q'.repeat(399)}r`)).not.toBe(long)
  })

  it('counts bytes, not characters, for the limit', () => {
    const emoji = '😀'.repeat(70) // 280 bytes, 140 UTF-16 units
    expect(Buffer.byteLength(shortenKey(emoji))).toBeLessThanOrEqual(250)
    expect(shortenKey('é'.repeat(100))).toBe('é'.repeat(100)) // 200 bytes: fits
  })
})

describe('escapeGlob()', () => {
  it('makes a pattern match only its literal text', () => {
    expect(escapeGlob('u*?[a]\\')).toBe('u\\*\\?\\[a\\]\\\\')
  })
})

describe('defineKeys()', () => {
  it('builds typed keys whose entity is the snake_cased property name', () => {
    const keys = defineKeys({
      user: (id: number) => id,
      productList: (category: string, page = 1) => [category, 'page', page],
    })
    expect(keys.user(1)).toBe('user:1')
    expect(keys.productList('books')).toBe('product_list:books:page:1')
    expect(keys.productList('a:b', 2)).toBe('product_list:a%3Ab:page:2')
  })
})
