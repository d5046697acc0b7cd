#!/usr/bin/env node
/**
 * `npm run soak [-- --duration 5m]`: the load-and-fault harness of issue 24. Two processes share
 * one redis-server (spawned here on a free loopback port, never the machine's own Redis) and run
 * the mixed workload at full CPU (scripts/soak/harness.mjs); Redis is SIGKILLed and restarted
 * 2 s later every minute, and SIGSTOPped for 5 s once. Prints per 10 s ops/s, errors by code,
 * breaker state, L2 hits, RSS and heap, loop lag and load average; at the end, per fault, the time
 * from Redis answering again to the breaker closing, the first L2 hit and the first invalidation
 * from the other process; then the verdict against the acceptance. Exits 1 if any line fails.
 *
 * Options: --duration <5m|90s|ms> (default 5m; faults every minute, or every third of a shorter
 * run), --tick <10s> (report period), --help.
 * Environment: SOAK_TRACE=1 prints each process's connection events, probes and why each failed,
 * and the recovery's calls, with their times (where a recovery's time goes); SOAK_GC=1 runs the
 * processes with --expose-gc and reports, each tick, memory right after a full GC (retained vs
 * garbage; the forced GCs change how the heap grows, so judge RSS on a run without it).
 */
import { spawn } from 'node:child_process'
import net from 'node:net'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { describeRecoveries, runSoak } from './soak/harness.mjs'

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5m' },
    tick: { type: 'string', default: '10s' },
    help: { type: 'boolean', default: false },
  },
})
if (values.help) {
  console.log(`npm run soak [-- --duration 5m] [-- --tick 10s]

Two processes × 32 workers run issue 24's mixed workload at full CPU on one redis-server of their
own (a free loopback port); Redis is SIGKILLed and restarted 2 s later every minute (every third of
a shorter run) and SIGSTOPped for 5 s once. Prints per tick ops/s, breaker state, L2 hits/s, bus
messages, RSS and heap, the longest loop turn and the load average; then per fault the time from
Redis answering to the breaker closing, the first L2 hit and the first invalidation from the other
process, and the verdict on issue 24's acceptance (exit status 1 if a line fails).

  --duration <5m|90s|ms>  length of the run (default 5m; 90s is the shortest with every fault kind)
  --tick <10s>            report period

  SOAK_TRACE=1  per process: connection events, probes and why each failed, the recovery's calls
  SOAK_GC=1     per tick: memory right after a full GC (retained heap vs garbage)`)
  process.exit(0)
}

function ms(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text)
  if (match === null)
    throw new Error(`expected a duration like 5m, 90s or 30000; got ${JSON.stringify(text)}`)
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] ?? 'ms']
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function pong(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'))
    socket.setTimeout(500, () => socket.destroy())
    socket.on('data', (data) => {
      socket.destroy()
      resolve(String(data).startsWith('+PONG'))
    })
    socket.on('error', () => resolve(false))
    socket.on('close', () => resolve(false))
  })
}

/** A redis-server of our own: SIGKILL, restart on the same port, SIGSTOP/SIGCONT. */
function redisServer(port) {
  let child
  const exited = (c) =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r))
  const controller = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: 'ignore',
        },
      )
      child.on('error', (error) => {
        console.error(`could not start redis-server (apt-get install -y redis-server): ${error.message}`)
        process.exit(2)
      })
      const deadline = Date.now() + 10_000
      while (!(await pong(port))) {
        if (Date.now() > deadline)
          throw new Error(`redis-server on port ${port} did not answer PING within 10 s`)
        await new Promise((r) => setTimeout(r, 20))
      }
    },
    async kill() {
      child.kill('SIGKILL')
      await exited(child)
    },
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    async stop() {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited(child)
    },
  }
  process.on('exit', () => child?.kill('SIGKILL'))
  return controller
}

/** SIGKILL + restart every minute (every third of a shorter run), and one SIGSTOP of 5 s between the first two. */
function faultsFor(durationMs) {
  const every = Math.min(60_000, durationMs / 3)
  const faults = []
  for (let at = every; at <= durationMs - every / 2; at += every)
    faults.push({ atMs: at, kind: 'kill', downMs: 2_000 })
  if (faults.length >= 2) faults.push({ atMs: 1.5 * every, kind: 'stop', downMs: 5_000 })
  return faults.sort((a, b) => a.atMs - b.atMs)
}

const durationMs = ms(values.duration)
const redis = redisServer(await freePort())
await redis.start()
console.log(
  `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')} at the start — the machine may be shared: read the load column beside each figure.`,
)
let report
try {
  report = await runSoak({
    redis,
    durationMs,
    faults: faultsFor(durationMs),
    tickMs: ms(values.tick),
    log: (line) => console.log(line),
  })
} finally {
  await redis.stop()
}
console.log(`\n${describeRecoveries(report)}`)
console.log(`\nerrors by code over the run: ${JSON.stringify(report.errorCodes)}`)
for (const [i, m] of report.memory.entries()) {
  const mb = (b) => (b === undefined ? '?' : `${(b / 2 ** 20).toFixed(0)} MB`)
  console.log(
    `process ${i}: RSS ${mb(m.baselineRss)} before the first fault, ${mb(m.lastRss)} at the end (${m.growth === undefined ? '?' : `${(m.growth * 100).toFixed(1)}%`})${m.baselineHeapAfterGc === undefined ? '' : `; heap in use after a full GC ${mb(m.baselineHeapAfterGc)} → ${mb(m.lastHeapAfterGc)}`}`,
  )
}
if ((faultsFor(durationMs)[0]?.atMs ?? Number.POSITIVE_INFINITY) < 60_000) {
  console.log(
    'note: the first fault comes before the first minute, so the RSS baseline is read during warm-up (the L1 still filling, the heap still growing): judge memory on the 5-minute run.',
  )
}
console.log(report.ok ? '\nPASS: every acceptance line holds.' : `\nFAIL:\n  ${report.failures.join('\n  ')}`)
process.exit(report.ok ? 0 : 1)
