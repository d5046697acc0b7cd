import { afterEach, describe, expect, it } from 'vitest'
import { createCache } from '../../../dist/index.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import {
  type Ack,
  flushInto,
  lastByKey,
  startWorker,
  until,
  usePostgresSchema,
  type Worker,
  type WriteSummary,
} from './harness.js'

const redis = useRedisServer()
const db = usePostgresSchema('kill')
const workers: Worker[] = []
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()))
})

const KEYS = Array.from({ length: 500 }, (_, i) => `session:${i}`)
const KILLS = 3

describe('write-behind when writer/flusher processes are SIGKILLed', () => {
  it('loses no acknowledged write: every key ends in PostgreSQL with its last acknowledged value (or a later one)', async () => {
    const namespace = uniqueNamespace('wbkill')
    const options = {
      partitions: 2,
      maxBatch: 200,
      maxDelay: 20,
      visibilityTimeout: 1000,
      maxPending: 1_000_000,
    }
    const acks: Ack[] = []
    const runs: Promise<unknown>[] = []
    let generation = 0
    const launch = async () => {
      const worker = await startWorker()
      workers.push(worker)
      await worker.call('open', {
        redisUrl: redis().url,
        namespace,
        name: 'sessions',
        schema: db.schema,
        pg: db.connection(),
        options,
      })
      const tag = `g${generation++}`
      // A killed worker's write() rejects: that is the point.
      runs.push(
        worker
          .call<WriteSummary>('write', { keys: KEYS, count: 2000, concurrency: 16, tag })
          .catch(() => undefined),
      )
      return worker
    }
    const live = new Set<Worker>()
    for (let i = 0; i < 3; i++) live.add(await launch())

    // Entries read but not acknowledged, per consumer (consumer names carry the process id).
    const pendingOf = async (pid: number) => {
      let n = 0
      for (let p = 0; p < options.partitions; p++) {
        const reply = (await redis()
          .command('XPENDING', `!wb:{${namespace}:sessions:${p}}:log`, 'flushers')
          .catch(() => [0, null, null, null])) as [
          number,
          string | null,
          string | null,
          [string, string][] | null,
        ]
        for (const [consumer, count] of reply[3] ?? []) if (consumer.includes(`-${pid}-`)) n += Number(count)
      }
      return n
    }
    let killedHolding = 0
    for (let kill = 0; kill < KILLS; kill++) {
      // Let writes and flushes run, then kill a process while it holds entries it read and has not
      // acknowledged (mid-flush), and start a replacement.
      const before = [...live].reduce((n, w) => n + w.acks.length, 0)
      await until(
        () => [...live].reduce((n, w) => n + w.acks.length, 0) >= before + 500,
        30_000,
        'writes to progress',
      )
      let victim: Worker | undefined
      await until(
        async () => {
          for (const w of live) {
            if ((await pendingOf(w.pid)) > 0) {
              victim = w
              return true
            }
          }
          return false
        },
        30_000,
        'a process holding unacknowledged entries',
      )
      const dead = victim as Worker
      await dead.kill()
      live.delete(dead)
      acks.push(...dead.acks)
      if ((await pendingOf(dead.pid)) > 0) {
        killedHolding++
        // Another process takes the partition once the lease expires and claims those entries.
        await until(
          async () => (await pendingOf(dead.pid)) === 0,
          30_000,
          'the dead process entries to be reclaimed',
        )
      }
      live.add(await launch())
    }
    expect(killedHolding).toBeGreaterThan(0)

    await Promise.all(runs)
    const reports = await Promise.all([...live].map((w) => w.call<{ drained: boolean }>('close')))
    for (const w of live) acks.push(...w.acks)
    expect(reports.every((r) => r.drained)).toBe(true)

    // Whatever the killed processes had appended but nobody flushed yet: a fresh flusher reclaims it.
    const pool = db.pool()
    const cache = createCache({ namespace, l2: { redis: redis().url, timeout: 5000 } })
    const wb = cache.writeBehind<string>({ name: 'sessions', ...options, flush: flushInto(pool, db.schema) })
    await until(async () => (await wb.pending()) === 0, 30_000, 'the log to drain')
    await cache.close()

    const expected = lastByKey(acks)
    expect(expected.size).toBe(KEYS.length)
    const rows = await db.rows()
    const lost: string[] = []
    for (const [key, ack] of expected) {
      const row = rows.get(key)
      // A later seq is a write the killed process made but could not report before it died.
      if (row === undefined || row.seq < ack.seq || (row.seq === ack.seq && row.value !== ack.value)) {
        lost.push(`${key}: acked seq ${ack.seq} ${ack.value}, database ${row?.seq} ${row?.value}`)
      }
    }
    expect(lost).toEqual([])
    console.log(
      `[write-behind] ${KILLS} SIGKILLs (${killedHolding} while holding unacknowledged entries, reclaimed by another process), ${acks.length} acknowledged writes reported over ${KEYS.length} keys: 0 lost`,
    )
  }, 120_000)
})
