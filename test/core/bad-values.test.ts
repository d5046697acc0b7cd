/**
 * S-class inputs at the public entry points (the cache's and the package's other exports): a value
 * of the wrong kind — even one that turning into text would throw on (a Symbol, a BigInt, an object
 * without a prototype or whose toString throws) — gets a typed error that says what was given
 * (E_INVALID_OPTION, E_INVALID_KEY for key text, a DecodeError from a decoder), never a TypeError
 * from inside the library, and leaves nothing behind.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { HttpCache, normalizeUrl, parseCacheControl } from '../../dist/http/index.js'
import {
  adaptiveTtl,
  type Cache,
  createCache,
  createWriteBehind,
  defineKeys,
  encryptionFromEnv,
  escapeGlob,
  InvalidOptionError,
  MemoryRemoteTier,
  MemoryWriteLog,
  parseSnapshot,
  RedisStreamLog,
  rotateKeys,
  StrataError,
  shortenKey,
  subscribeSnapshots,
} from '../../dist/index.js'
import { registerPrometheus } from '../../dist/observability/prometheus.js'
import { DecodeError, MsgpackSerializer, TaggedJsonSerializer } from '../../dist/serialization/index.js'

const throwingToString = {
  toString(): string {
    throw new Error('the caller’s toString ran')
  },
}

async function refusal(attempt: () => unknown): Promise<InvalidOptionError> {
  let error: unknown
  try {
    await attempt()
  } catch (caught) {
    error = caught
  }
  expect(error).toBeInstanceOf(InvalidOptionError)
  expect((error as InvalidOptionError).code).toBe('E_INVALID_OPTION')
  return error as InvalidOptionError
}

describe('bad values at the public entry points', () => {
  const caches: Cache[] = []
  const open = () => {
    const cache = createCache({ l2: false })
    caches.push(cache)
    return cache
  }
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((c) => c.close()))
  })

  it('createCache: a namespace or l1.maxEntries that cannot be shown as text is refused, described', async () => {
    expect((await refusal(() => createCache({ namespace: 1n as never, l2: false }))).message).toContain(
      'namespace 1n is invalid',
    )
    expect(
      (await refusal(() => createCache({ l1: { maxEntries: throwingToString as never }, l2: false })))
        .message,
    ).toContain('l1.maxEntries must be an integer ≥ 1; got an object with keys toString')
    expect(
      (await refusal(() => createCache({ l1: { maxEntries: Object.create(null) }, l2: false }))).message,
    ).toContain('got an object without a prototype')
  })

  it('namespace(name) refuses a name that is not a string', async () => {
    const cache = open()
    expect((await refusal(() => cache.namespace(Symbol('tenant') as never))).message).toContain(
      'the name must be a string; got a Symbol (tenant)',
    )
    await refusal(() => cache.namespace(throwingToString as never))
    await refusal(() => cache.namespace(Object.create(null)))
  })

  it('set, ready and warm refuse options that are not an object, and warm keys that are not an array', async () => {
    const cache = open()
    expect((await refusal(() => cache.set('k', 1, null as never))).message).toContain(
      'options must be an object (or left out); got null',
    )
    expect(cache.peek('k')).toBeUndefined()
    await refusal(() => cache.ready(null as never))
    expect((await refusal(() => cache.warm(undefined as never, () => new Map()))).message).toContain(
      'warm: the keys must be an array of strings; got undefined',
    )
  })

  it('invalidateTags describes a mode it cannot stringify', async () => {
    const cache = open()
    expect((await refusal(() => cache.invalidateTags(['t'], { mode: 1n as never }))).message).toContain(
      "mode must be 'delete' or 'expire'; got 1n",
    )
  })

  it('getOrSetMany refused for a bad option leaves nothing in flight: the same keys load at once afterwards', async () => {
    const cache = open()
    const factory = (keys: string[]) => new Map(keys.map((k) => [k, `v:${k}`]))
    for (const grace of [null, -1, 'soon']) {
      await refusal(() => cache.getOrSetMany({ keys: ['a', 'b'], factory, grace: grace as never }))
    }
    // A refused call that had registered the keys' flights would leave these waiting for ever.
    const loaded = await Promise.race([
      Promise.all([
        cache.getOrSetMany({ keys: ['a', 'b'], factory }),
        cache.getOrSet({ key: 'a', factory: () => 'x' }),
      ]),
      new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 2 s'), 2000)),
    ])
    expect(loaded).toEqual([
      new Map([
        ['a', 'v:a'],
        ['b', 'v:b'],
      ]),
      'v:a',
    ])
  })

  it('getOrSet refuses a ttl object that is not an adaptive TTL, and caches nothing', async () => {
    const cache = open()
    for (const ttl of [{}, [], new Date(0)]) {
      await refusal(() => cache.getOrSet({ key: 'k', factory: () => 'v', ttl: ttl as never }))
    }
    expect(cache.peek('k')).toBeUndefined()
  })
})

describe('the other public entry points: a value of the wrong kind gets a typed error with a code, not a TypeError', () => {
  const notText: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a Symbol', Symbol('s')],
    ['an object whose toString throws', throwingToString],
  ]
  const notObject: [string, unknown][] = [
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a Symbol', Symbol('s')],
    ['a string', 'options'],
  ]
  const entryPoints: [string, (value: unknown) => unknown, [string, unknown][], string][] = [
    ['escapeGlob(text)', (v) => escapeGlob(v as never), notText, 'E_INVALID_KEY'],
    ['shortenKey(text)', (v) => shortenKey(v as never), notText, 'E_INVALID_KEY'],
    ['normalizeUrl(url)', (v) => normalizeUrl(v as never), notText, 'E_INVALID_KEY'],
    ['encryptionFromEnv(variable)', (v) => encryptionFromEnv(v as never, {}), notText, 'E_INVALID_OPTION'],
    ['defineKeys(definitions)', (v) => defineKeys(v as never), notObject, 'E_INVALID_OPTION'],
    ['adaptiveTtl(options)', (v) => adaptiveTtl(v as never), notObject, 'E_INVALID_OPTION'],
    [
      'createWriteBehind(target)',
      (v) => createWriteBehind(v as never, {} as never),
      notObject,
      'E_INVALID_OPTION',
    ],
    [
      'RedisStreamLog(redis, options)',
      (v) => new RedisStreamLog({} as never, v as never),
      notObject,
      'E_INVALID_OPTION',
    ],
    ['rotateKeys(options)', (v) => rotateKeys(v as never), notObject, 'E_INVALID_OPTION'],
    [
      'subscribeSnapshots(cache)',
      (v) => subscribeSnapshots(v as never, () => {}),
      notObject,
      'E_INVALID_OPTION',
    ],
    ['parseSnapshot(bytes)', (v) => parseSnapshot(v as never), notObject, 'E_INVALID_OPTION'],
  ]
  for (const [name, call, wrong, code] of entryPoints) {
    it(`${name} refuses ${wrong.map(([kind]) => kind).join(', ')} with ${code}`, async () => {
      for (const [kind, value] of wrong) {
        let error: unknown
        try {
          await call(value)
        } catch (caught) {
          error = caught
        }
        expect(error, kind).toBeInstanceOf(StrataError)
        expect((error as StrataError).code, kind).toBe(code)
      }
    })
  }

  it('parseCacheControl reads a missing header as empty and refuses a header that is not a string', () => {
    expect(parseCacheControl(undefined).size).toBe(0)
    for (const [kind, value] of notText.slice(1)) {
      expect(() => parseCacheControl(value as never), kind).toThrow(InvalidOptionError)
    }
  })

  it('the HTTP layer and registerPrometheus refuse a prefix, tags or options of the wrong kind', async () => {
    const cache = createCache({ l2: false })
    try {
      expect(() => new HttpCache({ cache, prefix: Symbol('p') as never })).toThrow(InvalidOptionError)
      const http = new HttpCache({ cache })
      for (const tags of [undefined, null, 'product:1', Symbol('t')]) {
        await expect(http.invalidateTags(tags as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
      }
      expect(() => registerPrometheus(cache, null as never)).toThrow(InvalidOptionError)
    } finally {
      await cache.close()
    }
  })

  it('MemoryWriteLog and MemoryRemoteTier refuse options that are not an object', () => {
    expect(() => new MemoryWriteLog(null as never)).toThrow(InvalidOptionError)
    expect(() => new MemoryRemoteTier(null as never)).toThrow(InvalidOptionError)
  })

  it('the serializers decode only bytes: anything else is a DecodeError, the one error a decoder throws', () => {
    for (const serializer of [new TaggedJsonSerializer(), new MsgpackSerializer()]) {
      for (const [kind, value] of [...notText, ...notObject]) {
        expect(() => serializer.decode(value as never), `${serializer.name}: ${kind}`).toThrow(DecodeError)
      }
    }
  })
})
