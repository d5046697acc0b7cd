/**
 * Issue 18 (4): the core's one `invalidate` event — keys, tags, clears and patterns, made here
 * ('local') or heard on the bus ('remote'), once per change per instance — and `set`'s
 * `startedAt`: a value computed from reads made before an invalidation of one of its tags (or a
 * delete of its key), on any instance, is not kept.
 */
import { describe, expect, it } from 'vitest'
import { type CacheOptions, createCache, type InvalidationEvent, MemoryRemoteTier } from '../../dist/index.js'

async function pair(extra: CacheOptions = {}) {
  const tier = new MemoryRemoteTier()
  const a = createCache({ namespace: 'ev', jitter: 0, l2: { tier }, ...extra })
  const b = createCache({ namespace: 'ev', jitter: 0, l2: { tier }, ...extra })
  await Promise.all([a.ready(), b.ready()])
  const seen = { a: [] as InvalidationEvent[], b: [] as InvalidationEvent[] }
  a.on('invalidate', (e) => seen.a.push(e))
  b.on('invalidate', (e) => seen.b.push(e))
  return { tier, a, b, seen }
}

const delivered = () => new Promise<void>((resolve) => setImmediate(resolve))
const summary = (events: InvalidationEvent[]) => events.map((e) => `${e.origin} ${e.kind}`)

describe("the 'invalidate' event", () => {
  it('is emitted once per change on each instance: local where it was made, remote where it was heard', async () => {
    const { a, seen } = await pair()
    const tags = ['product:1']
    await a.invalidateTags(tags, { mode: 'expire' })
    await a.delete('k')
    await a.set('k', 1)
    await a.deleteMatching('user:*')
    await a.clear()
    await delivered()
    const kinds = ['tags', 'keys', 'keys', 'pattern', 'clear']
    expect(summary(seen.a)).toEqual(kinds.map((k) => `local ${k}`))
    expect(summary(seen.b)).toEqual(kinds.map((k) => `remote ${k}`))
    const [local, remote] = [seen.a[0], seen.b[0]]
    // The caller's own array (the HTTP layer recognises its calls by it), and the same stamp everywhere.
    expect(local?.kind === 'tags' && local.tags).toBe(tags)
    expect(remote).toMatchObject({ kind: 'tags', tags: ['product:1'], mode: 'expire', at: local?.at })
    expect(seen.b[3]).toMatchObject({ kind: 'pattern', pattern: 'user:*' })
  })

  it('is emitted for a local change even when the L2 write failed', async () => {
    const memory = new MemoryRemoteTier()
    const store = memory.invalidation as NonNullable<MemoryRemoteTier['invalidation']>
    // The L2 cannot record the tag's marker (Redis down for that call).
    const tier = new Proxy(memory, {
      get(target, property) {
        if (property === 'invalidation')
          return { ...store, bumpMarkers: () => Promise.reject(new Error('connection lost')) }
        const value = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const a = createCache({ namespace: 'ev2', l2: { tier, writeErrors: 'throw' } })
    const seen: InvalidationEvent[] = []
    a.on('invalidate', (e) => seen.push(e))
    await expect(a.invalidateTags(['t'])).rejects.toBeDefined()
    expect(summary(seen)).toEqual(['local tags'])
    await a.close()
  })
})

describe("set's startedAt", () => {
  it('a value computed before an invalidation of one of its tags on another instance is not served afterwards, by either', async () => {
    const { a, b } = await pair()
    const started = b.stamp()
    // A invalidates while B is still computing; B stores before it hears of it.
    await a.invalidateTags(['product:1'])
    await b.set('page', 'old', { tags: ['product:1'], startedAt: started })
    await delivered()
    expect(await b.get('page')).toBeUndefined()
    expect(await a.get('page')).toBeUndefined()
    // Without startedAt the same write is newer than the invalidation (the old behaviour).
    await b.set('page', 'new', { tags: ['product:1'] })
    expect(await a.get('page')).toBe('new')
  })

  it('a value computed before a delete of its key is refused by the L2 lease check', async () => {
    const { a, b } = await pair()
    const started = b.stamp()
    await a.delete('k')
    await b.set('k', 'old', { startedAt: started })
    await delivered()
    expect(await a.get('k')).toBeUndefined()
    expect(await b.get('k')).toBeUndefined()
    expect(b.stats().writesRefused).toBe(1)
  })

  it('is refused when not a time', async () => {
    const { a } = await pair()
    await expect(a.set('k', 1, { startedAt: Number.NaN })).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
  })
})
