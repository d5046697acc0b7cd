import { describe, expect, it } from 'vitest'
import { MemoryRemoteTier } from '../../dist/tiers/memory/memory-remote-tier.js'
import { manualClock } from '../helpers/clock.js'

function tier() {
  const clock = manualClock()
  const remote = new MemoryRemoteTier({ clock })
  return { clock, remote, locks: remote.locks! }
}

describe('MemoryRemoteTier ping', () => {
  it('answers and counts one round trip', async () => {
    const { remote } = tier()
    await remote.ping()
    expect(remote.roundTrips).toBe(1)
  })
})

describe('MemoryRemoteTier locks', () => {
  it('acquire takes a free lock once: a second acquire, with any token, gets false while it is held', async () => {
    const { locks } = tier()
    expect(await locks.acquire('lock:k', 'a', 1000)).toBe(true)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(false)
    expect(await locks.acquire('lock:k', 'a', 1000)).toBe(false)
    expect(await locks.acquire('lock:other', 'b', 1000)).toBe(true)
  })

  it('a lock expires once ttlMs have passed since it was taken (as in Redis, it lives through its last millisecond), by the tier clock, and can then be taken by someone else', async () => {
    const { clock, locks } = tier()
    await locks.acquire('lock:k', 'a', 1000)
    clock.advance(1000)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(false)
    clock.advance(1)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(true)
    expect(await locks.release('lock:k', 'a')).toBe(false)
  })

  it('extend by the holder pushes the expiry to ttlMs from now', async () => {
    const { clock, locks } = tier()
    await locks.acquire('lock:k', 'a', 1000)
    clock.advance(900)
    expect(await locks.extend('lock:k', 'a', 1000)).toBe(true)
    clock.advance(1000)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(false)
    clock.advance(1)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(true)
  })

  it('extend with a wrong token, or after expiry, returns false and changes nothing', async () => {
    const { clock, locks } = tier()
    await locks.acquire('lock:k', 'a', 1000)
    expect(await locks.extend('lock:k', 'b', 60_000)).toBe(false)
    clock.advance(1001)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(true)
    expect(await locks.extend('lock:k', 'a', 60_000)).toBe(false)
    expect(await locks.extend('lock:absent', 'a', 1000)).toBe(false)
  })

  it('release by a wrong token does nothing; release by the holder frees the lock at once', async () => {
    const { locks } = tier()
    await locks.acquire('lock:k', 'a', 60_000)
    expect(await locks.release('lock:k', 'b')).toBe(false)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(false)
    expect(await locks.release('lock:k', 'a')).toBe(true)
    expect(await locks.release('lock:k', 'a')).toBe(false)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(true)
  })

  it('a token that is a prefix of the holder’s does not match it', async () => {
    const { locks } = tier()
    await locks.acquire('lock:k', 'abc', 60_000)
    expect(await locks.release('lock:k', 'ab')).toBe(false)
    expect(await locks.extend('lock:k', 'abcd', 1000)).toBe(false)
  })

  it('counts one round trip per lock call', async () => {
    const { remote, locks } = tier()
    await locks.acquire('lock:k', 'a', 1000)
    await locks.extend('lock:k', 'a', 1000)
    await locks.release('lock:k', 'a')
    expect(remote.roundTrips).toBe(3)
  })

  it('locks live in the keyspace as in Redis: the key holds the token and a prefix delete releases it', async () => {
    const { remote, locks } = tier()
    await locks.acquire('ns:lock:k', 'tok', 60_000)
    expect(remote.keys()).toEqual(['ns:lock:k'])
    expect(new TextDecoder().decode(await remote.get('ns:lock:k'))).toBe('tok')
    expect(await remote.deleteByPrefix('ns:')).toBe(1)
    expect(await locks.acquire('ns:lock:k', 'other', 1000)).toBe(true)
  })

  it('with { locks: false } the tier has no locks, like a Redis adapter without the lock commands', () => {
    const remote = new MemoryRemoteTier({ locks: false })
    expect(remote.locks).toBeUndefined()
    expect('locks' in remote).toBe(false)
  })
})

describe('MemoryRemoteTier deleteByPrefix', () => {
  it('counts only the live keys it deletes, as Redis does (SCAN skips expired keys, DEL counts 0 for them)', async () => {
    const { clock, remote } = tier()
    const bytes = new Uint8Array([1])
    await remote.set('p:expired', bytes, 10)
    await remote.set('p:live', bytes, 100)
    await remote.set('p:forever', bytes, Number.POSITIVE_INFINITY)
    await remote.set('q:live', bytes, 100)
    clock.advance(11)
    expect(await remote.deleteByPrefix('p:')).toBe(2)
    expect(remote.keys()).toEqual(['q:live'])
    await remote.set('p:a1', bytes, 5)
    await remote.set('p:a2', bytes, 50)
    await remote.set('p:b1', bytes, 50)
    clock.advance(6)
    expect(await remote.deleteByPrefix('p:', 'a*')).toBe(1)
    expect(remote.keys().sort()).toEqual(['p:b1', 'q:live'])
  })
})

describe('MemoryRemoteTier expiry, as Redis keeps a key set with PX', () => {
  const bytes = new Uint8Array([1])

  it('keeps a key through its expiry millisecond and drops it once that has passed (Redis: now > when)', async () => {
    const { clock, remote } = tier()
    await remote.set('k', bytes, 100)
    await remote.setMany([{ key: 'm', value: bytes, ttlMs: 100 }])
    clock.advance(100)
    expect(await remote.get('k')).toEqual(bytes)
    expect(await remote.getMany(['k', 'm'])).toEqual([bytes, bytes])
    expect(remote.keys().sort()).toEqual(['k', 'm'])
    clock.advance(1)
    expect(await remote.get('k')).toBeUndefined()
    expect(await remote.getMany(['k', 'm'])).toEqual([undefined, undefined])
    expect(remote.keys()).toEqual([])
  })

  it('stores a TTL of 0 (or less) as the Redis tier sends it, PX 1: readable now, gone after one millisecond', async () => {
    const { clock, remote } = tier()
    await remote.set('zero', bytes, 0)
    await remote.set('negative', bytes, -5)
    expect(await remote.getMany(['zero', 'negative'])).toEqual([bytes, bytes])
    clock.advance(1)
    expect(await remote.getMany(['zero', 'negative'])).toEqual([bytes, bytes])
    clock.advance(1)
    expect(await remote.getMany(['zero', 'negative'])).toEqual([undefined, undefined])
  })

  it('rounds a fractional TTL up to whole milliseconds, as the PX the Redis tier sends', async () => {
    const { clock, remote } = tier()
    await remote.set('k', bytes, 1.2)
    clock.advance(2)
    expect(await remote.get('k')).toEqual(bytes)
    clock.advance(1)
    expect(await remote.get('k')).toBeUndefined()
  })

  it('rounds lock and marker TTLs the same way', async () => {
    const { clock, remote, locks } = tier()
    expect(await locks.acquire('lock:k', 'a', 0.5)).toBe(true)
    await remote.invalidation.touchMarkers(['tag:t'], 0, 7)
    clock.advance(1)
    expect(await locks.acquire('lock:k', 'b', 1000)).toBe(false)
    expect(remote.keys().sort()).toEqual(['lock:k', 'tag:t'])
    // A touch of 1.5 ms makes the marker live until 2 ms from now, past its current expiry.
    await remote.invalidation.touchMarkers(['tag:t'], 1.5, 7)
    clock.advance(2)
    expect(remote.keys()).toEqual(['tag:t'])
    clock.advance(1)
    expect(remote.keys()).toEqual([])
  })
})
