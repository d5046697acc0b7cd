import { describe, expect, it } from 'vitest'
import { SingleFlight } from '../../dist/coordination/single-flight.js'
import { deferred } from '../helpers/deferred.js'

describe('SingleFlight', () => {
  it('suppresses duplicate loads of one key', async () => {
    const flights = new SingleFlight<number>()
    const gate = deferred<number>()
    let calls = 0
    const load = () => {
      calls++
      return gate.promise
    }
    const a = flights.do('k', load)
    const b = flights.do('k', load)
    gate.resolve(1)
    expect(await Promise.all([a, b])).toEqual([1, 1])
    expect(calls).toBe(1)
    expect(flights.size).toBe(0)
  })

  it('does not cache a rejection: the next call loads again', async () => {
    const flights = new SingleFlight<number>()
    await expect(flights.do('k', () => Promise.reject(new Error('x')))).rejects.toThrow('x')
    expect(await flights.do('k', async () => 2)).toBe(2)
  })

  it('never lets an older flight remove a newer one for the same key', async () => {
    const flights = new SingleFlight<number>()
    const old = deferred<number>()
    const first = flights.do('k', () => old.promise)
    flights.forget('k')
    const fresh = deferred<number>()
    const second = flights.do('k', () => fresh.promise)
    old.resolve(1)
    await first
    expect(flights.get('k')).toBe(second)
    fresh.resolve(2)
    expect(await second).toBe(2)
  })

  it('a load that throws synchronously rejects the returned promise (it does not throw), and the next call loads again', async () => {
    const flights = new SingleFlight<number>()
    let calls = 0
    const load = (): Promise<number> => {
      calls++
      throw new Error('sync')
    }
    let returned: Promise<number> | undefined
    expect(() => {
      returned = flights.do('k', load)
    }).not.toThrow()
    await expect(returned).rejects.toThrow('sync')
    expect(flights.size).toBe(0)
    expect(await flights.do('k', async () => 2)).toBe(2)
    expect(calls).toBe(1)
  })
})
