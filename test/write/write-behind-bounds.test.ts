import { afterEach, describe, expect, it } from 'vitest'
import {
  createWriteBehind,
  InvalidOptionError,
  MemoryWriteLog,
  type WriteBehind,
  WriteBehindFullError,
  type WriteBehindOptions,
} from '../../src/index.js'
import { deferred } from '../helpers/deferred.js'

type Flush<T> = WriteBehindOptions<T>['flush']

const open: WriteBehind<unknown>[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((wb) => wb.close({ timeoutMs: 0 })))
})

function make<T>(log: MemoryWriteLog, flush: Flush<T>, options: Partial<WriteBehindOptions<T>> = {}) {
  const wb = createWriteBehind<T>(
    { log },
    { name: 'test', flush, maxDelay: 5, retryBase: 5, retryMax: 20, visibilityTimeout: 300, ...options },
  )
  open.push(wb as WriteBehind<unknown>)
  return wb
}

const down: Flush<unknown> = async () => {
  throw new Error('database down')
}

describe('write-behind bounds and bad input', () => {
  it('accepts duration options longer than a Node timer waits (as the cache does) and refuses negative, NaN, infinite ones', () => {
    const log = new MemoryWriteLog()
    const flush = async () => {}
    for (const name of [
      'flushTimeout',
      'visibilityTimeout',
      'retryBase',
      'retryMax',
      'maxDelay',
      'pollInterval',
      'closeTimeout',
    ] as const) {
      for (const long of [2 ** 31, 1e22]) {
        const options = { name: 'a', flush, flusher: false, closeTimeout: 0, [name]: long }
        if (name === 'retryBase') Object.assign(options, { retryMax: long })
        const wb = createWriteBehind({ log }, options)
        open.push(wb)
      }
      for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, '5s']) {
        expect(() => createWriteBehind({ log }, { name: 'a', flush, [name]: bad as never }), name).toThrow(
          expect.objectContaining({
            code: 'E_INVALID_OPTION',
            message: expect.stringMatching(new RegExp(`${name} must be a finite number of ms ≥ \\d+`)),
          }),
        )
      }
    }
  })

  it('caps the timers of durations longer than a Node timer waits: no renewal storm, no flush timed out at once', async () => {
    let renewals = 0
    class CountingLog extends MemoryWriteLog {
      override async renew(...args: Parameters<MemoryWriteLog['renew']>) {
        renewals++
        return super.renew(...args)
      }
    }
    const warnings: string[] = []
    const onWarning = (warning: Error) => warnings.push(warning.name)
    process.on('warning', onWarning)
    try {
      const flushed: string[] = []
      const wb = make<number>(
        new CountingLog(),
        async (batch) => {
          // Slower than the 1 ms an overflowing timer waits.
          await new Promise((resolve) => setTimeout(resolve, 30))
          flushed.push(...batch.map((op) => op.key))
        },
        // Renewed every visibilityTimeout / 3: 2^32 ms, past the longest timer.
        { visibilityTimeout: 3 * 2 ** 32, flushTimeout: 2 ** 40, retryBase: 2 ** 33, retryMax: 2 ** 34 },
      )
      const retried: unknown[] = []
      wb.on('retry', (event) => retried.push(event))
      await wb.set('a', 1)
      await wb.settled(5000)
      const before = renewals
      // A renewal timer that overflowed fires every millisecond.
      await new Promise((resolve) => setTimeout(resolve, 100))
      expect(renewals - before).toBe(0)
      expect(flushed).toEqual(['a'])
      expect(retried).toEqual([])
      expect(warnings).not.toContain('TimeoutOverflowWarning')
    } finally {
      process.off('warning', onWarning)
    }
  })

  it('an idle flusher with maxDelay 0 polls every 10 ms at most, not every millisecond', async () => {
    let reads = 0
    class CountingLog extends MemoryWriteLog {
      override async read(...args: Parameters<MemoryWriteLog['read']>) {
        reads++
        return super.read(...args)
      }
    }
    const wb = make<number>(new CountingLog(), async () => {}, { maxDelay: 0 })
    await wb.set('k', 1)
    await wb.settled(1000)
    const before = reads
    // Idle for 200 ms: its own writes wake it at once, so only other processes' wait for a poll.
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(reads - before).toBeLessThanOrEqual(25)
    expect(reads - before).toBeGreaterThan(0)
  })

  it('bounds the whole log by maxPending, however many partitions it has', async () => {
    const log = new MemoryWriteLog()
    const wb = make<unknown>(log, down, { partitions: 4, maxPending: 8, flusher: false })
    const results = await Promise.allSettled(Array.from({ length: 64 }, (_, i) => wb.set(`k${i}`, i)))
    const accepted = results.filter((r) => r.status === 'fulfilled').length
    let inLog = 0
    for (let p = 0; p < 4; p++) inLog += await log.length(p)
    expect(inLog).toBe(accepted)
    expect(inLog).toBeLessThanOrEqual(8)
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult
    expect(refused.reason).toBeInstanceOf(WriteBehindFullError)
    expect(refused.reason.message).toMatch(/maxPending 8 over 4 partitions/)
  })

  it('bounds close() and settled() by their timeout when the log stops answering', async () => {
    const log = new MemoryWriteLog()
    const wb = make<unknown>(log, down)
    await wb.set('a', 1)
    // A log that hangs: every call from now on never settles (a Redis black hole without a deadline).
    for (const method of ['oldest', 'length', 'release', 'read', 'acquire', 'renew', 'ack'] as const) {
      Object.defineProperty(log, method, { value: () => new Promise(() => {}) })
    }
    const settling = Date.now()
    await expect(wb.settled(60)).rejects.toMatchObject({ code: 'E_WRITE_BEHIND_TIMEOUT' })
    expect(Date.now() - settling).toBeLessThan(1000)
    const closing = Date.now()
    // Not counted (the log did not answer): unknown, not the last count seen.
    expect(await wb.close({ timeoutMs: 100 })).toEqual({ drained: false, pending: undefined })
    expect(Date.now() - closing).toBeLessThan(1000)
  })

  it('a flusher that gets its lease after close() releases it at once and flushes nothing', async () => {
    const answer = deferred<boolean>()
    const released = deferred<string>()
    const renewed = deferred<string>()
    class SlowLeaseLog extends MemoryWriteLog {
      override acquire(partition: number, token: string, ttlMs: number) {
        return answer.promise.then(async (take) => take && (await super.acquire(partition, token, ttlMs)))
      }
      override async renew(partition: number, token: string, ttlMs: number) {
        renewed.resolve('renewed')
        return super.renew(partition, token, ttlMs)
      }
      override async release(partition: number, token: string) {
        await super.release(partition, token)
        released.resolve('released')
      }
    }
    const log = new SlowLeaseLog()
    const flushed: unknown[] = []
    const wb = make<number>(log, async (batch) => void flushed.push(...batch), { visibilityTimeout: 150 })
    await wb.set('a', 1)
    expect(await wb.close({ timeoutMs: 0 })).toMatchObject({ drained: false, pending: 1 })
    answer.resolve(true)
    // Released (fixed) or renewed every 50 ms and held for as long as the process lives (the defect).
    expect(await Promise.race([released.promise, renewed.promise])).toBe('released')
    expect(await MemoryWriteLog.prototype.acquire.call(log, 0, 'another', 1000)).toBe(true)
    expect(flushed).toEqual([])
    expect(await log.length(0)).toBe(1)
  })

  it('rejects the writes of a batch when a custom log throws instead of rejecting (no crash, close resolves)', async () => {
    class ThrowingLog extends MemoryWriteLog {
      override append(): never {
        throw new Error('log bug')
      }
    }
    const wb = make<number>(new ThrowingLog(), async () => {}, { flusher: false })
    await wb.set('warm', 1).catch(() => {})
    // 17 writes in one tick: the 16th sends a call from inside set(), the 17th from the tick's end.
    const results = await Promise.allSettled(Array.from({ length: 17 }, (_, i) => wb.set(`k${i}`, i)))
    expect(results.map((r) => r.status)).toEqual(Array.from({ length: 17 }, () => 'rejected'))
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'E_L2' })
    expect(await wb.close({ timeoutMs: 1000 })).toMatchObject({ pending: 0 })
  })

  it('rejects replay() when the log answers no result for a replayed write, instead of listing the same page forever', async () => {
    class ForgetfulLog extends MemoryWriteLog {
      override async append(...args: Parameters<MemoryWriteLog['append']>) {
        const [, ops] = args
        if (ops.some((op) => op.replay !== undefined)) return []
        return super.append(...args)
      }
    }
    const log = new ForgetfulLog()
    const wb = make<number>(log, async () => {}, { flusher: false })
    const entry = {
      entryId: '1-0',
      key: 'k',
      op: 'set' as const,
      value: new Uint8Array([1]),
      id: '1-0',
      seq: 1,
      at: 1,
    }
    await log.deadLetter(0, entry, 3, 'poison', [])
    let listed = 0
    const list = log.dead.list.bind(log.dead)
    log.dead.list = async (...args) => {
      listed++
      return list(...args)
    }
    await expect(wb.deadLetters.replay()).rejects.toMatchObject({ code: 'E_L2', message: /replay/ })
    expect(listed).toBe(1)
    expect(await wb.deadLetters.list()).toHaveLength(1)
  })

  it('refuses bad arguments to deadLetters and on() with E_INVALID_OPTION, before asking the log', async () => {
    const log = new MemoryWriteLog()
    const wb = make<unknown>(log, async () => {})
    const bad = [
      () => wb.deadLetters.list(null as never),
      () => wb.deadLetters.list({ count: 0 }),
      () => wb.deadLetters.list({ count: Number.NaN }),
      () => wb.deadLetters.list({ count: 1.5 }),
      () => wb.deadLetters.list({ after: 'yesterday' }),
      () => wb.deadLetters.replay('1-0' as never),
      () => wb.deadLetters.replay(['1-0', 'x'] as never),
      () => wb.deadLetters.remove('1-0' as never),
      () => wb.deadLetters.remove([7] as never),
    ]
    for (const call of bad) await expect(call()).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
    expect(() => wb.on('flushed', 'not a function' as never)).toThrow(InvalidOptionError)
    expect(() => wb.on('flush' as never, () => {})).toThrow(/flushed/)
    // Good arguments still work.
    await expect(wb.deadLetters.list({ count: 5, after: '0-0' })).resolves.toEqual([])
    await expect(wb.deadLetters.remove([])).resolves.toBe(0)
    await expect(wb.deadLetters.replay(['1-1'])).resolves.toBe(0)
  })
})

describe('write-behind flusher recovery', () => {
  it('flushes entries whose read reply was lost (Redis ran the read, then died or the call timed out) without waiting for a new lease', async () => {
    let loseNext = false
    class LostReplyLog extends MemoryWriteLog {
      override async read(partition: number, consumer: string, count: number) {
        const entries = await super.read(partition, consumer, count)
        if (loseNext && entries.length > 0) {
          loseNext = false
          // Delivered (pending for this consumer) but the reply never arrived.
          throw new Error('read ECONNRESET')
        }
        return entries
      }
    }
    const log = new LostReplyLog()
    const flushed: string[] = []
    // The lease outlives the test: only re-reading its own pending entries can recover them.
    const wb = make<number>(log, async (batch) => void flushed.push(...batch.map((op) => op.key)), {
      visibilityTimeout: 60_000,
    })
    await wb.set('first', 1)
    await wb.settled(5000)
    loseNext = true
    await wb.set('lost', 2)
    await wb.settled(5000)
    expect(flushed).toEqual(['first', 'lost'])
    expect(await log.length(0)).toBe(0)
  })
})
