/**
 * The soak of issue 24, shared by `npm run soak` (scripts/soak.mjs: 5 minutes, a fault a minute)
 * and its shorter CI version (test/integration/resilience/soak.test.ts: one restart). It forks
 * `processes` load processes (scripts/soak/load-process.mjs) on one Redis, injects the faults at
 * their times, gathers what the processes report, and judges the run against the acceptance:
 *
 * - after every fault, each process's breaker closes within `closeWithinMs` of Redis answering
 *   (plus `lagTurns` times the process's longest event-loop turn meanwhile, when given: on a
 *   loop whose turns last seconds, each step of the recovery — the reconnect attempt's timer, the
 *   connection, the probe's round trip — costs up to one turn; the CI version allows for a loaded
 *   machine);
 * - errors only while Redis is down or frozen (from the fault until the breaker closed again,
 *   plus one tick), and only with the codes of an unreachable L2 (`ALLOWED_OUTAGE_CODES`);
 * - no unhandled rejection or uncaught exception in any process;
 * - RSS after the last fault within `rssGrowthLimit` of RSS after the first fault-free window;
 * - each process receives the other's invalidations again after each recovery.
 *
 * The Redis is given as a controller, so the test drives the suite's redis-server helper and the
 * script its own server: `{ url, kill(), start(), pause(), resume() }`, where `start()` resolves
 * once the server answers PING.
 */
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const LOAD_PROCESS = fileURLToPath(new URL('./load-process.mjs', import.meta.url))

/**
 * What an unreachable or frozen Redis may cause: nothing else is acceptable. 'E_L2 (connection
 * lost)' is an E_L2 whose cause is the connection dropping under a call in flight (the SIGKILL).
 */
export const ALLOWED_OUTAGE_CODES = new Set(['E_L2_UNAVAILABLE', 'E_L2_TIMEOUT', 'E_L2 (connection lost)'])

/** The workload of issue 24. */
export const WORKLOAD = {
  workers: 32,
  keys: 50_000,
  zipf: 1,
  tags: 500,
  l1Entries: 10_000,
  yieldEvery: 200,
  /**
   * After a restart the breaker probes as soon as the client reconnects, whatever the break; after
   * a freeze (SIGSTOP: the connection stays, nothing reconnects) only the break's timer probes, so
   * SIGCONT is followed by up to one break before the probe. 1 s keeps that under the 5 s of the
   * acceptance; the default (5 s) cannot.
   */
  breakDuration: '1s',
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function startLoadProcess(index, onEvent) {
  // SOAK_GC=1: each process also reports its memory right after a full GC (retained, not garbage).
  const execArgv = process.env.SOAK_GC === '1' ? ['--expose-gc'] : []
  const child = fork(LOAD_PROCESS, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const pending = new Map()
  let nextId = 1
  child.on('message', (message) => {
    if (message.id !== undefined) {
      const call = pending.get(message.id)
      pending.delete(message.id)
      if (message.ok) call?.resolve(message.value)
      else call?.reject(new Error(`load process ${index}: ${message.error}`))
      return
    }
    onEvent(index, message.event, message.data)
  })
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
  exited.then(({ code, signal }) => {
    for (const call of pending.values()) {
      call.reject(new Error(`load process ${index} exited (code ${code}, signal ${signal})`))
    }
    pending.clear()
  })
  return {
    pid: child.pid,
    exited,
    call(method, params) {
      const id = nextId++
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject })
        child.send({ id, method, params })
      })
    },
    kill: () => child.kill('SIGKILL'),
  }
}

/**
 * @param {{
 *   redis: { url: string; kill(): Promise<void>; start(): Promise<void>; pause(): void; resume(): void }
 *   durationMs: number
 *   faults: { atMs: number; kind: 'kill' | 'stop'; downMs: number }[]
 *   processes?: number
 *   tickMs?: number
 *   closeWithinMs?: number
 *   rssGrowthLimit?: number
 *   namespace?: string
 *   log?: (line: string) => void
 * }} options
 */
