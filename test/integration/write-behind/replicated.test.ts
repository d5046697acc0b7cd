/**
 * `durability: 'replicated'` on a real master + replica (redis-server, no persistence): an append
 * is acknowledged only once the replica has it (WAIT 1), a replica that does not answer makes
 * writes reject with E_WRITE_BEHIND_NOT_REPLICATED, and across a master SIGKILL + promotion of
 * the replica no acknowledged write is lost — checked in PostgreSQL after a flusher drained the
 * promoted replica's log. The same failover with the default durability counts what it loses.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { type Cache, createCache } from '../../../dist/index.js'
import { type RedisServer, startRedisServer, uniqueNamespace } from '../../helpers/redis-server.js'
import { flushInto, lastByKey, until, usePostgresSchema } from './harness.js'

const db = usePostgresSchema('repl')
const servers: RedisServer[] = []
const caches: Cache[] = []
afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close().catch(() => {})))
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

/** A master and a replica of it (no ACL: the replica logs in as `default`), once in sync. */
async function masterAndReplica(): Promise<{ master: RedisServer; replica: RedisServer }> {
  const master = await startRedisServer({ acl: false })
  const replica = await startRedisServer({ acl: false })
  servers.push(master, replica)
  // The replica loads the master's snapshot from the socket: no dump.rdb in its directory.
  await replica.command('CONFIG', 'SET', 'repl-diskless-load', 'on-empty-db')
  await replica.command('REPLICAOF', '127.0.0.1', String(master.port))
  await until(
    async () => String(await replica.command('INFO', 'replication')).includes('master_link_status:up'),
    10_000,
    'the replica to be in sync',
  )
  return { master, replica }
}

function open(url: string, namespace: string): Cache {
  const cache = createCache({ namespace, l2: { redis: url, timeout: 2000 }, lock: false })
  caches.push(cache)
  return cache
}

describe("write-behind durability: 'replicated'", () => {
  it('acknowledges a write once the replica has it, and rejects when no replica answers in time', async () => {
    const { master, replica } = await masterAndReplica()
    const namespace = uniqueNamespace('wbr')
    const wb = open(master.url, namespace).writeBehind<string>({
      name: 'r',
      durability: 'replicated',
      replicationTimeout: 300,
      flusher: false,
      flush: async () => {},
    })
    const receipts = await Promise.all(Array.from({ length: 50 }, (_, i) => wb.set(`k:${i}`, `v${i}`)))
    expect(receipts).toHaveLength(50)
    // Acknowledged means on the replica already: no waiting here.
    expect(Number(await replica.command('XLEN', `!wb:{${namespace}:r:0}:log`))).toBe(50)
    replica.pause()
    try {
      const error = await wb.set('k:late', 'x').catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'E_WRITE_BEHIND_NOT_REPLICATED', replicas: 0 })
    } finally {
      replica.resume()
    }
    await expect(wb.set('k:again', 'y')).resolves.toMatchObject({ seq: expect.any(Number) })
    await wb.close({ timeoutMs: 0 })
  })

  it.each([
    ['replicated', 0],
    ['redis', undefined],
  ] as const)(
    "durability '%s': a master SIGKILLed under 64 writers in flight, its replica promoted, the log drained into PostgreSQL",
    async (durability, expectedLoss) => {
      const { master, replica } = await masterAndReplica()
      const namespace = uniqueNamespace(`wbf${durability[0]}`)
      const writer = open(master.url, namespace).writeBehind<string>({
        name: 'f',
        durability,
        replicationTimeout: 1000,
        flusher: false,
        maxPending: Number.POSITIVE_INFINITY,
        flush: async () => {},
      })
      const acks: { key: string; seq: number; value: string }[] = []
      let issued = 0
      let failed = 0
      let killed: Promise<void> | undefined
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          for (;;) {
            const n = issued++
            const key = `${durability}:cart:${n % 300}`
            const value = `${durability}:${n}`
            try {
              const receipt = await writer.set(key, value)
              acks.push({ key, seq: receipt.seq, value })
            } catch {
              failed++
              return
            }
            // The kill lands while the others' appends are in flight.
            if (acks.length === 3000) killed ??= master.kill()
          }
        }),
      )
      await killed
      expect(failed).toBeGreaterThanOrEqual(64)
      await replica.command('REPLICAOF', 'NO', 'ONE')
      const flusher = open(replica.url, namespace).writeBehind<string>({
        name: 'f',
        maxBatch: 1000,
        maxDelay: 10,
        flush: flushInto(db.pool(), db.schema),
      })
      await until(async () => (await flusher.pending()) === 0, 60_000, 'the promoted log to drain')
      await flusher.close()
      const rows = await db.rows()
      const lost = [...lastByKey(acks).values()].filter((ack) => {
        const row = rows.get(ack.key)
        return row === undefined || row.seq < ack.seq
      })
      console.log(
        `[write-behind failover] durability '${durability}': ${acks.length} writes acknowledged before and during the master's SIGKILL, ` +
          `${failed} rejected; keys whose last acknowledged write is missing after the promotion: ${lost.length}`,
      )
      for (const ack of lastByKey(acks).values()) {
        const row = rows.get(ack.key)
        if (row !== undefined && row.seq === ack.seq) expect(row.value).toBe(ack.value)
      }
      if (expectedLoss !== undefined) expect(lost).toHaveLength(expectedLoss)
    },
    120_000,
  )
})
