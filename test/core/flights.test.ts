import { describe, expect, it } from 'vitest'
import { Flights, type Loaded } from '../../src/core/flights.js'
import { deferred } from '../helpers/deferred.js'

describe('Flights.track', () => {
  it('turns a load that throws synchronously into a rejected flight and leaves no token behind', async () => {
    const flights = new Flights(() => 1)
    const boom = new Error('boom')
    let flight: Promise<Loaded> | undefined
    expect(() => {
      flight = flights.track('k', () => {
        throw boom
      })
    }).not.toThrow()
    await expect(flight).rejects.toBe(boom)
    expect(flights.tokenOf('k')).toBeUndefined()
    expect(flights.has('k')).toBe(false)
    expect(flights.size).toBe(0)
  })

  it('starts a fresh load for the key after one threw synchronously, and tracks it', async () => {
    const flights = new Flights(() => 1)
    await flights
      .track('k', () => {
        throw new Error('boom')
      })
      .catch(() => undefined)
    const gate = deferred<Loaded>()
    let calls = 0
    const second = flights.track('k', () => {
      calls++
      return gate.promise
    })
    expect(flights.get('k')).toBe(second)
    const token = flights.tokenOf('k')
    expect(token?.overtaken).toBe(false)
    gate.resolve({ value: 2, tier: 'origin' })
    expect(await second).toEqual({ value: 2, tier: 'origin' })
    expect(calls).toBe(1)
    expect(flights.tokenOf('k')).toBeUndefined()
    expect(flights.size).toBe(0)
  })

  it('leaves no token for the key once a load that threw synchronously has failed', async () => {
    const flights = new Flights(() => 1)
    const boom = new Error('boom')
    // Whether the failure surfaces as a throw or a rejection, the key's token must be gone.
    await new Promise<Loaded>((resolve) =>
      resolve(
        flights.track('k', () => {
          throw boom
        }),
      ),
    ).catch(() => undefined)
    expect(flights.tokenOf('k')).toBeUndefined()
  })
})