export async function runSoak(options) {
  const {
    redis,
    durationMs,
    faults,
    processes = 2,
    tickMs = 10_000,
    closeWithinMs = 5_000,
    lagTurns = 0,
    rssGrowthLimit = 0.15,
    namespace = `soak-${process.pid}`,
    log = () => {},
  } = options
  const startedAt = Date.now()
  /** Per process: ticks, breaker changes, faults; per fault: what each process saw after it. */
  const seen = Array.from({ length: processes }, () => ({ ticks: [], breaker: [], faults: [] }))
  const outages = []
  const onEvent = (index, event, data) => {
    const mine = seen[index]
    if (event === 'tick') {
      mine.ticks.push(data)
      if (index === processes - 1) printTick(log, startedAt, seen)
    } else if (event === 'breaker') {
      mine.breaker.push(data)
      log(`  -- process ${index}: breaker ${data.state} at ${fmtS(data.at - startedAt)}`)
    } else if (event === 'fault') mine.faults.push(data)
    else if (event === 'first-l2-hit' || event === 'first-bus-message') {
      for (const outage of outages.filter((o) => data.after.includes(o.answeredAt))) {
        outage.seen[index][event] ??= data.at
      }
    }
  }
  const children = Array.from({ length: processes }, (_, i) => startLoadProcess(i, onEvent))
  let aborted
  const anyExit = Promise.race(children.map((c, i) => c.exited.then((e) => ({ i, ...e }))))
  anyExit.then(({ i, code, signal }) => {
    aborted ??= `load process ${i} exited early (code ${code}, signal ${signal})`
  })
  try {
    await Promise.all(
      children.map((child) => child.call('start', { ...WORKLOAD, url: redis.url, namespace, tickMs })),
    )
    log(
      `soak: ${processes} processes × ${WORKLOAD.workers} workers on ${redis.url}, breaker break ${WORKLOAD.breakDuration}, ${Math.round(durationMs / 1000)} s, faults: ${faults.map((f) => `${f.kind}@${f.atMs / 1000}s/${f.downMs / 1000}s`).join(', ') || 'none'}`,
    )
    log(header())
    for (const fault of faults) {
      await sleep(startedAt + fault.atMs - Date.now())
      if (aborted !== undefined) break
      const outage = {
        kind: fault.kind,
        downAt: Date.now(),
        answeredAt: 0,
        seen: Array.from({ length: processes }, () => ({})),
      }
      outages.push(outage)
      if (fault.kind === 'kill') {
        await redis.kill()
        await sleep(fault.downMs)
        await redis.start()
      } else {
        redis.pause()
        await sleep(fault.downMs)
        redis.resume()
      }
      outage.answeredAt = Date.now()
      log(
        `  -- ${fault.kind === 'kill' ? 'SIGKILL + restart' : 'SIGSTOP + SIGCONT'} at ${fmtS(outage.downAt - startedAt)}: Redis answers again at ${fmtS(outage.answeredAt - startedAt)}`,
      )
      await Promise.all(children.map((child) => child.call('mark', { at: outage.answeredAt })))
    }
    await sleep(startedAt + durationMs - Date.now())
  } finally {
    const finals = await Promise.allSettled(children.map((child) => child.call('stop')))
    for (const child of children) child.kill()
    if (aborted === undefined) {
      const failed = finals.find((f) => f.status === 'rejected')
      if (failed !== undefined) aborted = String(failed.reason)
    }
  }
  return judge({ seen, outages, startedAt, closeWithinMs, lagTurns, rssGrowthLimit, tickMs, aborted })
}

function judge({ seen, outages, startedAt, closeWithinMs, lagTurns, rssGrowthLimit, tickMs, aborted }) {
  const failures = []
  if (aborted !== undefined) failures.push(aborted)
  const recoveries = outages.map((outage, n) => {
    const perProcess = seen.map((mine, i) => {
      // Recovered: the last close before the next fault, after which the breaker stayed closed
      // (a breaker that closes, then opens again, has not recovered yet).
      const nextDown = outages[n + 1]?.downAt ?? Number.POSITIVE_INFINITY
      const changes = mine.breaker.filter((b) => b.at >= outage.downAt && b.at < nextDown)
      const closedAt = changes.at(-1)?.state === 'closed' ? changes.at(-1).at : undefined
      const opened = changes.some((b) => b.state === 'open')
      const { 'first-l2-hit': firstHit, 'first-bus-message': firstMessage } = outage.seen[i]
      const closeMs = closedAt === undefined ? undefined : Math.max(0, closedAt - outage.answeredAt)
      // The longest loop turn from Redis answering until the tick after the breaker closed.
      const recoveryEnd = (closedAt ?? Number.POSITIVE_INFINITY) + tickMs
      const loopLagMs = Math.round(
        Math.max(
          0,
          ...mine.ticks
            .filter((t) => t.at >= outage.answeredAt && t.at - tickMs <= recoveryEnd)
            .map((t) => t.loopDelayMaxMs),
        ),
      )
      const limitMs = closeWithinMs + lagTurns * loopLagMs
      if (opened && closeMs === undefined) {
        failures.push(`fault ${n + 1} (${outage.kind}): the breaker of process ${i} never closed again`)
      } else if (closeMs !== undefined && closeMs > limitMs) {
        failures.push(
          `fault ${n + 1} (${outage.kind}): the breaker of process ${i} closed ${closeMs} ms after Redis answered (limit ${limitMs} ms${lagTurns > 0 ? ` = ${closeWithinMs} + ${lagTurns} × its longest loop turn, ${loopLagMs} ms` : ''})`,
        )
      }
      if (firstHit === undefined) {
        failures.push(`fault ${n + 1} (${outage.kind}): process ${i} never read from Redis again`)
      }
      if (firstMessage === undefined) {
        failures.push(
          `fault ${n + 1} (${outage.kind}): process ${i} never received the other process's invalidations again`,
        )
      }
      return {
        opened,
        closeMs,
        loopLagMs,
        firstL2HitMs: firstHit === undefined ? undefined : firstHit - outage.answeredAt,
        firstBusMessageMs: firstMessage === undefined ? undefined : firstMessage - outage.answeredAt,
        // Until the breaker closed (or Redis answered, when it never opened), plus one tick.
        errorsUntil: (closedAt ?? outage.answeredAt) + tickMs,
      }
    })
    return { kind: outage.kind, atMs: outage.downAt - startedAt, perProcess }
  })
  const errorCodes = {}
  seen.forEach((mine, i) => {
    for (const fault of mine.faults) failures.push(`process ${i}: ${fault.kind}: ${fault.message}`)
    for (const tick of mine.ticks) {
      const from = tick.at - tickMs
      const outage = outages.findIndex(
        (o, n) => from <= recoveries[n].perProcess[i].errorsUntil && tick.at >= o.downAt,
      )
      for (const [code, count] of Object.entries(tick.errors)) {
        errorCodes[code] = (errorCodes[code] ?? 0) + count
        if (outage === -1) {
          failures.push(
            `process ${i}: ${count} × ${code} at ${fmtS(tick.at - startedAt)}, while Redis was up, e.g. ${tick.errorSamples?.[code]}`,
          )
        } else if (!ALLOWED_OUTAGE_CODES.has(code)) {
          failures.push(
            `process ${i}: ${count} × ${code} at ${fmtS(tick.at - startedAt)} (during fault ${outage + 1}): not a code of an unreachable Redis, e.g. ${tick.errorSamples?.[code]}`,
          )
        }
      }
    }
  })
  const memory = seen.map((mine, i) => {
    const firstFault = outages[0]?.downAt ?? Number.POSITIVE_INFINITY
    const lastFault = outages.at(-1)
    const baseline = mine.ticks.filter((t) => t.at < firstFault).at(-1)
    const last = mine.ticks.at(-1)
    const growth = baseline === undefined || last === undefined ? undefined : last.rss / baseline.rss - 1
    if (lastFault !== undefined && growth !== undefined && growth > rssGrowthLimit) {
      failures.push(
        `process ${i}: RSS grew ${(growth * 100).toFixed(1)}% from ${mb(baseline.rss)} before the first fault to ${mb(last.rss)} at the end (limit ${rssGrowthLimit * 100}%)`,
      )
    }
    return {
      baselineRss: baseline?.rss,
      lastRss: last?.rss,
      growth,
      // With SOAK_GC=1 only: the heap still in use right after a full GC (what a leak would grow).
      baselineHeapAfterGc: baseline?.heapAfterGc,
      lastHeapAfterGc: last?.heapAfterGc,
    }
  })
  return {
    ok: failures.length === 0,
    failures,
    recoveries,
    errorCodes,
    memory,
    ticks: seen.map((s) => s.ticks),
  }
}

