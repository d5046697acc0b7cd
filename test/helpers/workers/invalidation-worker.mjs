/**
 * A child process that holds one stratacache instance (built package, dist/) and watches its L1
 * for the invalidation tests across processes (test/integration/invalidation-processes.test.ts).
 * Same approach as cache-worker.mjs — `child_process.fork` with an IPC channel — but its own
 * protocol (forked with `serialization: 'advanced'`, so `undefined` crosses the channel as is):
 *
 * - parent → worker `{ id, method, params }`; worker → parent `{ id, ok: true, value }` or
 *   `{ id, ok: false, error }`.
 * - worker → parent `{ event, data }`: 'ready', 'fault' (an unhandledRejection or
 *   uncaughtException here), 'gone' (a watched key's old value stopped being visible).
 *
 * Methods: open({ options }), clock(), load({ key, old }), read({ keys }), stats(),
 * waitResync({ above }), close().
 *
 * How the moment an L1 copy disappears is caught, without spinning: the bus delivers a message
 * when the subscriber connection's socket emits 'data' — both clients parse the reply and call
 * the cache's handler synchronously inside that emit, and the handler drops the L1 copy there
 * (node-redis reports a resubscription one promise later). So `net.Socket.prototype.emit` is
 * wrapped: after every 'data' event, while something is watched, the watches are checked at
 * once ('io'), again in the same loop iteration's check phase ('immediate'), and a 5 ms timer
 * checks as a safety net ('poll'). The report says which one saw it; if 'poll' ever shows up,
 * the hook missed and the delay measured for that key is coarse.
 *
 * Timestamps are epoch milliseconds with sub-millisecond precision (performance.timeOrigin +
 * performance.now()); the parent measures this process's offset from its own clock over IPC.
 */
import net from 'node:net'
import { createCache } from '../../../dist/index.js'

/** @type {{ kind: string; message: string; stack?: string }[]} */
const faults = []

function recordFault(kind, error) {
  const fault = {
    kind,
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  }
  faults.push(fault)
  emit('fault', fault)
}

process.on('unhandledRejection', (reason) => recordFault('unhandledRejection', reason))
process.on('uncaughtException', (error) => recordFault('uncaughtException', error))
// The parent went away (it finished, or died): never outlive it.
process.on('disconnect', () => process.exit(0))

const now = () => performance.timeOrigin + performance.now()

function emit(event, data) {
  if (process.connected) process.send({ event, data })
}

/** @type {import('../../../dist/index.js').Cache | undefined} */
let cache

function theCache() {
  if (cache === undefined) throw new Error('call open first')
  return cache
}

/** Watched keys → the value whose disappearance is reported. */
const watches = new Map()
/** Callers of waitResync: resolved once busResyncs exceeds `above`. */
const resyncWaiters = new Set()
/** How each disappearance was seen. */
const seenBy = { io: 0, immediate: 0, poll: 0 }
let pollTimer

const watching = () => watches.size > 0 || resyncWaiters.size > 0

function check(how) {
  if (cache === undefined) return
  const c = cache
  for (const [key, old] of watches) {
    const seen = c.peek(key)
    if (seen === old) continue
    const at = now()
    watches.delete(key)
    seenBy[how]++
    // Right after the message arrived: what a read in this process answers now.
    c.get(key).then(
      (after) => emit('gone', { key, at, how, seen, after, busMessages: c.stats().busMessages }),
      (error) => emit('gone', { key, at, how, seen, error: String(error?.code ?? error) }),
    )
  }
  if (resyncWaiters.size > 0) {
    const resyncs = c.stats().busResyncs
    for (const waiter of resyncWaiters) {
      if (resyncs > waiter.above) {
        resyncWaiters.delete(waiter)
        waiter.resolve(resyncs)
      }
    }
  }
  if (watching() && pollTimer === undefined) pollTimer = setInterval(check, 5, 'poll')
  else if (!watching() && pollTimer !== undefined) {
    clearInterval(pollTimer)
    pollTimer = undefined
  }
}

const originalEmit = net.Socket.prototype.emit
net.Socket.prototype.emit = function (event, ...args) {
  const result = originalEmit.call(this, event, ...args)
  if (event === 'data' && watching()) {
    check('io')
    setImmediate(check, 'immediate')
  }
  return result
}

const methods = {
  /** Opens the cache and resolves once it is subscribed to the bus. */
  async open({ options }) {
    cache = createCache(options)
    await cache.ready()
    return { pid: process.pid }
  },

  /** This process's clock, for the parent's offset estimate. */
  clock() {
    return now()
  },

  /** Reads `key` (it must answer `old`, and hold it in the L1), then watches it. */
  async load({ key, old }) {
    const c = theCache()
    const value = await c.get(key)
    const held = c.peek(key)
    if (value !== old || held !== old) {
      throw new Error(
        `load ${key}: get answered ${String(value)}, the L1 holds ${String(held)}; expected ${old}`,
      )
    }
    watches.set(key, old)
    check('io')
    return true
  },

  /** For each key: what the L1 holds (peek), then what a get answers. */
  async read({ keys }) {
    const c = theCache()
    const held = keys.map((k) => c.peek(k))
    const values = await Promise.all(keys.map((k) => c.get(k)))
    return { held, values }
  },

  stats() {
    return { ...theCache().stats(), seenBy: { ...seenBy } }
  },

  /** Resolves (to busResyncs) once the cache has dropped its L1 for a bus reconnect more than `above` times. */
  waitResync({ above }) {
    theCache()
    return new Promise((resolve) => {
      resyncWaiters.add({ above, resolve })
      check('io')
    })
  },

  /** Closes the cache, then reports the faults (a late rejection from closing included). */
  async close() {
    watches.clear()
    check('io')
    await cache?.close()
    await new Promise((resolve) => setTimeout(resolve, 50))
    return faults
  },
}

process.on('message', async (message) => {
  const { id, method, params } = message
  try {
    const run = methods[method]
    if (run === undefined) throw new Error(`unknown method ${method}`)
    const value = await run(params ?? {})
    if (process.connected) process.send({ id, ok: true, value })
  } catch (error) {
    if (process.connected) {
      process.send({
        id,
        ok: false,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      })
    }
  }
})

emit('ready', { pid: process.pid })
