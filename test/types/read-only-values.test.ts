/**
 * Values read from the cache are typed read-only, because under the default isolation they are
 * deep-frozen: `rows.sort()` on a cached array must not compile (it would throw at run time).
 * The `@ts-expect-error` lines fail `npm run typecheck` the day a read returns a mutable type again.
 */
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest'
import { type Cache, createCache, type DeepReadonly } from '../../dist/index.js'

interface Row {
  id: number
  tags: string[]
  owner: { name: string }
}
const ROWS: Row[] = [
  { id: 2, tags: ['b'], owner: { name: 'x' } },
  { id: 1, tags: ['a'], owner: { name: 'y' } },
]

let cache: Cache | undefined
afterEach(async () => {
  await cache?.close()
  cache = undefined
})

describe('read-only value types', () => {
  it('getOrSet returns a DeepReadonly value: mutating it does not compile, and would throw', async () => {
    cache = createCache({ namespace: 'types' })
    const rows = await cache.getOrSet({ key: 'rows', factory: () => ROWS.map((r) => ({ ...r })) })
    expectTypeOf(rows).toEqualTypeOf<readonly DeepReadonly<Row>[]>()
    // @ts-expect-error a cached array is read-only (frozen): sort a copy instead
    expect(() => rows.sort((a, b) => a.id - b.id)).toThrow(TypeError)
    // @ts-expect-error nested arrays too
    expect(() => rows[0]?.tags.push('c')).toThrow(TypeError)
    expect(() => {
      const first = rows[0]
      // @ts-expect-error and nested objects' properties
      if (first !== undefined) first.owner.name = 'z'
    }).toThrow(TypeError)
    // What the docs say to do: copy, then change the copy.
    expect([...rows].sort((a, b) => a.id - b.id).map((r) => r.id)).toEqual([1, 2])
  })

  it('get, getMany, getOrSetMany, writeThrough and wrap return read-only values too', async () => {
    cache = createCache({ namespace: 'types' })
    await cache.set(
      'rows',
      ROWS.map((r) => ({ ...r })),
    )
    expectTypeOf(await cache.get<Row[]>('rows')).toEqualTypeOf<readonly DeepReadonly<Row>[] | undefined>()
    expectTypeOf(await cache.getMany<Row>(['a'])).toEqualTypeOf<(DeepReadonly<Row> | undefined)[]>()
    const many = await cache.getOrSetMany<Row>({
      keys: ['r1'],
      factory: async (keys) => new Map(keys.map((k) => [k, { id: 1, tags: [], owner: { name: k } }])),
    })
    expectTypeOf(many).toEqualTypeOf<Map<string, DeepReadonly<Row>>>()
    const written = await cache.writeThrough({
      key: 'w',
      value: { id: 3, tags: ['t'] },
      write: () => undefined,
    })
    expectTypeOf(written.tags).toEqualTypeOf<readonly string[]>()
    const load = cache.wrap(async (id: number) => ({ id, tags: ['w'] }), { key: (id) => `wrapped:${id}` })
    expectTypeOf(await load(1)).toEqualTypeOf<{ readonly id: number; readonly tags: readonly string[] }>()
  })

  it('keeps Map, Set, Date and typed arrays as they are (they are cloned on read, not frozen)', () => {
    expectTypeOf<DeepReadonly<Map<string, number>>>().toEqualTypeOf<Map<string, number>>()
    expectTypeOf<DeepReadonly<Set<string>>>().toEqualTypeOf<Set<string>>()
    expectTypeOf<DeepReadonly<Date>>().toEqualTypeOf<Date>()
    expectTypeOf<DeepReadonly<Uint8Array>>().toEqualTypeOf<Uint8Array>()
    expectTypeOf<DeepReadonly<[number, string[]]>>().toEqualTypeOf<readonly [number, readonly string[]]>()
    expectTypeOf<DeepReadonly<string | null>>().toEqualTypeOf<string | null>()
  })
})
