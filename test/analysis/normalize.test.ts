import { describe, expect, it } from 'vitest'
import { newRawEvent } from '../../dist/analysis/event.js'
import { Normalizer, normalizeKey, normalizeSql, normalizeUrl } from '../../dist/analysis/normalize/index.js'

describe('normalisation into signatures and data types', () => {
  it('SQL: numbers and strings become ?, IN-lists of any length one shape; the key keeps the values', () => {
    const a = normalizeSql('SELECT * FROM users WHERE id=42')
    const b = normalizeSql('select *  from users where id = 7')
    expect(a.signature).toBe('SELECT * FROM users WHERE id = ?')
    expect(b.signature).toBe(a.signature)
    expect(a.key).not.toBe(b.key)
    expect(a).toMatchObject({ op: 'read', type: 'users', entity: '42', shape: 'entity' })
    expect(normalizeSql("SELECT name FROM t WHERE a IN (1, 2, 3) AND b = 'x''y'").signature).toBe(
      'SELECT name FROM t WHERE a IN (?) AND b = ?',
    )
    expect(normalizeSql('SELECT name FROM t WHERE a IN (1)').signature).toBe(
      'SELECT name FROM t WHERE a IN (?)',
    )
    expect(normalizeSql('SELECT * FROM products WHERE category = $1', ['books'])).toMatchObject({
      type: 'products',
      shape: 'list',
      entity: '',
    })
  })

  it('SQL writes are attributed to their table, with the entity when the WHERE pins an id', () => {
    expect(normalizeSql('UPDATE public.users SET name = $1 WHERE id = $2', ['x', '7'])).toMatchObject({
      op: 'write',
      type: 'users',
      entity: '7',
    })
    expect(normalizeSql('INSERT INTO orders (a, b) VALUES (1, 2), (3, 4)')).toMatchObject({
      op: 'write',
      type: 'orders',
      signature: 'INSERT INTO orders (a, b) VALUES (?, ?)',
    })
    expect(normalizeSql('DELETE FROM "Carts" WHERE id = 5')).toMatchObject({ type: 'carts', entity: '5' })
    expect(normalizeSql('UPDATE posts SET views = views + 1 WHERE id = 3').shape).toBe('counter')
    expect(normalizeSql('BEGIN').op).toBe('other')
  })

  it('URLs: ids, uuids and hashes become placeholders; writes by method; tracking parameters dropped', () => {
    const r = normalizeUrl('/api/products/42?utm_source=x', 'GET')
    expect(r).toMatchObject({
      op: 'read',
      signature: '/api/products/:id',
      type: 'products',
      entity: '42',
      shape: 'entity',
    })
    expect(r.key).toBe('/api/products/42')
    expect(normalizeUrl('/api/products/7', 'GET').signature).toBe(r.signature)
    expect(normalizeUrl('/u/3f2b8c1e-1234-4abc-8def-0123456789ab/avatar', 'GET').signature).toBe(
      '/u/:uuid/avatar',
    )
    expect(normalizeUrl('/api/products?page=2&category=books', 'GET')).toMatchObject({
      signature: '/api/products?category=:v&page=:v',
      key: '/api/products?category=books&page=2',
      shape: 'list',
    })
    expect(normalizeUrl('/api/products/42', 'PUT')).toMatchObject({
      op: 'write',
      type: 'products',
      entity: '42',
    })
    expect(normalizeUrl('/static/app.3f9a8b7c.js', 'GET')).toMatchObject({
      signature: '/static/app.:hash.js',
      shape: 'static',
    })
  })

  it('keys: id-like segments become placeholders, the pattern is the type, counters by command', () => {
    expect(normalizeKey('user:42:profile', 'read')).toMatchObject({
      signature: 'user:{id}:profile',
      type: 'user:{id}:profile',
    })
    expect(normalizeKey('session:a8f5f167f44f4964e6c998dee827110c', 'read').signature).toBe('session:{hash}')
    expect(normalizeKey('page:item42', 'read').signature).toBe('page:item{n}')
    expect(normalizeKey('views:9', 'write', 'INCR').shape).toBe('counter')
  })
})

describe('the normaliser memo', () => {
  it('stays within its bound whatever the verbs: a column of ever-new methods does not grow it', () => {
    const normalizer = new Normalizer()
    const event = (text: string, verb: string) => ({ ...newRawEvent(), kind: 'key' as const, text, verb })
    // Hot keys first: the memo pays, so it stays on.
    for (let i = 0; i < 100_000; i++) normalizer.normalize(event(`product:${i % 100}`, 'GET'))
    // Then every line with a verb never seen before (a garbage or attacker-filled column).
    for (let i = 0; i < 300_000; i++) normalizer.normalize(event(`product:${i % 100}`, `VERB${i}`))
    expect(normalizer.memoized).toBeLessThanOrEqual(100_001)
  })
})
