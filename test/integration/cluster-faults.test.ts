/**
 * Faults on a real Redis Cluster (3 masters, no replicas), with both clients: a master frozen
 * (SIGSTOP: a black hole, the sockets stay open) while the bus publishes through it; a slot
 * resharded (MIGRATING / IMPORTING, keys moved in batches, ASK and MOVED) while instances read
 * and write its keys; a master frozen under writes and many-key calls, then resumed.
 */
import { describe, expect, it } from 'vitest'
import { type Cache, type CacheOptions, createCache } from '../../dist/index.js'
import {
  CLIENTS,
  closeAfterEach,
  clusterCacheOptions,
  collectUnhandledRejections,
  pollUntil,
  restoreClusterAfterEach,
} from '../helpers/fixtures.js'
import { type ClusterNode, useRedisCluster } from '../helpers/redis-cluster.js'
import { uniqueNamespace } from '../helpers/redis-server.js'

const cluster = useRedisCluster(3)
/** The L2 deadline (the default). */
const DEADLINE_MS = 500

const unhandled = collectUnhandledRejections()

/** PUBLISH calls each master has run so far (INFO commandstats), by port. */
async function publishCounts(): Promise<Map<number, number>> {
  const out = new Map<number, number>()
  for (const node of await cluster().masters()) {
    const info = String(await node.command('INFO', 'commandstats'))
    out.set(node.port, Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0))
  }
  return out
}

/** The pubsub connection ids on each node, by port. */
async function pubsubClients(): Promise<Map<number, Set<string>>> {
  const out = new Map<number, Set<string>>()
  for (const node of cluster().nodes) {
    const list = String(await node.command('CLIENT', 'LIST', 'TYPE', 'pubsub'))
    out.set(node.port, new Set([...list.matchAll(/id=(\d+)/g)].map((m) => m[1] as string)))
  }
  return out
}