/** One summary line of the run's recoveries, for the end of the output. */
export function describeRecoveries(report) {
  const lines = [
    'fault            process  breaker closed  first L2 hit  first bus message  (after Redis answered)  longest loop turn',
  ]
  for (const [n, r] of report.recoveries.entries()) {
    for (const [i, p] of r.perProcess.entries()) {
      lines.push(
        `${`${n + 1}. ${r.kind} @${fmtS(r.atMs)}`.padEnd(17)}${String(i).padEnd(9)}${(p.opened ? ms(p.closeMs) : 'stayed closed').padEnd(16)}${ms(p.firstL2HitMs).padEnd(14)}${ms(p.firstBusMessageMs).padEnd(43)}${ms(p.loopLagMs)}`,
      )
    }
  }
  return lines.join('\n')
}

function header() {
  return 'time    proc   ops/s  breaker    L2 hits/s  bus msgs  RSS MB  heap used/total MB  buffers MB  loop lag  load  errors'
}

function printTick(log, startedAt, seen) {
  const at = Math.max(...seen.map((s) => s.ticks.at(-1)?.at ?? 0))
  for (const [i, mine] of seen.entries()) {
    const tick = mine.ticks.at(-1)
    if (tick === undefined) continue
    const before = mine.ticks.at(-2)
    const seconds = before === undefined ? (tick.at - startedAt) / 1000 : (tick.at - before.at) / 1000
    const l2Rate = (tick.l2Hits - (before?.l2Hits ?? 0)) / seconds
    const errors = Object.entries(tick.errors)
      .map(([code, count]) => `${code}×${count}`)
      .join(' ')
    log(
      `${(i === 0 ? fmtS(at - startedAt) : '').padEnd(8)}${String(i).padEnd(5)}${String(Math.round(tick.ops / seconds)).padStart(7)}  ${tick.breaker.padEnd(10)} ${String(Math.round(l2Rate)).padStart(9)}  ${String(tick.busMessages).padStart(8)}  ${mb(tick.rss).padStart(6)}  ${`${mb(tick.heapUsed)}/${mb(tick.heapTotal)}`.padStart(18)}  ${mb(tick.arrayBuffers).padStart(10)}  ${`${Math.round(tick.loopDelayMaxMs)} ms`.padStart(8)}  ${tick.load.toFixed(2).padStart(4)}  ${errors || '-'}`,
    )
  }
}

const fmtS = (msValue) => `${(msValue / 1000).toFixed(1)}s`
const mb = (bytes) => (bytes / 2 ** 20).toFixed(0)
const ms = (value) => (value === undefined ? 'never' : `${value} ms`)
