/**
 * One process of the soak (scripts/soak.mjs, test/integration/resilience/soak.test.ts): a cache
 * on the shared Redis driven by `workers` concurrent loops as fast as they go — the mixed
 * workload of issue 24 — reporting to its parent over the IPC channel of `child_process.fork`.
 *
 * Workload, per operation: 90% getOrSet of a Zipf-distributed key (with its tag), 7% set, 2.5%
 * delete, 0.5% invalidateTags. Each loop yields with setImmediate every `yieldEvery` operations,
 * so the event loop is never idle but its timers and I/O still run (a busy service).
 *
 * parent → child: `{ id, method, params }`; child → parent `{ id, ok, value | error }` and, every
 * `tickMs`, `{ event: 'tick', data }`; `{ event: 'breaker', data: { state, at } }` on each change;
 * `{ event: 'fault', data }` for an unhandled rejection or uncaught exception.
 * `{ event: 'first-l2-hit' | 'first-bus-message', data: { at, after: [marks] } }` once after `mark`s:
 * the first read answered by Redis, and the first invalidation received from the other process
 * (a process ignores its own messages), once Redis answers again.
 * Methods: start(config), mark({ at }), stop().
 */
import { createRequire } from 'node:module'
import os from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { createCache } from '../../dist/index.js'

/**
 * SOAK_TRACE=1: each process prints to stderr, with the epoch ms, its ioredis connections' events
 * (connect, ready, close, reconnecting, error) and why each probe failed — where a recovery's time
 * goes.
 */
const TRACE = process.env.SOAK_TRACE === '1' || process.env.SOAK_GC === '1'
const mb = (bytes) => (bytes / 2 ** 20).toFixed(1)
const trace = (line) => {
  if (TRACE) process.stderr.write(`[trace ${process.pid} ${Date.now()}] ${line}\n`)
}
if (TRACE) {
  try {
    const Redis = createRequire(import.meta.url)('ioredis')
    const emit = Redis.prototype.emit
    Redis.prototype.emit = function (event, ...args) {
      if (['connect', 'ready', 'close', 'reconnecting', 'error', 'end'].includes(event)) {
        const detail =
          event === 'error' ? ` ${args[0]?.message}` : event === 'reconnecting' ? ` in ${args[0]} ms` : ''
        trace(`ioredis ${this.condition?.subscriber ? 'subscriber' : 'client'} ${event}${detail}`)
      }
      return emit.call(this, event, ...args)
    }
  } catch {}
}

/** @type {import('../../dist/index.js').Cache | undefined} */
let cache
let running = false
let ops = 0
/** @type {Map<string, number>} error code → count since the last tick */
let errors = new Map()
/** @type {Map<string, string>} error code → the first message seen since the last tick */
let samples = new Map()
/** Epoch ms from which the next L2 hit is reported (undefined: not waiting). */
/** @type {number[]} */
let firstHitAfter = []
/** Epoch ms from which the next bus message from the other process is reported. */
/** @type {number[]} */
let firstMessageAfter = []
let busMessages = 0
/** How late the event loop ran timers: its longest turn per tick is what L2 deadlines compete with. */
const loopDelay = monitorEventLoopDelay({ resolution: 10 })
let lastL2Hits = 0
/** @type {Promise<void>[]} */
let loops = []

const emit = (event, data) => {
  if (process.connected) process.send({ event, data })
}

const recordFault = (kind, error) =>
  emit('fault', { kind, message: error instanceof Error ? (error.stack ?? error.message) : String(error) })
process.on('unhandledRejection', (reason) => recordFault('unhandledRejection', reason))
process.on('uncaughtException', (error) => recordFault('uncaughtException', error))
process.on('disconnect', () => process.exit(0))

/**
 * SOAK_TRACE: every call the breaker's probe and the repair make on the tier behind the breaker
 * (PING, UNLINK, tag marker scripts…) while the breaker is not closed, when it starts and settles.
 */
function traceRecoveryCalls(cache) {
  const breaker = cache.l2
  const wrap = (target, name, label) => {
    const original = target?.[name]
    if (typeof original !== 'function') return
    let n = 0
    target[name] = function (...args) {
      if (breaker.state === 'closed') return original.apply(this, args)
      const id = `${label}#${++n}`
      trace(`  call ${id} starts`)
      const settled = (outcome) => trace(`  call ${id} ${outcome}`)
      const result = original.apply(this, args)
      result.then(
        () => settled('answered'),
        (error) => settled(`failed: ${error?.message}`),
      )
      return result
    }
  }
  const inner = breaker?.inner
  for (const name of ['ping', 'delete', 'deleteByPrefix', 'setMany']) wrap(inner, name, name)
  for (const name of ['tombstone', 'bumpMarkers', 'touchMarkers']) wrap(inner?.invalidation, name, name)
}

/** Cumulative distribution of a Zipf(s) law over n ranks, for inverse-transform sampling. */
function zipfCdf(n, s) {
  const cdf = new Float64Array(n)
  let sum = 0
  for (let i = 0; i < n; i++) {
    sum += 1 / (i + 1) ** s
    cdf[i] = sum
  }
  for (let i = 0; i < n; i++) cdf[i] /= sum
  return cdf
}

