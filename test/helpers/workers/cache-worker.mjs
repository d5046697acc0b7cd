/**
 * A child process that holds one stratacache instance (built package, dist/) and runs getOrSet
 * calls on the parent's command, over the IPC channel of `child_process.fork`. Driven by
 * test/helpers/worker-pool.ts; the protocol:
 *
 * - parent → worker `{ id, method, params }`; worker → parent `{ id, ok: true, value }` or
 *   `{ id, ok: false, error }`.
 * - worker → parent `{ event, data }` for what the parent may wait on: 'factory-started',
 *   'factory-finished', 'fault' (an unhandledRejection or uncaughtException here).
 *
 * Methods: open({ options }), warm(), arm({ keys, factoryMs }), go(), stats(), faults(), close(),
 * inject({ kind }) (provokes a fault, to test the recorder).
 * `arm` prepares the calls without starting them; `go` starts them all in the same tick, so the
 * calls of several workers overlap when the parent sends 'go' to each in turn.
 *
 * Timestamps are epoch milliseconds with sub-millisecond precision (performance.timeOrigin +
 * performance.now()), comparable across processes on one machine.
 */
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

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

/** @type {import('../../../dist/index.js').Cache | undefined} */
let cache
let factoryCalls = 0
/** @type {{ keys: string[]; factoryMs: number } | undefined} */
let armed

function theCache() {
  if (cache === undefined) throw new Error('call open first')
  return cache
}

const methods = {
  open({ options }) {
    cache = createCache(options)
    return { pid: process.pid }
  },

  /** One round trip of each kind the calls will make, so no connection is opened during them. */
  async warm() {
    const c = theCache()
    await c.set('__warm', process.pid)
    await c.get('__warm', { skipL1: true })
    await c.getOrSet({ key: `__warm:${process.pid}`, factory: () => 1 })
    return c.stats().l2Hits
  },

  arm({ keys, factoryMs }) {
    armed = { keys, factoryMs }
    return keys.length
  },

  async go() {
    const c = theCache()
    if (armed === undefined) throw new Error('call arm first')
    const { keys, factoryMs } = armed
    armed = undefined
    const factory = async (ctx) => {
      const n = ++factoryCalls
      emit('factory-started', { key: ctx.key, at: now(), n })
      await sleep(factoryMs, ctx.signal)
      emit('factory-finished', { key: ctx.key, at: now(), n })
      return { key: ctx.key, pid: process.pid, n }
    }
    const startedAt = now()
    // All calls start in this tick: none waits for another to be issued.
    const calls = keys.map((key) => {
      const start = now()
      return c.getOrSet({ key, factory }).then(
        (value) => ({ key, ok: true, value, ms: now() - start, end: now() }),
        (error) => ({ key, ok: false, error: error?.code ?? String(error), ms: now() - start, end: now() }),
      )
    })
    const results = await Promise.all(calls)
    /** Distinct values each key was answered with, as JSON. */
    const values = {}
    for (const r of results) {
      if (!r.ok) continue
      const json = JSON.stringify(r.value)
      values[r.key] ??= []
      if (!values[r.key].includes(json)) values[r.key].push(json)
    }
    return {
      pid: process.pid,
      calls: results.length,
      answered: results.filter((r) => r.ok && r.value !== undefined).length,
      errors: results.filter((r) => !r.ok).map((r) => `${r.key}: ${r.error}`),
      values,
      factoryCalls,
      startedAt,
      maxMs: Math.max(...results.map((r) => r.ms)),
      lastEnd: Math.max(...results.map((r) => r.end)),
      stats: c.stats(),
    }
  },

  stats() {
    return { ...theCache().stats(), factoryCalls }
  },

  faults() {
    return faults
  },

  /** For the helper's own test: provokes an unhandled rejection or an uncaught exception here. */
  inject({ kind }) {
    if (kind === 'unhandledRejection') Promise.reject(new Error('injected rejection'))
    else
      setTimeout(() => {
        throw new Error('injected exception')
      }, 0)
    return kind
  },

  /** Closes the cache, then reports the faults (a late rejection from closing included). */
  async close() {
    await cache?.close()
    await sleep(50)
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
