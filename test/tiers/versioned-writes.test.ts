/**
 * The fence every L2 write goes through (issue 18: late writes), as a table: what the key holds,
 * the write's version and kind, whether it is stored. Run against the Redis script (SET_LOADED on
 * a real redis-server; WRITE_BATCH's `l`/`v` share its Lua) and the in-memory tier, which must
 * agree.
 */
import { describe, expect, it } from 'vitest'
import { holdsNewer, TOMBSTONE_PREFIX } from '../../dist/invalidation/store.js'
import { encodeEnvelope } from '../../dist/serialization/envelope.js'
import { MemoryRemoteTier } from '../../dist/tiers/memory/memory-remote-tier.js'
import { Packer } from '../../dist/tiers/redis/pack.js'
import { SET_LOADED, WRITE_ALONE, WRITE_BATCH } from '../../dist/tiers/redis/scripts.js'
import { useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

/** WRITE_BATCH's ARGV[2]: `fields`, packed as the write queue packs them. */
function packed(fields: readonly string[]): Buffer {
  const packer = new Packer()
  for (const field of fields) packer.add(field)
  return packer.finish()
}

const entry = (createdAt: number) =>
  encodeEnvelope({ createdAt, expiresAt: Number.POSITIVE_INFINITY, tags: [], payload: Buffer.from('x') })
const tombstone = (at: number) => Buffer.from(`${TOMBSTONE_PREFIX}${at}`, 'latin1')
/** An encrypted entry's first bytes (magic 0xE5): nothing the script can date. */
const sealed = Buffer.from([0xe5, 1, 2, 0x61, 0x62, 0, 0, 0, 0, 0, 0, 0, 0, 0])

type Kind = 'load' | 'set'
const CASES: [string, Buffer | undefined, number, Kind, boolean][] = [
  ['nothing', undefined, 5, 'set', true],
  ['a value created later', entry(10.5), 10.25, 'set', false],
  ['a value created at the same time', entry(10.5), 10.5, 'set', true],
  ['a value created earlier', entry(10.5), 11, 'set', true],
  ['a value created later (loaded value)', entry(10.5), 10.25, 'load', false],
  ['a tombstone made at the same time (set)', tombstone(10.5), 10.5, 'set', true],
  ['a tombstone made at the same time (loaded value)', tombstone(10.5), 10.5, 'load', false],
  ['a tombstone made later (a later delete)', tombstone(10.5), 10.25, 'set', false],
  ['a tombstone made earlier', tombstone(10.5), 11, 'load', true],
  ['an encrypted entry', sealed, 0, 'set', true],
  // Further ahead than any clock is off (a day): forged, and replaced — else it refused every write.
  ['a value dated Infinity (planted)', entry(Number.POSITIVE_INFINITY), 10, 'set', true],
  ['a value dated a day ahead of the write (planted)', entry(10 + 86_400_000), 10, 'load', true],
  ['a value dated just under a day ahead', entry(10 + 86_399_000), 10, 'set', false],
  ['a tombstone dated 1e300 (planted)', tombstone(1e300), 10, 'set', true],
  ['a tombstone dated just under a day ahead', tombstone(10 + 86_399_000), 10, 'load', false],
]

describe('versioned writes: a write is refused when the key holds something newer', () => {
  for (const [held, bytes, since, kind, stored] of CASES) {
    it(`over ${held}, a ${kind} made at ${since} is ${stored ? 'stored' : 'refused'} (Redis and memory agree)`, async () => {
      const key = `fence:${Math.random()}`
      if (bytes !== undefined) await server().command('SET', key, bytes)
      const reply = await server().command(
        'EVAL',
        SET_LOADED.lua,
        1,
        key,
        'new',
        '',
        String(since),
        kind === 'load' ? 'l' : 'v',
      )
      expect(reply).toBe(stored ? 1 : 0)
      const now = await server().commandBuffer('GET', key)
      expect(now === null ? null : Buffer.from(now as Buffer)).toEqual(
        stored ? Buffer.from('new') : (bytes ?? null),
      )

      const memory = new MemoryRemoteTier()
      if (bytes !== undefined) await memory.set(key, bytes, Number.POSITIVE_INFINITY)
      expect(
        await memory.invalidation!.setLoaded(key, Buffer.from('new'), Number.POSITIVE_INFINITY, since, kind),
      ).toBe(stored)
      expect(bytes === undefined ? false : holdsNewer(bytes, since, kind === 'load')).toBe(!stored)
    })
  }

  it('a batch publishes a change unless every write it announces was refused', async () => {
    const key = `fence:${Math.random()}`
    await server().command('SET', key, entry(10))
    await server().command('CONFIG', 'RESETSTAT')
    // [refused write, publish] [stored write, refused write, publish] [publish alone]
    const reply = await server().command(
      'EVAL',
      WRITE_BATCH.lua,
      3,
      key,
      `${key}:other`,
      key,
      'vpvvpp',
      packed(['old', '', '9', 'ch', 'm1', 'x', '', '1', 'old', '', '9', 'ch', 'm2', 'ch', 'm3']),
    )
    // PUBLISH answers the number of receivers (0 here: nobody listens); a skipped one answers 0
    // too, so the skip is seen in the server's count of PUBLISH calls.
    expect(reply).toEqual([0, 0, 1, 0, 0, 0])
    const stats = String(await server().command('INFO', 'commandstats'))
    expect(stats).toMatch(/cmdstat_publish:calls=2,/)
  })

  it("a batch's `w` is its `v` and then the bump of the key's dependency marker, if that exists", async () => {
    const key = `fence:${Math.random()}`
    const marker = `${key}:marker`
    const missing = `${key}:missing`
    const broken = `${key}:broken`
    await server().command('SET', key, entry(10))
    await server().command('SET', marker, '5.000,7.000', 'PX', '60000')
    await server().command('RPUSH', broken, 'x')
    const reply = await server().command(
      'EVAL',
      WRITE_BATCH.lua,
      6,
      key,
      marker,
      `${key}:2`,
      missing,
      `${key}:3`,
      broken,
      'www',
      packed([...['old', '', '9', '12.5'], ...['new', '', '11', '12.5'], ...['also', '', '11', '12.5']]),
    )
    // Refused (the key holds a later value) and still bumped; stored, its marker absent (not
    // created); stored, its marker refused by Redis: the write stands, the bump's error follows 'B1'.
    expect(reply).toHaveLength(3)
    expect((reply as unknown[]).slice(0, 2)).toEqual([0, 1])
    expect(String((reply as unknown[])[2])).toMatch(/^B1.*WRONGTYPE/)
    expect(String(await server().command('GET', marker))).toBe('12.500,7.000')
    expect(Number(await server().command('PTTL', marker))).toBeGreaterThan(0)
    expect(await server().command('EXISTS', missing)).toBe(0)
    expect(String(await server().command('GET', `${key}:3`))).toBe('also')
  })

  it("a `w` whose write Redis refuses still bumps the marker, and answers the write's error", async () => {
    const key = `fence:${Math.random()}`
    const marker = `${key}:marker`
    await server().command('RPUSH', key, 'not a string')
    await server().command('SET', marker, '5.000,7.000', 'PX', '60000')
    const reply = await server().command(
      'EVAL',
      WRITE_BATCH.lua,
      2,
      key,
      marker,
      'w',
      packed(['new', '', '9', '12.5']),
    )
    expect(String((reply as unknown[])[0])).toMatch(/^E.*WRONGTYPE/)
    expect(String(await server().command('GET', marker))).toBe('12.500,7.000')
  })

  it("WRITE_ALONE answers and changes what WRITE_BATCH's `w` and `wp` do, over every kind of key and marker", async () => {
    /** What a key may hold before the write: nothing, a value, a tombstone, sealed bytes, a list. */
    const keyStates: [string, Buffer | 'list' | undefined][] = [
      ['nothing', undefined],
      ['a later value', entry(10.5)],
      ['an earlier value', entry(9)],
      ['a later tombstone', tombstone(10.5)],
      ['sealed bytes', sealed],
      ['a list', 'list'],
    ]
    const markerStates: [string, string | 'list' | undefined][] = [
      ['no marker', undefined],
      ['an older marker', '5.000,7.000'],
      ['a newer marker', '99.000,7.000'],
      ['a malformed marker', 'garbage'],
      ['a list marker', 'list'],
    ]
    const prepare = async (key: string, value: Buffer | string | 'list' | undefined, ttl: boolean) => {
      if (value === 'list') await server().command('RPUSH', key, 'x')
      else if (value !== undefined) await server().command('SET', key, value, ...(ttl ? ['PX', '60000'] : []))
    }
    const state = async (key: string) => {
      const type = String(await server().command('TYPE', key))
      const bytes = type === 'string' ? await server().commandBuffer('GET', key) : null
      const ttl = Number(await server().command('PTTL', key))
      return {
        type,
        bytes: bytes === null ? null : Buffer.from(bytes as Buffer).toString('latin1'),
        ttl: ttl > 0,
      }
    }
    let compared = 0
    for (const [keyName, keyValue] of keyStates) {
      for (const [markerName, markerValue] of markerStates) {
        for (const publish of [false, true]) {
          const outcome = async (alone: boolean) => {
            const key = `parity:${Math.random()}`
            const marker = `${key}:marker`
            await prepare(key, keyValue, false)
            await prepare(marker, markerValue, true)
            const fields = ['new', '60000', '10.25', '12.5']
            const message = ['parity-channel', 'a message']
            const reply = alone
              ? await server().command(
                  'EVAL',
                  WRITE_ALONE.lua,
                  2,
                  key,
                  marker,
                  ...fields,
                  ...(publish ? message : []),
                )
              : await server().command(
                  'EVAL',
                  WRITE_BATCH.lua,
                  2,
                  key,
                  marker,
                  publish ? 'wp' : 'w',
                  packed([...fields, ...(publish ? message : [])]),
                )
            const stats = String(await server().command('INFO', 'commandstats'))
            const published = Number(/cmdstat_publish:calls=(\d+)/.exec(stats)?.[1] ?? 0)
            return {
              // An error's text: the same, but for the position Lua prefixes when WRITE_BATCH re-raises it.
              reply: (reply as unknown[]).map((r) => String(r).replace(/^E(user_script:\d+: )?/, 'E')),
              key: await state(key),
              marker: await state(marker),
              published,
            }
          }
          await server().command('CONFIG', 'RESETSTAT')
          const batch = await outcome(false)
          await server().command('CONFIG', 'RESETSTAT')
          const alone = await outcome(true)
          expect(alone, `${keyName}, ${markerName}, ${publish ? 'with' : 'without'} a message`).toEqual(batch)
          compared++
        }
      }
    }
    expect(compared).toBe(60)
  })
})
