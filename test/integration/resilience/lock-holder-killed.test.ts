/**
 * F5: the process holding a key's distributed lock dies (SIGKILL) in the middle of its factory.
 * Its lock is no longer renewed, expires within one lock TTL, and another process computes the
 * value; nobody waits on a dead holder for longer than that.
 */
import { describe, expect, it } from 'vitest'
import { CLIENTS, pollUntil } from '../../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { recordProcessFaults, useCacheWorkers } from '../../helpers/worker-pool.js'

const faults = recordProcessFaults()
const server = useRedisServer()
const LOCK_TTL_MS = 1000
/** The victim's factory: far longer than the test, so it is always killed mid-factory. */
const VICTIM_FACTORY_MS = 60_000
const FACTORY_MS = 200
/** The victim is killed this long after its factory started: longer than one lock TTL, so the lock must have been renewed. */
const KILL_AFTER_MS = 1500
/** Longest pause between two looks at the lock while another process holds it (LOCK_POLL_MAX_MS in src/core/cache.ts). */
const POLL_MAX_MS = 100
/** Scheduling slack: two CI cores running Redis, three workers and the test process. */
const MARGIN_MS = 300
const CALLERS = 50

const now = () => performance.timeOrigin + performance.now()

describe.each(CLIENTS)('lock holder SIGKILLed mid-factory (client %s)', (client) => {
  const startWorker = useCacheWorkers()

  it('another process computes the value once the dead holder’s lock expires; no caller waits longer than lock TTL + factory time after the kill', async () => {
    const namespace = uniqueNamespace('lock-killed')
    const lockKey = `!lock:${namespace}:v1:held`
    const [victim, waiting, late] = await Promise.all([startWorker(), startWorker(), startWorker()])
    for (const w of [victim, waiting, late]) {
      await w.open({
        namespace,
        jitter: 0,
        l2: { redis: server().url, client, timeout: '500ms' },
        lock: { ttl: `${LOCK_TTL_MS}ms` },
      })
      await w.warm()
    }

    // The victim takes the lock and starts a factory that will never finish.
    await victim.arm(['held'], VICTIM_FACTORY_MS)
    const victimRun = victim.go()
    victimRun.catch(() => {})
    const victimStarted = await victim.next('factory-started')

    // A second process asks for the key while the victim holds its lock: it waits.
    await waiting.arm(
      Array.from({ length: CALLERS }, () => 'held'),
      FACTORY_MS,
    )
    const waitingRun = waiting.go()

    // The scenario: the holder dies 1.5 lock TTLs into its factory.
    const killAt = victimStarted.at + KILL_AFTER_MS
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, killAt - now())))
    const pttl = Number(await server().command('PTTL', lockKey))
    // Still held past its first TTL: the victim was renewing it, and nobody else computed meanwhile.
    expect(pttl).toBeGreaterThan(0)
    expect(waiting.events.filter((e) => e.event === 'factory-started')).toEqual([])
    const killedAt = now()
    const exit = await victim.kill('SIGKILL')
    expect(exit.signal).toBe('SIGKILL')
    await expect(victimRun).rejects.toThrow(/exited/)

    // A third process arrives just after the kill, while the dead holder's lock still exists.
    await late.arm(
      Array.from({ length: CALLERS }, () => 'held'),
      FACTORY_MS,
    )
    const lateRun = late.go()
    const [waited, arrivedLate] = await Promise.all([waitingRun, lateRun])

    // Exactly one survivor ran the factory, and only after the kill.
    expect(waited.factoryCalls + arrivedLate.factoryCalls).toBe(1)
    const computer = waited.factoryCalls === 1 ? waiting : late
    const computed = await computer.next('factory-started')
    expect(computed.at).toBeGreaterThanOrEqual(killedAt)
    // Its factory started once the lock had expired: at most one lock TTL (plus a poll) after the kill.
    expect(computed.at - killedAt).toBeLessThan(pttl + POLL_MAX_MS + MARGIN_MS)

    // Every caller got that value.
    expect([...waited.errors, ...arrivedLate.errors]).toEqual([])
    expect(waited.answered + arrivedLate.answered).toBe(2 * CALLERS)
    const values = new Set([...(waited.values.held ?? []), ...(arrivedLate.values.held ?? [])])
    expect([...values]).toHaveLength(1)
    expect(JSON.parse([...values][0] as string)).toMatchObject({ key: 'held', pid: computer.pid })

    // The bound: lock TTL + factory time, plus a poll interval and the stated margin.
    const bound = LOCK_TTL_MS + FACTORY_MS + POLL_MAX_MS + MARGIN_MS
    const afterKill = Math.max(waited.lastEnd, arrivedLate.lastEnd) - killedAt
    expect(afterKill).toBeLessThan(bound)
    expect(arrivedLate.maxMs).toBeLessThan(bound)
    console.log(
      `[lock holder killed, ${client}] lock PTTL at the kill ${pttl} ms; survivor factory started ${(computed.at - killedAt).toFixed(0)} ms after the kill; ` +
        `last caller answered ${afterKill.toFixed(0)} ms after the kill (bound ${bound}); longest wait of a caller arriving after the kill ${arrivedLate.maxMs.toFixed(0)} ms; ` +
        `longest wait of a caller that arrived before the kill ${waited.maxMs.toFixed(0)} ms (of which ${(killedAt - waited.startedAt).toFixed(0)} ms while the holder was alive)`,
    )

    // The survivor released its lock when it was done.
    expect(await pollUntil(async () => (await server().command('EXISTS', lockKey)) === 0, 2000)).toBe(true)
    const workerFaults = await Promise.all([waiting.close(), late.close()])
    expect(workerFaults.flat()).toEqual([])
    expect(victim.faults).toEqual([])
    expect(faults()).toEqual([])
  })
})
