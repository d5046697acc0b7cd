/**
 * Issue 17: the writes of one tick share a round trip (on one Redis, pipelined script calls of up
 * to 16 writes each, the bus message inside the last). Per-key order survives the batching; a batch Redis fails in the
 * middle rejects or suppresses exactly the writes it should, under each `l2.writeErrors`.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache, type StrataError } from '../../dist/index.js'
import { CLIENTS, closeAfterEach, pollUntil } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'
import { recordProcessFaults } from '../helpers/worker-pool.js'

const faults = recordProcessFaults()
const server = useRedisServer()

/** Waits until `b` has heard every message `a` published since the counts were taken. */
async function heard(a: Cache, b: Cache, since: { a: number; b: number }): Promise<void> {
  const ok = await pollUntil(
    () => b.stats().busMessages - since.b >= a.stats().busPublished - since.a,
    10_000,
  )
  expect(ok, 'the other instance heard every message').toBe(true)
}

type Op = { kind: 'set'; key: string; value: number } | { kind: 'delete'; key: string }

describe.each(CLIENTS)('write batching on a real Redis (client %s)', (client) => {
  const track = closeAfterEach()
  const open = (namespace: string, extra: Partial<CacheOptions> = {}) =>
    track(createCache({ namespace, jitter: 0, l2: { redis: server().url, client }, ...extra }))

  it('property: random interleavings of set and delete from many callers end with the last-issued change in the L1, the L2 and another instance', async () => {
    const keys = ['a', 'b', 'c']
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.constantFrom(...keys), value: fc.nat(1000) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.constantFrom(...keys) }),
    )
    // Each caller: its changes, and after each whether it awaits it (else it goes on in the same tick).
    const caller = fc.array(fc.tuple(op, fc.boolean()), { minLength: 1, maxLength: 8 })
    await fc.assert(
      fc.asyncProperty(fc.array(caller, { minLength: 2, maxLength: 12 }), async (callers) => {
        const namespace = uniqueNamespace('order')
        const a = open(namespace)
        const b = open(namespace)
        await Promise.all([a.ready(), b.ready()])
        // B holds every key in its L1 before the run: it must drop (or replace) each copy.
        await Promise.all(keys.map((k) => a.set(k, -1)))
        for (const k of keys) expect(await b.get(k)).toBe(-1)
        const since = { a: a.stats().busPublished, b: b.stats().busMessages }
        const last = new Map<string, number | undefined>(keys.map((k) => [k, -1]))
        const issue = (o: Op) => {
          // Issue order is call order: record the change as it is issued.
          last.set(o.key, o.kind === 'set' ? o.value : undefined)
          return o.kind === 'set' ? a.set(o.key, o.value) : a.delete(o.key)
        }
        await Promise.all(
          callers.map(async (changes, c) => {
            const pending: Promise<void>[] = []
            // Callers start in different ticks.
            for (let i = 0; i < c % 3; i++) await Promise.resolve()
            for (const [o, wait] of changes) {
              const done = issue(o)
              if (wait) await done
              else pending.push(done)
            }
            await Promise.all(pending)
          }),
        )
        await heard(a, b, since)
        const reader = open(namespace, { l1: false })
        for (const k of keys) {
          const expected = last.get(k)
          expect(a.peek(k), `A's L1, ${k}`).toBe(expected)
          expect(await reader.get(k), `the L2, ${k}`).toBe(expected)
          const inB = b.peek(k)
          if (inB !== undefined) expect(inB, `B's L1, ${k}`).toBe(expected)
          expect(await b.get(k), `B, ${k}`).toBe(expected)
        }
        await Promise.all([a.close(), b.close(), reader.close()])
      }),
      { numRuns: 25 },
    )
    expect(faults()).toEqual([])
  }, 120_000)

  it('the writes of one tick go out pipelined, 16 to a script call, with the bus message in the last', async () => {
    const namespace = uniqueNamespace('one-call')
    const a = open(namespace)
    await a.ready()
    const before = await commandCalls()
    // 50 sets in one tick: calls of 16, 16 and 16 leave as the tick goes on (Redis runs each while
    // the next is prepared), the last 2 with the tick's one bus message at its end.
    await Promise.all(Array.from({ length: 50 }, (_, i) => a.set(`k${i}`, i)))
    const after = await commandCalls()
    // EVAL the first time on a connection (the script sent whole), EVALSHA after.
    const calls = (c: Record<string, number>) => (c.evalsha ?? 0) + (c.eval ?? 0)
    expect(calls(after) - calls(before)).toBe(4)
    expect((after.publish ?? 0) - (before.publish ?? 0)).toBe(1)
    expect((after.set ?? 0) - (before.set ?? 0)).toBe(50)
    for (let i = 0; i < 50; i++) expect(a.peek(`k${i}`)).toBe(i)
    const reader = open(namespace, { l1: false })
    expect(await reader.get('k0')).toBe(0)
    expect(await reader.get('k49')).toBe(49)
  })

  it("a cold getOrSet's lock goes in the same socket write as its second read", async () => {
    const namespace = uniqueNamespace('together')
    const a = open(namespace)
    await a.ready()
    await a.getOrSet({ key: 'warm', factory: () => 0 })
    const keys = 20
    const before = await readEvents()
    for (let i = 0; i < keys; i++) await a.getOrSet({ key: `cold${i}`, factory: () => i })
    const reads = (await readEvents()) - before
    // Per key: GET; SET NX + GET (one write); the write's script; the release — 4 writes (one read
    // event each on the server, or fewer) instead of 5. +2: the INFO above, and the release of 'warm'.
    expect(reads).toBeLessThanOrEqual(4 * keys + 2)
    for (let i = 0; i < keys; i++) expect(await a.get(`cold${i}`)).toBe(i)
  })

  it("a set or delete bumps its key's dependency marker inside its own write: one script call, and what depended on the key is outdated for every instance", async () => {
    const namespace = uniqueNamespace('depends')
    const a = open(namespace)
    const reader = open(namespace, { l1: false })
    await a.ready()
    await a.set('user:1', { id: 1 })
    await a.set('page', 'made from user:1', { dependsOn: ['user:1'] })
    expect(await reader.get('page')).toBe('made from user:1')
    const before = await commandCalls()
    await a.set('user:1', { id: 1, name: 'changed' })
    const after = await commandCalls()
    // The value, the marker's bump and the bus message: one script call.
    expect((after.evalsha ?? 0) + (after.eval ?? 0) - (before.evalsha ?? 0) - (before.eval ?? 0)).toBe(1)
    expect(await reader.get('page')).toBeUndefined()
    await a.set('page', 'made again', { dependsOn: ['user:1'] })
    expect(await reader.get('page')).toBe('made again')
    await a.delete('user:1')
    expect(await reader.get('page')).toBeUndefined()
    expect(a.stats().l2Errors).toBe(0)
  })

  it("a dependency marker Redis refuses fails only its bump: the set and the delete resolve under writeErrors 'throw', the failure is counted", async () => {
    const namespace = uniqueNamespace('depends-broken')
    const a = open(namespace, { l2: { redis: server().url, client, writeErrors: 'throw' } })
    const reader = open(namespace, { l1: false })
    await a.ready()
    const failures: string[] = []
    a.on('l2-error', (event) => failures.push(event.operation))
    // The marker of "depends on k" is not a string: the bump's GET of it fails (WRONGTYPE).
    await server().command('RPUSH', `!tag:${namespace}:@key:k`, 'x')
    await a.set('k', 'v')
    expect(await reader.get('k')).toBe('v')
    await a.delete('k')
    expect(await reader.get('k')).toBeUndefined()
    expect(failures).toEqual(['dependency markers', 'dependency markers'])
    expect(a.stats().l2Errors).toBe(2)
    expect(faults()).toEqual([])
  })

  it.each(['throw', 'suppress'] as const)(
    "a write the server refuses in the middle of a batch fails alone (writeErrors '%s'); the others of the batch are applied",
    async (writeErrors) => {
      const namespace = uniqueNamespace(`refused-${writeErrors}`)
      const a = open(namespace, { l2: { redis: server().url, client, writeErrors } })
      await a.ready()
      // A tag marker that is not a string: the script's GET of it fails (WRONGTYPE).
      await server().command('RPUSH', `!tag:${namespace}:broken`, 'x')
      const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
      const results = await Promise.allSettled([
        ...keys.slice(0, 5).map((k) => a.set(k, k)),
        a.invalidateTags(['broken']),
        ...keys.slice(5).map((k) => a.set(k, k)),
      ])
      const invalidation = results[5] as PromiseSettledResult<void>
      const sets = results.filter((_, i) => i !== 5)
      for (const r of sets) expect(r.status).toBe('fulfilled')
      if (writeErrors === 'throw') {
        expect(invalidation.status).toBe('rejected')
        const error = (invalidation as PromiseRejectedResult).reason as StrataError
        expect(error.code).toBe('E_L2')
        expect(String((error.cause as Error | undefined)?.message)).toMatch(/WRONGTYPE/)
      } else {
        expect(invalidation.status).toBe('fulfilled')
        expect(a.stats().l2RepairsQueued).toBe(1)
      }
      const reader = open(namespace, { l1: false })
      for (const k of keys) expect(await reader.get(k)).toBe(k)
      expect(faults()).toEqual([])
    },
  )

  it.each(['throw', 'suppress'] as const)(
    "Redis dies while a batch is in flight (writeErrors '%s'): exactly that batch's writes reject or are queued for repair; the batch before stays written",
    async (writeErrors) => {
      const namespace = uniqueNamespace(`died-${writeErrors}`)
      const a = open(namespace, { l2: { redis: server().url, client, writeErrors, timeout: '2s' } })
      await a.ready()
      const first = Array.from({ length: 8 }, (_, i) => `first${i}`)
      await Promise.all(first.map((k) => a.set(k, k)))
      const repairsBefore = a.stats().l2RepairsQueued
      server().pause()
      const second = Array.from({ length: 8 }, (_, i) => `second${i}`)
      const inFlight = Promise.allSettled([...second.map((k) => a.set(k, k)), a.delete('first0')])
      // The batch is on the socket (sent on the next ticks); then the server dies under it.
      await new Promise((resolve) => setTimeout(resolve, 50))
      await server().kill()
      const results = await inFlight
      if (writeErrors === 'throw') {
        for (const r of results) {
          expect(r.status).toBe('rejected')
          expect(['E_L2', 'E_L2_TIMEOUT']).toContain(
            ((r as PromiseRejectedResult).reason as StrataError).code,
          )
        }
      } else {
        for (const r of results) expect(r.status).toBe('fulfilled')
        // The 8 sets' keys and the deleted key: each copy in the L2 is outdated, queued for deletion.
        expect(a.stats().l2RepairsQueued - repairsBefore).toBe(9)
      }
      // The L1 took every change regardless.
      for (const k of second) expect(a.peek(k)).toBe(k)
      expect(a.peek('first0')).toBeUndefined()
      for (const k of first.slice(1)) expect(a.peek(k)).toBe(k)
      await server().restart()
      expect(faults()).toEqual([])
    },
    30_000,
  )
})

async function commandCalls(): Promise<Record<string, number>> {
  const info = String(await server().command('INFO', 'commandstats'))
  const calls: Record<string, number> = {}
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (m) calls[m[1] as string] = Number(m[2])
  }
  return calls
}

/** Read events the server has processed (one per socket read of a client's commands). */
async function readEvents(): Promise<number> {
  const info = String(await server().command('INFO', 'stats'))
  return Number(/total_reads_processed:(\d+)/.exec(info)?.[1])
}
