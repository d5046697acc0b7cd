import { afterEach, describe, expect, it } from 'vitest'
import {
  createWriteBehind,
  InvalidOptionError,
  MemoryWriteLog,
  type WriteBehind,
  WriteBehindFullError,
  type WriteBehindOp,
  type WriteBehindOptions,
  WriteBehindTimeoutError,
} from '../../src/index.js'
import { compareIds } from '../../src/write/log.js'

type Flush<T> = WriteBehindOptions<T>['flush']

const open: WriteBehind<unknown>[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((wb) => wb.close({ timeoutMs: 0 })))
})

function make<T>(
  log: MemoryWriteLog,
  flush: Flush<T>,
  options: Partial<WriteBehindOptions<T>> = {},
  cache?: { set(key: string, value: unknown): Promise<void>; delete(key: string): Promise<void> },
): WriteBehind<T> {
  const wb = createWriteBehind<T>(
    { log, cache },
    { name: 'test', flush, maxDelay: 5, retryBase: 5, retryMax: 20, visibilityTimeout: 300, ...options },
  )
  open.push(wb as WriteBehind<unknown>)
  return wb
}

/** A database table: key → { value, seq }, applying an op only if its seq is newer (the idempotency contract). */
function table<T>() {
  const rows = new Map<string, { value: T | undefined; seq: number }>()
  const batches: WriteBehindOp<T>[][] = []
  const apply = (batch: readonly WriteBehindOp<T>[]) => {
    batches.push([...batch])
    for (const op of batch) {
      const row = rows.get(op.key)
      if (row !== undefined && row.seq >= op.seq) continue
      rows.set(op.key, { value: op.op === 'set' ? op.value : undefined, seq: op.seq })
    }
  }
  return { rows, batches, apply }
}

function once<E>(
  wb: WriteBehind<unknown>,
  name: Parameters<WriteBehind<unknown>['on']>[0],
  accept: (e: E) => boolean = () => true,
) {
  return new Promise<E>((resolve) => {
    const off = wb.on(name, (event) => {
      if (accept(event as E)) {
        off()
        resolve(event as E)
      }
    })
  })
}

