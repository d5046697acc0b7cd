import { afterAll, describe, expect, it } from 'vitest'
import { main } from '../../../dist/cli/main.js'
import { type Cache, createCache } from '../../../dist/index.js'
import { uniqueNamespace, useRedisServer } from '../../helpers/redis-server.js'
import { type Ack, flushInto, lastByKey, until, usePostgresSchema } from './harness.js'

const redis = useRedisServer()
const db = usePostgresSchema('poison')
let cache: Cache | undefined
afterAll(async () => {
  await cache?.close()
})

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    stdout: {
      write: (chunk: string) => {
        stdout += chunk
        return true
      },
    },
    stderr: {
      write: (chunk: string) => {
        stderr += chunk
        return true
      },
    },
    env: {},
  })
  return { code, stdout, stderr }
}

const KEYS = Array.from({ length: 100 }, (_, i) => `item:${i}`)

describe('write-behind with a poison entry (PostgreSQL rejects it with a CHECK violation)', () => {
  it('dead-letters it after maxAttempts tries while the other keys keep flowing; the CLI lists and replays it', async () => {
    const pool = db.pool()
    await pool.query(
      `ALTER TABLE "${db.schema}".kv ADD CONSTRAINT no_poison CHECK (value IS NULL OR value NOT LIKE 'poison%')`,
    )
    const namespace = uniqueNamespace('wbpoison')
    cache = createCache({ namespace, l2: { redis: redis().url, timeout: 5000 } })
    const wb = cache.writeBehind<string>({
      name: 'items',
      flush: flushInto(pool, db.schema),
      maxAttempts: 3,
      maxBatch: 50,
      maxDelay: 10,
      retryBase: 20,
      retryMax: 200,
    })
    const flushedAt: number[] = []
    let firstPoisonFailure: number | undefined
    wb.on('flushed', () => flushedAt.push(Date.now()))
    wb.on('retry', () => {
      firstPoisonFailure ??= Date.now()
    })
    const deadLetter = new Promise<{ key: string; attempts: number }>((resolve) =>
      wb.on('dead-letter', resolve),
    )

    const acks: Ack[] = []
    let n = 0
    let stop = false
    const failures: unknown[] = []
    const writer = async () => {
      while (!stop && failures.length === 0) {
        const key = KEYS[n % KEYS.length] as string
        const value = `ok:${n++}`
        try {
          const receipt = await wb.set(key, value)
          acks.push({ key, seq: receipt.seq, value })
        } catch (error) {
          failures.push(error)
        }
      }
    }
    const writers = Array.from({ length: 4 }, writer)
    await until(() => acks.length >= 200 || failures.length > 0, 30_000, 'the first writes')
    expect(failures).toEqual([])
    const poison = await wb.set('item:poison', 'poison!')
    const letter = await deadLetter
    stop = true
    await Promise.all(writers)
    expect(failures).toEqual([])
    await wb.settled(20_000)

    expect(letter).toMatchObject({ key: 'item:poison', attempts: 3 })
    // Other keys were flushed between the poison's first failure and its dead-lettering.
    expect(
      flushedAt.filter((t) => t >= (firstPoisonFailure ?? Number.POSITIVE_INFINITY)).length,
    ).toBeGreaterThan(0)
    const rows = await db.rows()
    expect(rows.has('item:poison')).toBe(false)
    const wrong = [...lastByKey(acks)].filter(([key, ack]) => rows.get(key)?.value !== ack.value)
    expect(wrong).toEqual([])
    expect(await wb.pending()).toBe(0)

    const common = ['--redis', redis().url, '--namespace', namespace, '--name', 'items']
    const listed = await cli(['writebehind', 'dlq', 'list', ...common, '--json'])
    expect(listed.stderr).toBe('')
    expect(listed.code).toBe(0)
    const letters = JSON.parse(listed.stdout) as {
      key: string
      value: string
      seq: number
      id: string
      attempts: number
      error: string
    }[]
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({
      key: 'item:poison',
      value: '"poison!"',
      seq: poison.seq,
      id: poison.id,
      attempts: 3,
    })
    expect(letters[0]?.error).toContain('no_poison')
    const table = await cli(['writebehind', 'dlq', 'list', ...common])
    expect(table.stdout).toContain('item:poison')

    // The operator fixes the cause, then replays.
    await pool.query(`ALTER TABLE "${db.schema}".kv DROP CONSTRAINT no_poison`)
    expect(await cli(['writebehind', 'dlq', 'replay', ...common, '--json'])).toMatchObject({
      code: 0,
      stdout: '{"replayed":1}\n',
    })
    await until(
      async () => (await db.rows()).get('item:poison')?.value === 'poison!',
      20_000,
      'the replayed write',
    )
    expect((await db.rows()).get('item:poison')).toMatchObject({ seq: poison.seq, id: poison.id })
    expect(await cli(['writebehind', 'dlq', 'count', ...common])).toMatchObject({ code: 0, stdout: '0\n' })
    expect(await cli(['writebehind', 'dlq', 'frobnicate', ...common])).toMatchObject({ code: 2 })
  }, 60_000)
})
