import { describe, expect, it } from 'vitest'
import { createCache, FactoryError } from '../../dist/index.js'
import { CLIENTS, closeAfterEach, deferred } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()
const N = 1000

describe.each(CLIENTS)('single-flight over a real Redis L2 (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (namespace: string) =>
    track(createCache({ namespace, jitter: 0, l2: { redis: server().url, client } }))

  it('1,000 concurrent getOrSet on a cold key run the factory exactly once and all get its value', async () => {
    const namespace = uniqueNamespace('sf-ok')
    const cache = open(namespace)
    const started = deferred()
    const release = deferred<{ n: number }>()
    let calls = 0
    const factory = () => {
      calls++
      started.resolve()
      return release.promise
    }
    const results = Array.from({ length: N }, () => cache.getOrSet({ key: 'cold', factory }))
    await started.promise
    // Callers arriving while the factory runs join the same flight.
    const late = cache.getOrSet({ key: 'cold', factory })
    expect(cache.stats().inFlight).toBe(1)
    release.resolve({ n: 42 })
    const values = await Promise.all([...results, late])
    expect(calls).toBe(1)
    expect(values).toHaveLength(N + 1)
    for (const value of values) expect(value).toBe(values[0])
    expect(values[0]).toEqual({ n: 42 })
    expect(cache.stats().factoryCalls).toBe(1)
    expect(cache.stats().inFlight).toBe(0)
    // The one load was written through to Redis.
    expect(await server().command('EXISTS', `${namespace}:v1:cold`)).toBe(1)
  })

  it('a rejecting factory rejects all 1,000 callers with the same FactoryError, and the next call retries', async () => {
    const namespace = uniqueNamespace('sf-reject')
    const cache = open(namespace)
    const boom = new Error('source down')
    const release = deferred()
    let calls = 0
    const failing = async () => {
      calls++
      await release.promise
      throw boom
    }
    const settled = Array.from({ length: N }, () =>
      cache.getOrSet({ key: 'cold', factory: failing }).then(
        () => undefined,
        (error: unknown) => error,
      ),
    )
    release.resolve()
    const errors = await Promise.all(settled)
    expect(calls).toBe(1)
    const first = errors[0]
    expect(first).toBeInstanceOf(FactoryError)
    expect((first as FactoryError).code).toBe('E_FACTORY')
    expect((first as FactoryError).cause).toBe(boom)
    for (const error of errors) expect(error).toBe(first)
    expect(cache.stats().inFlight).toBe(0)
    expect(cache.stats().factoryErrors).toBe(1)
    expect(await server().command('EXISTS', `${namespace}:v1:cold`)).toBe(0)

    // Errors are not cached: the next call runs the factory again.
    let retried = 0
    const value = await cache.getOrSet({
      key: 'cold',
      factory: () => {
        retried++
        return 'recovered'
      },
    })
    expect(retried).toBe(1)
    expect(value).toBe('recovered')
    expect(cache.stats().inFlight).toBe(0)
  })

  it('a factory that throws synchronously rejects all 1,000 callers with the same FactoryError, and the next call retries', async () => {
    const cache = open(uniqueNamespace('sf-throw'))
    const boom = new TypeError('sync boom')
    let calls = 0
    const throwing = (): string => {
      calls++
      throw boom
    }
    const errors = await Promise.all(
      Array.from({ length: N }, () =>
        cache.getOrSet({ key: 'cold', factory: throwing }).then(
          () => undefined,
          (error: unknown) => error,
        ),
      ),
    )
    expect(calls).toBe(1)
    const first = errors[0] as FactoryError
    expect(first).toBeInstanceOf(FactoryError)
    expect(first.code).toBe('E_FACTORY')
    expect(first.cause).toBe(boom)
    for (const error of errors) expect(error).toBe(first)
    expect(cache.stats().inFlight).toBe(0)

    const value = await cache.getOrSet({ key: 'cold', factory: () => 'second try' })
    expect(value).toBe('second try')
    expect(calls).toBe(1)
    expect(cache.stats().factoryCalls).toBe(2)
    expect(cache.stats().inFlight).toBe(0)
  })
})