/** Polls `check` (every 5 ms) until it holds; throws after `ms`. */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('write-behind engine (in-memory log)', () => {
  it('settled(timeoutMs) rejects with E_WRITE_BEHIND_TIMEOUT while the database holds a write, and the write is still flushed after', async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    let release!: () => void
    const held = new Promise<void>((resolve) => {
      release = resolve
    })
    const wb = make<number>(log, async (batch) => {
      await held
      db.apply(batch)
    })
    await wb.set('a', 1)
    const error = await wb.settled(20).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(WriteBehindTimeoutError)
    expect(error).toMatchObject({ code: 'E_WRITE_BEHIND_TIMEOUT' })
    release()
    await wb.settled(5000)
    expect(db.rows.get('a')).toEqual({ value: 1, seq: 1 })
  })

  it('settled and close refuse a wait that is not a number of ms ≥ 0', async () => {
    const wb = make<number>(new MemoryWriteLog(), async () => {})
    for (const bad of [Number.NaN, -1, '5s', Symbol('s'), null]) {
      await expect(wb.settled(bad as never)).rejects.toMatchObject({ code: 'E_INVALID_OPTION' })
      expect(() => wb.close({ timeoutMs: bad as never })).toThrow(InvalidOptionError)
    }
    expect(() => wb.close(null as never)).toThrow(InvalidOptionError)
  })

  it('flushes one op per key, the last write, and acknowledges only after flush resolved', async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    // A writer-only instance appends; nothing is flushed (nor acknowledged) until a flusher runs.
    const writer = make<number>(log, async () => {}, { flusher: false })
    const receipts = []
    for (let i = 1; i <= 5; i++) receipts.push(await writer.set('a', i))
    await writer.set('b', 10)
    await writer.delete('c')
    expect(receipts.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5])
    expect(await log.length(0)).toBe(7)
    const wb = make<number>(log, async (batch) => db.apply(batch))
    await writer.settled(5000)
    expect(await log.length(0)).toBe(0)
    expect(db.rows.get('a')).toEqual({ value: 5, seq: 5 })
    expect(db.rows.get('b')).toEqual({ value: 10, seq: 1 })
    expect(db.rows.get('c')).toEqual({ value: undefined, seq: 1 })
    const flushedA = db.batches.flat().filter((op) => op.key === 'a')
    expect(flushedA.map((op) => op.seq)).toEqual([5])
    expect(wb.stats().coalesced).toBe(4)
  })

  it('sends a tick of appends in calls of at most 16, in issue order, and acknowledges every write', async () => {
    const calls: string[][] = []
    class CountingLog extends MemoryWriteLog {
      override append(...args: Parameters<MemoryWriteLog['append']>) {
        calls.push(args[1].map((op) => op.key))
        return super.append(...args)
      }
    }
    const log = new CountingLog()
    const writer = make<number>(log, async () => {}, { flusher: false })
    // One tick: 40 writes, the key 'a' every fourth (its sequences must follow the issue order).
    const keys = Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? 'a' : `k${i}`))
    const receipts = await Promise.all(keys.map((key, i) => writer.set(key, i)))
    expect(calls.map((call) => call.length)).toEqual([16, 16, 8])
    expect(calls.flat()).toEqual(keys)
    const ids = receipts.map((r) => r.id)
    expect([...ids].sort(compareIds)).toEqual(ids)
    expect(receipts.filter((_, i) => keys[i] === 'a').map((r) => r.seq)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ])
    expect(await log.length(0)).toBe(40)
  })

  it('keeps the order of writes per key across batches and never flushes a key twice at once', async () => {
    const log = new MemoryWriteLog()
    const seen = new Map<string, number[]>()
    let inFlight = 0
    let maxInFlight = 0
    const wb = make<number>(
      log,
      async (batch) => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise((resolve) => setTimeout(resolve, 1))
        for (const op of batch) seen.set(op.key, [...(seen.get(op.key) ?? []), op.seq])
        inFlight--
      },
      { maxBatch: 3, maxDelay: 0 },
    )
    for (let round = 0; round < 20; round++) {
      await Promise.all(['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => wb.set(k, round)))
    }
    await wb.settled(5000)
    expect(maxInFlight).toBe(1)
    for (const seqs of seen.values()) expect(seqs).toEqual([...seqs].sort((a, b) => a - b))
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) expect(seen.get(k)?.at(-1)).toBe(20)
  })

  it('waits up to maxDelay for a fuller batch, and flushes at once when maxBatch keys are waiting', async () => {
    const log = new MemoryWriteLog()
    const sizes: number[] = []
    const wb = make<number>(log, async (batch) => void sizes.push(batch.length), {
      maxBatch: 4,
      maxDelay: 60_000,
    })
    await Promise.all(['a', 'b', 'c', 'd'].map((k) => wb.set(k, 1)))
    await once(wb, 'flushed')
    expect(sizes).toEqual([4])
    await wb.set('e', 1)
    // Not full, and maxDelay is a minute away: nothing flushes until close() drains.
    expect(await log.length(0)).toBe(1)
    expect((await wb.close()).drained).toBe(true)
    expect(sizes).toEqual([4, 1])
  })

  it('retries a failed flush with growing, jittered delays and acknowledges nothing meanwhile', async () => {
    const log = new MemoryWriteLog()
    let failures = 3
    const db = table<string>()
    const wb = make<string>(log, async (batch) => {
      if (failures-- > 0) throw new Error('database says no')
      db.apply(batch)
    })
    const retries: { attempt: number; delayMs: number }[] = []
    wb.on('retry', (e) => retries.push(e))
    await wb.set('x', 'v')
    await wb.settled(5000)
    expect(db.rows.get('x')?.value).toBe('v')
    expect(retries).toHaveLength(3)
    expect(retries.map((r) => r.attempt)).toEqual([1, 2, 3])
    // retryBase 5, retryMax 20: delays in [2.5, 5], [5, 10], [10, 20].
    expect(retries[0]?.delayMs).toBeGreaterThanOrEqual(2.5)
    expect(retries[2]?.delayMs).toBeGreaterThanOrEqual(10)
    expect(retries[2]?.delayMs).toBeLessThanOrEqual(20)
    expect(wb.stats().retries).toBe(3)
  })

  it('isolates a poison key, dead-letters it after maxAttempts tries while the others flow, and replays it', async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    let poisonTries = 0
    const wb = make<number>(
      log,
      async (batch) => {
        if (batch.some((op) => op.key === 'poison')) {
          if (batch.length === 1) poisonTries++
          throw new Error('violates a constraint')
        }
        db.apply(batch)
      },
      { maxAttempts: 3, maxBatch: 16 },
    )
    const dead = once<{ key: string; attempts: number }>(wb, 'dead-letter')
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
    await Promise.all([
      ...keys.slice(0, 10).map((k) => wb.set(k, 1)),
      wb.set('poison', 1),
      ...keys.slice(10).map((k) => wb.set(k, 1)),
    ])
    const letter = await dead
    expect(letter).toMatchObject({ key: 'poison', attempts: 3 })
    expect(poisonTries).toBe(3)
    // Writes after the poison one keep flowing.
    await wb.set('later', 2)
    await wb.settled(5000)
    for (const k of [...keys, 'later']) expect(db.rows.has(k)).toBe(true)
    expect(db.rows.has('poison')).toBe(false)
    const letters = await wb.deadLetters.list()
    expect(letters).toHaveLength(1)
    expect(letters[0]).toMatchObject({ key: 'poison', op: 'set', seq: 1, attempts: 3 })
    expect(letters[0]?.error).toContain('violates a constraint')
    expect(await log.length(0)).toBe(0)
    expect(wb.stats().deadLettered).toBe(1)
  })

  it('several poison keys do not starve the others: each is dead-lettered after maxAttempts, and the other keys flow meanwhile', async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    const wb = make<number>(
      log,
      async (batch) => {
        if (batch.some((op) => op.key.startsWith('poison'))) throw new Error('violates a constraint')
        db.apply(batch)
      },
      { maxAttempts: 3, maxBatch: 16 },
    )
    const poison = ['poison:a', 'poison:b', 'poison:c']
    for (const key of poison) await wb.set(key, 1)
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`)
    for (const key of keys) await wb.set(key, 1)
    // Before: the poison keys, each due again before the others had a turn, were retried in a
    // round forever — no flush ever succeeded, so none counted as poison and nothing else flowed.
    await wb.settled(5000)
    expect(keys.filter((k) => !db.rows.has(k))).toEqual([])
    expect((await wb.deadLetters.list()).map((l) => l.key).sort()).toEqual(poison)
    expect(wb.stats().deadLettered).toBe(3)
  })

  it("settles on this instance's own writes: another process's older poison write, still being retried, does not hold it", async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    const flush: Flush<number> = async (batch) => {
      if (batch.some((op) => op.key.endsWith(':poison'))) throw new Error('violates a constraint')
      db.apply(batch)
    }
    // Another process of the same log: a writer only, whose poison write comes first.
    const other = make<number>(log, flush, { flusher: false })
    // Far from dead-lettered: tried every 20 ms at most, 1,000 times.
    const mine = make<number>(log, flush, { maxAttempts: 1000 })
    await other.set('theirs:poison', 1)
    await mine.set('mine', 2)
    // Before: it waited for the other process's poison write (older than its own), and timed out.
    await mine.settled(2000)
    expect(db.rows.get('mine')?.value).toBe(2)
    expect(await log.length(0)).toBe(1)
    // Its own poison write, though, it waits for (until it is flushed or dead-lettered).
    await mine.set('mine:poison', 3)
    await expect(mine.settled(200)).rejects.toMatchObject({ code: 'E_WRITE_BEHIND_TIMEOUT' })
  })

  it('replays a dead letter with its original sequence, so a newer write of the key still wins', async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    let poisoned = true
    const wb = make<number>(
      log,
      async (batch) => {
        if (poisoned && batch.some((op) => op.key === 'p')) throw new Error('poison')
        db.apply(batch)
      },
      { maxAttempts: 1 },
    )
    const dead = once(wb, 'dead-letter')
    // With another key in the batch: its success proves the database works, so p is the poison.
    const [first] = await Promise.all([wb.set('p', 1), wb.set('ok', 1)])
    await dead
    poisoned = false
    await wb.set('p', 2)
    await wb.settled(5000)
    expect(db.rows.get('p')).toEqual({ value: 2, seq: 2 })
    expect(await wb.deadLetters.replay()).toBe(1)
    expect(await wb.deadLetters.count()).toBe(0)
    await wb.close()
    // The replayed write (seq 1) reached flush and lost to seq 2.
    expect(db.batches.flat().some((op) => op.key === 'p' && op.id === first.id)).toBe(true)
    expect(db.rows.get('p')).toEqual({ value: 2, seq: 2 })
  })

  it('never dead-letters during an outage (every flush fails), and drains once the database is back', async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    let down = true
    const wb = make<number>(
      log,
      async (batch) => {
        if (down) throw new Error('ECONNREFUSED')
        db.apply(batch)
      },
      { maxAttempts: 2, maxBatch: 8 },
    )
    await Promise.all(Array.from({ length: 30 }, (_, i) => wb.set(`k${i}`, i)))
    while (wb.stats().retries < 25) await once(wb, 'retry')
    expect(wb.stats().deadLettered).toBe(0)
    down = false
    await wb.settled(5000)
    expect(db.rows.size).toBe(30)
    expect(await wb.deadLetters.count()).toBe(0)
  })

  it('rejects set with WriteBehindFullError once maxPending writes wait, and accepts again after a flush', async () => {
    const log = new MemoryWriteLog()
    let down = true
    const wb = make<number>(
      log,
      async () => {
        if (down) throw new Error('down')
      },
      { maxPending: 5 },
    )
    for (let i = 0; i < 5; i++) await wb.set(`k${i}`, i)
    const events: unknown[] = []
    wb.on('backpressure', (e) => events.push(e))
    const error = await wb.set('k5', 5).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(WriteBehindFullError)
    expect((error as WriteBehindFullError).code).toBe('E_WRITE_BEHIND_FULL')
    expect((error as WriteBehindFullError).pending).toBe(5)
    expect(events).toEqual([{ pending: 5, maxPending: 5 }])
    expect(wb.stats().rejected).toBe(1)
    down = false
    await wb.settled(5000)
    await expect(wb.set('k5', 5)).resolves.toMatchObject({ seq: 1 })
  })

  it('hands the unacknowledged entries of a flusher that stopped renewing to another after the visibility timeout', async () => {
    const log = new MemoryWriteLog()
    const db = table<number>()
    // A's view of the log: once it "dies", every call it makes fails (no renewal, no ack, no release).
    let dead = false
    const seenByA = new Proxy(log, {
      get(target, property) {
        const value = Reflect.get(target, property, target)
        if (typeof value !== 'function') return value
        return (...args: unknown[]) =>
          dead ? Promise.reject(new Error('process is dead')) : value.apply(target, args)
      },
    })
    let flushing!: () => void
    const inFlush = new Promise<void>((resolve) => {
      flushing = resolve
    })
    // A reads the entries, then hangs in flush (and never acknowledges).
    const stuck = make<number>(
      seenByA,
      () => {
        flushing()
        return new Promise(() => {})
      },
      { visibilityTimeout: 200, flushTimeout: 60_000 },
    )
    await stuck.set('a', 1)
    await stuck.set('b', 2)
    await inFlush
    expect(log.pendingOf(0).size).toBe(2)
    dead = true
    const standby = make<number>(log, async (batch) => db.apply(batch), { visibilityTimeout: 200 })
    await once(standby, 'flushed')
    expect(db.rows.get('a')?.value).toBe(1)
    expect(db.rows.get('b')?.value).toBe(2)
    expect(standby.stats().reclaimed).toBe(2)
  })

  it('updates the cache on set and delete, and reports (not rejects) a cache failure of an accepted write', async () => {
    const log = new MemoryWriteLog()
    const cache = new Map<string, unknown>()
    let failCache = false
    const fake = {
      async set(key: string, value: unknown) {
        if (failCache) throw new Error('L2 down')
        cache.set(key, value)
      },
      async delete(key: string) {
        cache.delete(key)
      },
    }
    const wb = make<number>(log, async () => {}, {}, fake)
    await wb.set('a', 1)
    expect(cache.get('a')).toBe(1)
    await wb.delete('a')
    expect(cache.has('a')).toBe(false)
    failCache = true
    const errors: unknown[] = []
    wb.on('cache-error', (e) => errors.push(e))
    await expect(wb.set('b', 2)).resolves.toMatchObject({ seq: 1 })
    expect(errors).toHaveLength(1)
  })

  it('applies the cache writes of one key in log order even when an earlier one is slower', async () => {
    const log = new MemoryWriteLog()
    const cache = new Map<string, unknown>()
    const fake = {
      async set(key: string, value: unknown) {
        // The first write's L2 round trip is the slow one.
        if (value === 1) await new Promise((resolve) => setTimeout(resolve, 30))
        cache.set(key, value)
      },
      async delete(key: string) {
        cache.delete(key)
      },
    }
    const wb = make<number>(log, async () => {}, { flusher: false }, fake)
    await Promise.all([wb.set('k', 1), wb.set('k', 2)])
    expect(cache.get('k')).toBe(2)
  })

  it('drops its cache write when another writer appended a newer write of the key meanwhile', async () => {
    const log = new MemoryWriteLog()
    const cache = new Map<string, unknown>()
    let other: WriteBehind<number> | undefined
    const fake = {
      async set(key: string, value: unknown) {
        cache.set(key, value)
        // Another process appends a newer write between our cache write and our check.
        if (value === 1) await other?.set(key, 2)
      },
      async delete(key: string) {
        cache.delete(key)
      },
    }
    const wb = make<number>(log, async () => {}, { flusher: false }, fake)
    other = make<number>(log, async () => {}, { flusher: false, updateCache: false, name: 'test' })
    await wb.set('k', 1)
    expect(cache.has('k')).toBe(false)
  })

  it('refuses writes after close and resolves close to whether it drained', async () => {
    const log = new MemoryWriteLog()
    const wb = make<number>(log, async () => {})
    await wb.set('a', 1)
    expect(await wb.close()).toEqual({ drained: true, pending: 0 })
    await expect(wb.set('b', 1)).rejects.toMatchObject({ code: 'E_CLOSED' })
    const stuck = make<number>(new MemoryWriteLog(), async () => {
      throw new Error('down')
    })
    await stuck.set('a', 1)
    expect(await stuck.close({ timeoutMs: 50 })).toEqual({ drained: false, pending: 1 })
  })

  it('abandons a flush that ignores its signal when close() runs out of time, aborting the signal', async () => {
    const log = new MemoryWriteLog()
    let signal: AbortSignal | undefined
    let started!: () => void
    const inFlush = new Promise<void>((resolve) => {
      started = resolve
    })
    const wb = make<number>(log, (_batch, context) => {
      signal = context.signal
      started()
      return new Promise(() => {})
    })
    await wb.set('a', 1)
    await inFlush
    const closing = Date.now()
    expect(await wb.close({ timeoutMs: 100 })).toEqual({ drained: false, pending: 1 })
    expect(Date.now() - closing).toBeLessThan(5000)
    expect(signal?.aborted).toBe(true)
  })

  it('reports the entries waiting in every partition and the age of the oldest in stats()', async () => {
    const log = new MemoryWriteLog()
    const wb = make<number>(
      log,
      async () => {
        throw new Error('down')
      },
      { partitions: 3, retryMax: 50 },
    )
    await Promise.all(Array.from({ length: 30 }, (_, i) => wb.set(`k${i}`, i)))
    await until(() => wb.stats().pending === 30 && wb.stats().lagMs > 0, 10_000)
    expect(await wb.pending()).toBe(30)
  })

  it('validates its options at construction with messages that name the option', () => {
    const log = new MemoryWriteLog()
    const flush = async () => {}
    expect(() => createWriteBehind({ log }, { name: 'a b', flush })).toThrow(InvalidOptionError)
    expect(() => createWriteBehind({ log }, { name: 'a', flush: 1 as never })).toThrow(
      /flush must be a function/,
    )
    expect(() => createWriteBehind({ log }, { name: 'a', flush, maxBatch: 0 })).toThrow(/maxBatch/)
    expect(() => createWriteBehind({ log }, { name: 'a', flush, retryBase: 100, retryMax: 10 })).toThrow(
      /retryMax/,
    )
    expect(() => createWriteBehind({ log }, { name: 'a', flush, maxPending: -1 })).toThrow(/maxPending/)
    expect(() => createWriteBehind({ log }, { name: 'a', flush, partitions: 0 })).toThrow(/partitions/)
    for (const maxDeadLetters of [0, -1, 1.5, Number.NaN]) {
      expect(() => createWriteBehind({ log }, { name: 'a', flush, maxDeadLetters })).toThrow(/maxDeadLetters/)
    }
  })

  it('rejects an empty key and a value the serializer cannot encode, before anything is appended', async () => {
    const log = new MemoryWriteLog()
    const wb = make<unknown>(log, async () => {})
    await expect(wb.set('', 1)).rejects.toMatchObject({ code: 'E_INVALID_KEY' })
    await expect(wb.set('k', () => 1)).rejects.toMatchObject({ code: 'E_SERIALIZATION' })
    await expect(wb.set('k', undefined)).rejects.toMatchObject({ code: 'E_SERIALIZATION' })
    expect(await log.length(0)).toBe(0)
  })
})