function sampleRank(cdf, u) {
  let lo = 0
  let hi = cdf.length - 1
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (cdf[mid] < u) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * What the client says when a command was in flight as the connection dropped (ioredis: "Reached
 * the max retries per request limit (which is 0)"), or was sent on a dead one.
 */
const CONNECTION_LOST =
  /Connection is closed|ECONNRESET|EPIPE|ECONNREFUSED|Stream isn't writeable|Socket closed|max retries per request/i

function countError(error) {
  let code = typeof error?.code === 'string' ? error.code : `uncoded ${error?.name ?? typeof error}`
  // E_L2 is any failure of Redis: split off the one an outage causes, so the rest stands out.
  if (code === 'E_L2' && CONNECTION_LOST.test(String(error.cause?.message))) code = 'E_L2 (connection lost)'
  errors.set(code, (errors.get(code) ?? 0) + 1)
  if (!samples.has(code)) samples.set(code, `${error?.message} (cause: ${error?.cause?.message ?? 'none'})`)
}

async function loop(config, cdf) {
  const tagOf = (rank) => `t${rank % config.tags}`
  let sinceYield = 0
  while (running) {
    const rank = sampleRank(cdf, Math.random())
    const key = `k${rank}`
    const dice = Math.random()
    try {
      if (dice < 0.9) {
        await cache.getOrSet({ key, factory: () => ({ rank, at: Date.now() }), tags: [tagOf(rank)] })
      } else if (dice < 0.97) {
        await cache.set(key, { rank, at: Date.now() }, { tags: [tagOf(rank)] })
      } else if (dice < 0.995) {
        await cache.delete(key)
      } else {
        await cache.invalidateTags([tagOf(rank)])
      }
    } catch (error) {
      countError(error)
    }
    ops++
    if (++sinceYield >= config.yieldEvery) {
      sinceYield = 0
      await new Promise((resolve) => setImmediate(resolve))
      if (firstHitAfter.length > 0 && cache.stats().l2Hits > lastL2Hits) {
        emit('first-l2-hit', { at: Date.now(), after: firstHitAfter })
        firstHitAfter = []
      }
    }
  }
}

function tick() {
  const stats = cache.stats()
  const memory = process.memoryUsage()
  let heapAfterGc
  if (typeof globalThis.gc === 'function') {
    // SOAK_GC: what is retained after a full collection (a leak grows it; garbage does not).
    globalThis.gc()
    const after = process.memoryUsage()
    heapAfterGc = after.heapUsed
    trace(
      `memory: rss ${mb(memory.rss)} → ${mb(after.rss)} MB after a full GC; heap used ${mb(memory.heapUsed)} → ${mb(after.heapUsed)}, total ${mb(memory.heapTotal)} → ${mb(after.heapTotal)}; external ${mb(after.external)}, buffers ${mb(after.arrayBuffers)}; L1 entries ${stats.l1Entries}, loads in flight ${stats.inFlight}`,
    )
  }
  emit('tick', {
    at: Date.now(),
    ops,
    errors: Object.fromEntries(errors),
    errorSamples: Object.fromEntries(samples),
    breaker: cache.l2 && 'state' in cache.l2 ? cache.l2.state : 'none',
    l2Hits: stats.l2Hits,
    l2Skipped: stats.l2Skipped,
    busMessages,
    pendingRepairs: stats.l2RepairsQueued - stats.l2Repairs - stats.l2RepairsDropped,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    heapAfterGc,
    arrayBuffers: memory.arrayBuffers,
    load: os.loadavg()[0],
    loopDelayMaxMs: loopDelay.max / 1e6,
  })
  loopDelay.reset()
  ops = 0
  busMessages = 0
  errors = new Map()
  samples = new Map()
}

const methods = {
  async start(config) {
    cache = createCache({
      namespace: config.namespace,
      l1: { maxEntries: config.l1Entries },
      l2: { redis: config.url, breaker: { breakDuration: config.breakDuration } },
    })
    cache.on('breaker', ({ state }) => {
      emit('breaker', { state, at: Date.now() })
      trace(`breaker ${state}`)
      // The breaker's error names the probe's failure as its cause.
      if (TRACE && state === 'open') {
        cache.l2.get('\u0000trace').catch((error) => trace(`  because: ${error?.cause?.message}`))
      }
    })
    cache.on('bus-message', () => {
      busMessages++
      if (firstMessageAfter.length === 0) return
      emit('first-bus-message', { at: Date.now(), after: firstMessageAfter })
      firstMessageAfter = []
    })
    if (TRACE) traceRecoveryCalls(cache)
    // As a service does before taking traffic: the first connection is made on an idle loop.
    await cache.ready()
    const cdf = zipfCdf(config.keys, config.zipf)
    running = true
    loops = Array.from({ length: config.workers }, () => loop(config, cdf))
    loopDelay.enable()
    setInterval(tick, config.tickMs).unref()
  },
  mark({ at }) {
    lastL2Hits = cache.stats().l2Hits
    firstHitAfter.push(at)
    firstMessageAfter.push(at)
  },
  async stop() {
    running = false
    await Promise.all(loops)
    const stats = cache.stats()
    await cache.close()
    return stats
  },
}

process.on('message', async ({ id, method, params }) => {
  try {
    const value = await methods[method](params)
    process.send({ id, ok: true, value })
  } catch (error) {
    process.send({ id, ok: false, error: `${error?.code ?? ''} ${error?.message ?? String(error)}` })
  }
})