/** The node on which a subscriber connection appeared between `before` and `after`. */
function newSubscriberNode(before: Map<number, Set<string>>, after: Map<number, Set<string>>): ClusterNode {
  const node = cluster().nodes.find((n) =>
    [...(after.get(n.port) ?? [])].some((id) => !before.get(n.port)?.has(id)),
  )
  if (node === undefined) throw new Error('no new subscriber connection found')
  return node
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Moves `slot` from `source` to `target` as `redis-cli --cluster reshard` does: IMPORTING on the
 * target, MIGRATING on the source, the keys MIGRATEd `batch` at a time with `pauseMs` between
 * batches (traffic meets ASK and TRYAGAIN meanwhile), then the slot assigned to the target on
 * every master (MOVED from then on).
 */
async function migrateSlot(
  slot: number,
  source: ClusterNode,
  target: ClusterNode,
  batch: number,
  pauseMs: number,
): Promise<number> {
  const sourceId = String(await source.command('CLUSTER', 'MYID'))
  const targetId = String(await target.command('CLUSTER', 'MYID'))
  await target.command('CLUSTER', 'SETSLOT', slot, 'IMPORTING', sourceId)
  await source.command('CLUSTER', 'SETSLOT', slot, 'MIGRATING', targetId)
  let moved = 0
  for (;;) {
    const keys = (await source.command('CLUSTER', 'GETKEYSINSLOT', slot, batch)) as string[]
    if (keys.length === 0) break
    await source.command('MIGRATE', '127.0.0.1', target.port, '', 0, 5000, 'REPLACE', 'KEYS', ...keys)
    moved += keys.length
    await sleep(pauseMs)
  }
  for (const node of [target, source, ...(await cluster().masters())]) {
    await node.command('CLUSTER', 'SETSLOT', slot, 'NODE', targetId)
  }
  return moved
}

describe.each(CLIENTS)('client %s', (client) => {
  const track = closeAfterEach()
  restoreClusterAfterEach(cluster)

  const options = (namespace: string, extra: Partial<CacheOptions> = {}) =>
    clusterCacheOptions(cluster, client, namespace, extra)

  it('the master an instance publishes through frozen: its invalidations still reach the other instances within the deadline, and its publishes do not fail', async () => {
    const namespace = uniqueNamespace('frozen-publisher')
    // Heartbeats rare and silence long: only the invalidation itself can refresh the reader's L1.
    const bus = { heartbeat: '20s', maxSilence: '60s' } as const
    const before = await pubsubClients()
    const reader = track(createCache(options(namespace, { bus })))
    await reader.ready()
    const readerSubscriber = newSubscriberNode(before, await pubsubClients())
    // A writer whose publishing master is not the reader's subscriber's (a frozen subscriber is
    // the heartbeat's business, not this test's): found by counting each master's PUBLISH calls.
    let writer: Cache | undefined
    let publishing: ClusterNode | undefined
    for (let attempt = 0; attempt < 20 && publishing === undefined; attempt++) {
      const candidate = track(
        createCache(
          options(namespace, {
            bus,
            l2: { redis: { cluster: cluster().urls }, client, writeErrors: 'throw' },
          }),
        ),
      )
      await candidate.ready()
      const counted = await publishCounts()
      for (let i = 0; i < 20; i++) await candidate.set(`probe${i}`, i)
      const after = await publishCounts()
      const port = [...after].find(([p, n]) => n - (counted.get(p) ?? 0) >= 20)?.[0]
      const node = cluster().nodes.find((n) => n.port === port)
      if (node !== undefined && node !== readerSubscriber) {
        writer = candidate
        publishing = node
      } else await candidate.close()
    }
    expect(publishing).toBeDefined()
    const a = writer as Cache
    const frozen = publishing as ClusterNode
    // A key on another master than the frozen one: its write succeeds.
    let key = ''
    for (let i = 0; key === ''; i++) {
      if ((await cluster().nodeOf(`${namespace}:v1:k${i}`)) !== frozen) key = `k${i}`
    }
    await a.set(key, 'old')
    expect(await reader.get(key)).toBe('old')
    expect(reader.peek(key)).toBe('old')

    const errors: { operation: string }[] = []
    a.on('l2-error', (event) => errors.push(event))
    frozen.pause()
    try {
      const started = performance.now()
      await a.set(key, 'new')
      // The reader's L1 copy is dropped by the writer's message, not by a TTL or a silence.
      const heard = await pollUntil(() => reader.peek(key) === undefined, 3 * DEADLINE_MS)
      const heardAfterMs = Math.round(performance.now() - started)
      console.log(`[cluster frozen publisher] ${JSON.stringify({ client, heard, heardAfterMs })}`)
      expect(heard).toBe(true)
      expect(await reader.get(key)).toBe('new')
      // A second change: the writer publishes through a master that answers now.
      await a.set(key, 'newer')
      expect(await pollUntil(() => reader.peek(key) === undefined, DEADLINE_MS)).toBe(true)
      expect(errors.filter((e) => e.operation === 'publish')).toEqual([])
    } finally {
      frozen.resume()
    }
    expect(unhandled).toEqual([])
  }, 60_000)

  /**
   * A reader, the master its bus subscriber landed on (the node that gained a pub/sub client) and a
   * writer. Heartbeats rare and silence long: the bus watch (bus.maxSilence) must not be what saves
   * the reader's L1 when that master freezes.
   */
  async function subscriberPair(namespace: string) {
    const bus = { heartbeat: '20s', maxSilence: '60s' } as const
    const before = await pubsubClients()
    const reader = track(createCache(options(namespace, { bus })))
    await reader.ready()
    const frozen = newSubscriberNode(before, await pubsubClients())
    const writer = track(createCache(options(namespace, { bus })))
    await writer.ready()
    return { namespace, reader, writer, frozen }
  }

  it('the master holding an instance’s bus subscriber frozen: the subscriber notices within 3 s, moves to another master, and no invalidated value is read from the L1 later than 100 ms after that', async () => {
    const { namespace, reader, writer, frozen } = await subscriberPair(uniqueNamespace('frozen-subscriber'))
    // Keys on the other masters: their reads and writes work all along.
    const keys: string[] = []
    for (let i = 0; keys.length < 8; i++) {
      if ((await cluster().nodeOf(`${namespace}:v1:k${i}`)) !== frozen) keys.push(`k${i}`)
    }
    // Set by the reader itself: the writer's messages for these sets could otherwise arrive after
    // the reader's reads and drop the copies from its L1 before the test starts.
    for (const k of keys) await reader.set(k, 'old')
    expect(keys.every((k) => reader.peek(k) === 'old')).toBe(true)

    // The reader reads all along; a read is stale if it returns 'old' once the keys are 'new'.
    // The subscriber's move is reported as a connection error: the first one seen is the detection.
    const connectionErrors = reader.stats().l2ConnectionErrors
    const resyncs = reader.stats().busResyncs
    let detectedAt: number | undefined
    let resyncedAt: number | undefined
    let changedAt: number | undefined
    const staleAt: number[] = []
    let reading = true
    const readLoop = async () => {
      for (let i = 0; reading; i++) {
        const at = performance.now()
        const stats = reader.stats()
        if (detectedAt === undefined && stats.l2ConnectionErrors > connectionErrors) detectedAt = at
        if (resyncedAt === undefined && stats.busResyncs > resyncs) resyncedAt = at
        const value = await reader.get(keys[i % keys.length] as string)
        if (changedAt !== undefined && value === 'old') staleAt.push(at)
        // L1 hits settle without I/O: let the sockets be read between them.
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    frozen.pause()
    const frozenAt = performance.now()
    const loop = readLoop()
    try {
      // One tick: one bus message, lost to the reader while its subscriber is on the frozen master.
      await Promise.all(keys.map((k) => writer.set(k, 'new')))
      changedAt = performance.now()
      // The L1 copies are dropped once the subscriber is up again elsewhere (the cache resyncs).
      const moved = await pollUntil(() => resyncedAt !== undefined, 8000)
      reading = false
      await loop
      expect(moved).toBe(true)
      // And the bus works again for this instance, the master still frozen.
      expect(await reader.get(keys[0] as string)).toBe('new')
      await writer.set(keys[0] as string, 'newer')
      const heard = await pollUntil(() => reader.peek(keys[0] as string) === undefined, 3 * DEADLINE_MS)
      const detectMs = detectedAt === undefined ? undefined : Math.round(detectedAt - frozenAt)
      // 100 ms after the detection (or after the last change, when it came later: its message,
      // then heard on the new master, takes a moment too) no read may return the old value.
      const bound = Math.max(detectedAt ?? 0, changedAt ?? 0) + 100
      const late = staleAt.filter((at) => detectedAt === undefined || at > bound)
      console.log(
        `[cluster frozen subscriber] ${JSON.stringify({ client, moved, detectMs, resyncMs: resyncedAt === undefined ? undefined : Math.round(resyncedAt - frozenAt), stale: staleAt.length, late: late.length, heard })}`,
      )
      expect(detectMs).toBeDefined()
      expect(detectMs as number).toBeLessThan(3000)
      expect(late).toEqual([])
      expect(heard).toBe(true)
      for (const k of keys.slice(1)) expect(await reader.get(k)).toBe('new')
    } finally {
      reading = false
      await loop
      frozen.resume()
    }
    expect(unhandled).toEqual([])
  }, 60_000)

  it('a namespace opened while the master holding the bus subscriber is frozen: its SUBSCRIBE waits for the move instead of failing, ready() resolves, and it hears invalidations', async () => {
    const { namespace, reader, writer, frozen } = await subscriberPair(uniqueNamespace('frozen-subscribe'))
    let key = ''
    for (let i = 0; key === ''; i++) {
      if ((await cluster().nodeOf(`${namespace}.child:v1:k${i}`)) !== frozen) key = `k${i}`
    }
    frozen.pause()
    try {
      // A new channel, SUBSCRIBEd on the frozen master's connection: answered only once it moved.
      const child = reader.namespace('child')
      const started = performance.now()
      const ready = await child.ready({ timeout: '10s' }).then(
        () => 'ready',
        (error: Error) => error.message,
      )
      const readyMs = Math.round(performance.now() - started)
      await writer.namespace('child').set(key, 'old')
      expect(await child.get(key)).toBe('old')
      await writer.namespace('child').set(key, 'new')
      const heard = await pollUntil(() => child.peek(key) === undefined, 3 * DEADLINE_MS)
      console.log(`[cluster subscribe while frozen] ${JSON.stringify({ client, ready, readyMs, heard })}`)
      expect(ready).toBe('ready')
      expect(heard).toBe(true)
      expect(await child.get(key)).toBe('new')
    } finally {
      frozen.resume()
    }
    expect(unhandled).toEqual([])
  }, 60_000)

  it('a slot resharded while two instances read, write, delete and invalidate its keys: no error reaches a caller, no read returns a value older than the last acknowledged write', async () => {
    const namespace = uniqueNamespace('reshard')
    // Every `{rs}` key shares one slot: the slot being moved.
    const keys = Array.from({ length: 40 }, (_, i) => `{rs}k${i}`)
    const doomed = Array.from({ length: 10 }, (_, i) => `{rs}d${i}`)
    const elsewhere = Array.from({ length: 10 }, (_, i) => `o${i}`)
    const slot = await cluster().slotOf(`${namespace}:v1:{rs}k0`)
    const source = await cluster().nodeOf(`${namespace}:v1:{rs}k0`)
    const target = (await cluster().masters()).find((m) => m !== source) as ClusterNode
    const strict = { redis: { cluster: cluster().urls }, client, writeErrors: 'throw' } as const
    const writer = track(createCache(options(namespace, { l1: false, l2: strict })))
    const reader = track(createCache(options(namespace, { l1: false, l2: strict })))
    const errors: string[] = []
    for (const cache of [writer, reader])
      cache.on('l2-error', ({ operation, error }) => errors.push(`${operation}: ${String(error)}`))
    await Promise.all([writer.ready(), reader.ready()])
    const acked = new Map<string, number>()
    let version = 0
    for (const k of [...keys, ...elsewhere]) {
      await writer.set(k, ++version, { tags: ['rs'] })
      acked.set(k, version)
    }

    const failures: string[] = []
    const stale: string[] = []
    let running = true
    let ops = 0
    const missed: string[] = []
    const check = (key: string, got: unknown, floor: number) => {
      if (got === undefined) missed.push(`${key}: a miss (acknowledged: ${floor})`)
      else if (typeof got !== 'number' || got < floor) stale.push(`${key}: ${String(got)} < ${floor}`)
    }
    const writeLoop = async () => {
      for (let i = 0; running; i++) {
        const key = keys[i % keys.length] as string
        const v = ++version
        try {
          await writer.set(key, v, { tags: ['rs'] })
          acked.set(key, Math.max(acked.get(key) ?? 0, v))
          const d = doomed[i % doomed.length] as string
          await writer.set(d, v)
          await writer.deleteMany([d, doomed[(i + 3) % doomed.length] as string])
          if (i % 10 === 0) await writer.invalidateTags(['other-tag'])
        } catch (error) {
          failures.push(`write: ${String(error)}`)
        }
        ops++
      }
    }
    const readLoop = async (offset: number) => {
      for (let i = offset; running; i += 3) {
        const key = keys[i % keys.length] as string
        const floor = acked.get(key) ?? 0
        try {
          if (i % 4 === 0) {
            const group = [...keys.slice(0, 12), ...elsewhere.slice(0, 3)]
            const floors = group.map((k) => acked.get(k) ?? 0)
            const values = await reader.getMany(group)
            for (let j = 0; j < group.length; j++) check(group[j] as string, values[j], floors[j] as number)
          } else {
            check(key, await reader.get(key), floor)
          }
        } catch (error) {
          failures.push(`read: ${String(error)}`)
        }
        ops++
      }
    }
    const loops = [writeLoop(), readLoop(0), readLoop(1)]
    await sleep(200)
    const moved = await migrateSlot(slot, source, target, 3, 150)
    const opsDuring = ops
    await sleep(500)
    running = false
    await Promise.all(loops)
    console.log(
      `[cluster reshard] ${JSON.stringify({ client, moved, ops, opsDuring, errors: errors.slice(0, 5), failures: failures.slice(0, 5), stale: stale.slice(0, 5), missed: missed.slice(0, 5) })}`,
    )

    expect(moved).toBeGreaterThanOrEqual(keys.length)
    expect(opsDuring).toBeGreaterThan(50)
    expect(failures).toEqual([])
    expect(errors).toEqual([])
    expect(stale).toEqual([])
    // A read of a key that exists should not be a miss either. The silent misses seen here were
    // reads crossing a write: held back by the moving slot (TRYAGAIN, ASK), their reply came after
    // the reader heard of the newer write, so the older value read was refused. getMany now reads
    // such keys again (cluster-crossed-reads.test.ts); a single get that crosses a write is still
    // refused, a miss (an origin call, never a wrong value). Bounded so a systematic loss fails.
    expect(missed.length).toBeLessThan(20)
    // The slot is the target's now, and a fresh instance reads every key's last acknowledged value.
    expect(await cluster().nodeOf(`${namespace}:v1:{rs}k0`)).toBe(target)
    const fresh = track(createCache(options(namespace, { l1: false })))
    expect(await fresh.getMany(keys)).toEqual(keys.map((k) => acked.get(k)))
    expect(fresh.stats().l2Errors).toBe(0)
    expect(unhandled).toEqual([])
  }, 60_000)

  it('a master frozen under writes and many-key calls: each settles within the deadline (its keys fail per l2.writeErrors, the others are served), only its breaker opens, and after SIGCONT its keys are read and written again', async () => {
    const namespace = uniqueNamespace('frozen-writes')
    const masters = await cluster().masters()
    const victim = masters[0] as ClusterNode
    const all = Array.from({ length: 40 }, (_, i) => `k${i}`)
    const owners = await Promise.all(all.map((k) => cluster().nodeOf(`${namespace}:v1:${k}`)))
    const dead = all.filter((_, i) => owners[i] === victim)
    const live = all.filter((_, i) => owners[i] !== victim)
    expect(dead.length).toBeGreaterThan(4)
    const l2 = {
      redis: { cluster: cluster().urls },
      client,
      writeErrors: 'throw',
      breaker: { threshold: 3, breakDuration: '1s' },
    } as const
    const c = track(createCache(options(namespace, { l1: false, l2 })))
    const opened: (string | undefined)[] = []
    c.on('breaker', (event) => {
      if (event.state === 'open') opened.push(event.master)
    })
    await c.ready()
    // Untagged: a tagged entry whose tag marker lives on the frozen master reads as a miss (fail closed).
    for (const k of all) await c.set(k, `v:${k}`)
    const tagged = Array.from({ length: 10 }, (_, i) => `tagged${i}`)
    for (const k of tagged) await c.set(k, k, { tags: [`t:${k}`] })
    const address = `127.0.0.1:${victim.port}`
    // Each call settles within the deadline (plus scheduling slack), whatever it answers.
    const bound = DEADLINE_MS + 750
    const settle = async (what: string, run: () => Promise<unknown>) => {
      const started = performance.now()
      const outcome = await run().then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error: error as Error & { code?: string } }),
      )
      const ms = performance.now() - started
      expect(ms, `${what} took ${Math.round(ms)} ms`).toBeLessThan(bound)
      return outcome
    }

    victim.pause()
    try {
      const [d0, d1, d2] = dead as [string, string, string]
      const [l0, l1, l2k] = live as [string, string, string]
      expect(await settle('get', () => c.get(d0))).toEqual({ ok: true, value: undefined })
      const set = await settle('set', () => c.set(d1, 'during the freeze'))
      expect(set.ok).toBe(false)
      // A delete spanning masters: the live master's key is deleted, the frozen one's failure rejects.
      const deleted = await settle('deleteMany', () => c.deleteMany([d2, l0]))
      expect(deleted.ok).toBe(false)
      const l0Master = owners[all.indexOf(l0)] as ClusterNode
      expect(await l0Master.command('GET', `${namespace}:v1:${l0}`)).toMatch(/^!del:/)
      const many = await settle('getMany', () => c.getMany([d0, l1, d1, l2k]))
      expect(many).toEqual({ ok: true, value: [undefined, `v:${l1}`, undefined, `v:${l2k}`] })
      await settle('invalidateTags', () => c.invalidateTags(tagged.map((k) => `t:${k}`)))
      const matching = await settle('deleteMatching', () => c.deleteMatching('nothing-matches-*'))
      expect(matching.ok).toBe(false)
      // The breaker open, the frozen master's keys fail fast; the others are still served.
      expect(await settle('get after the breaker opened', () => c.get(d0))).toEqual({
        ok: true,
        value: undefined,
      })
      expect(await c.get(live[3] as string)).toBe(`v:${live[3]}`)
      const health = await c.health()
      expect(health.l2?.masters?.find((m) => m.address === address)?.breaker).not.toBe('closed')
      expect(health.l2?.masters?.filter((m) => m.breaker === 'closed')).toHaveLength(masters.length - 1)
    } finally {
      victim.resume()
    }
    expect(new Set(opened)).toEqual(new Set([address]))
    // Resumed: the breaker's next probe (the break is 1 s) closes it; its keys are served again.
    const back = await pollUntil(async () => {
      await c.set(dead[3] as string, 'after the freeze').catch(() => {})
      return (await c.get(dead[3] as string)) === 'after the freeze'
    }, 10_000)
    expect(back).toBe(true)
    expect(await c.get(dead[4] as string)).toBe(`v:${dead[4]}`)
    expect((await c.health()).l2?.masters?.every((m) => m.breaker === 'closed')).toBe(true)
    expect(unhandled).toEqual([])
  }, 60_000)

  it('a master down while an instance starts: its first reads (no slot table yet) still answer for the other masters, and the dead one’s failure counts as a failed L2 read, not as a connection error', async () => {
    const namespace = uniqueNamespace('first-reads')
    const victim = (await cluster().masters())[1] as ClusterNode
    const keys = Array.from({ length: 30 }, (_, i) => `k${i}`)
    const owners = await Promise.all(keys.map((k) => cluster().nodeOf(`${namespace}:v1:${k}`)))
    expect(owners.filter((o) => o === victim).length).toBeGreaterThan(3)
    const writer = track(createCache(options(namespace, { l1: false })))
    for (const k of keys) await writer.set(k, `v:${k}`)
    await writer.close()
    await victim.kill()
    const expected = keys.map((k, i) => (owners[i] === victim ? undefined : `v:${k}`))
    // A generous deadline: the reads wait for the first connection, which a loaded machine slows.
    const l2 = { redis: { cluster: cluster().urls }, client, timeout: '3s' } as const
    for (const read of ['getMany', 'get'] as const) {
      const reader = track(createCache(options(namespace, { l1: false, l2 })))
      const failed: string[] = []
      reader.on('l2-error', ({ operation }) => failed.push(operation))
      // At once, before ready(): the client has not connected yet, no key's master is known.
      const values =
        read === 'getMany' ? await reader.getMany(keys) : await Promise.all(keys.map((k) => reader.get(k)))
      const stats = reader.stats()
      console.log(
        `[cluster first reads] ${JSON.stringify({ client, read, l2Errors: stats.l2Errors, l2ConnectionErrors: stats.l2ConnectionErrors, failed: [...new Set(failed)] })}`,
      )
      expect(values).toEqual(expected)
      // What a failed read of one Redis counts: an L2 error, reported as the read that failed.
      expect(stats.l2Errors).toBeGreaterThan(0)
      expect(failed).toContain(read)
    }
    expect(unhandled).toEqual([])
  }, 60_000)

  it("a master killed: a delete spanning it still drops every key from the other instances' L1 and is reported per l2.writeErrors; invalidateTags too", async () => {
    const namespace = uniqueNamespace('down-delete')
    const masters = await cluster().masters()
    const victim = masters[2] as ClusterNode
    const all = Array.from({ length: 60 }, (_, i) => `k${i}`)
    const owners = await Promise.all(all.map((k) => cluster().nodeOf(`${namespace}:v1:${k}`)))
    const live = all.filter((_, i) => owners[i] !== victim)
    const dead = all.filter((_, i) => owners[i] === victim)
    const l2 = { redis: { cluster: cluster().urls }, client, writeErrors: 'throw' } as const
    const a = track(createCache(options(namespace, { l2 })))
    const b = track(createCache(options(namespace)))
    await Promise.all([a.ready(), b.ready()])
    for (const k of all) await a.set(k, `v:${k}`, { tags: [`t:${k}`] })
    for (const k of all) expect(await b.get(k)).toBe(`v:${k}`)
    await victim.kill()
    const pairs = live.slice(0, 6).map((k, i) => [k, dead[i] as string])
    const outcomes: string[] = []
    const stale: string[] = []
    for (const pair of pairs) {
      outcomes.push(
        await a.deleteMany(pair).then(
          () => 'ok',
          (e: Error & { code?: string }) => e.code ?? 'error',
        ),
      )
      for (const k of pair) if (!(await pollUntil(() => b.peek(k) === undefined, 1000))) stale.push(k)
    }
    const tagOutcome = await a.invalidateTags([`t:${live[10]}`, `t:${dead[10]}`]).then(
      () => 'ok',
      (e: Error & { code?: string }) => e.code ?? 'error',
    )
    for (const k of [live[10], dead[10]] as string[])
      if (!(await pollUntil(() => b.peek(k) === undefined, 1000))) stale.push(`tag ${k}`)
    // Each delete rejected (it could not reach the dead master), with the L2 code; the live
    // master's keys were deleted all the same (a tombstone in place of the value).
    expect(outcomes.every((code) => code.startsWith('E_L2'))).toBe(true)
    expect(tagOutcome === 'ok' || tagOutcome.startsWith('E_L2')).toBe(true)
    for (const [k] of pairs as [string, string][]) {
      const master = owners[all.indexOf(k)] as ClusterNode
      expect(await master.command('GET', `${namespace}:v1:${k}`)).toMatch(/^!del:/)
    }
    expect(stale).toEqual([])
    expect(unhandled).toEqual([])
  }, 60_000)
})
