// `npm run bench:ab -- <ref> [<ref> …]` (= build, then `node bench/ab.js …`): this checkout's
// build against the build of each git ref (default HEAD~1), side by side in one run.
//
//   node bench/ab.js 0c3f423 main          this build vs the one before the core split and vs main
//   options: --quick (fewer rounds and forks, ioredis only)  --rounds=N  --forks=N (fresh processes
//   per build, default 5)  --warmup-ops=N (operations before the first round, default 20,000)
//   --only=l1,l2,miss,write  --pin=false (no CPU pinning)  --a=<ref> (A = that ref's build instead of
//   this checkout's dist/)
//
// Each ref is extracted with `git archive` into $TMPDIR/stratacache-ab/<sha> (no worktree, no
// change to the repository) and built there with this checkout's node_modules (`tsc -p
// tsconfig.build.json`); the build is reused by later runs. Every case runs the SAME case code
// (bench/cases/*.js, from this checkout) against each build (BENCH_DIST), in several fresh
// processes per build, one fork after the other (see runCase). After a warm-up of each, measured
// rounds alternate between the builds in rotating order (A B, B A, …), one process at a time, so
// a shared machine's drift hits both alike. Reported: each
// build's median with the spread of its rounds (± half the inter-quartile range), and the median
// of the per-round ratios this/ref with its quartiles, for the wall time and for the process's
// CPU time per op (less disturbed by a loaded machine); the load average beside every case.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { median } from './lib/common.js'
import { describePlacement, nodeCommand, pinProcess, placement } from './lib/pinning.js'
import { startRedis } from './lib/redis-server.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.join(here, '..')
const argv = process.argv.slice(2)
const flags = Object.fromEntries(
  argv
    .filter((a) => a.startsWith('--'))
    .map((a) => {
      const [k, v = 'true'] = a.slice(2).split('=')
      return [k, v]
    }),
)
const refs = argv.filter((a) => !a.startsWith('--'))
if (refs.length === 0) refs.push('HEAD~1')
const quick = flags.quick === 'true'
const only = flags.only ? new Set(flags.only.split(',')) : undefined
/**
 * Pinning (bench/lib/pinning.js; default on a machine with 2+ CPUs and `taskset`; `--pin=false`
 * turns it off): redis-server on the last CPU, every measured process on the others (`--pin=same`:
 * all on the last CPU). Where a process runs relative to redis-server decides its sequential
 * latency on this VM: on another CPU, each round trip pays a cross-CPU wake-up (seen: a get miss
 * 131 µs, against 17 µs on the same CPU). Unpinned, the scheduler's choice lasts a process's whole
 * life — seen as one build's sequential reads at 4–6× the other's, round after round, which no
 * alternation of rounds can cancel. Pinned, both builds pay the same.
 */
const where = placement(flags.pin)
/** The goal: this build within 5% of each ref on every path measured. */
const LIMIT = 1.05
/** Fresh processes per build and case (`--forks=N`; see runCase). */
const FORKS = 5
/** Operations each process runs before its first measured round (`--warmup-ops=N`; see warmUp in bench/lib/common.js). */
const WARMUP_OPS = 20_000

/**
 * Rounds per case (divided among the forks): the L1 cases spread by ±2–4% over rounds, the L2 reads
 * by ±3–8%, the cold and miss paths by ±5–9% (each of them writes new keys: Redis and the L1 grow,
 * collections fall unevenly): at 15 rounds a cold getOrSet's median ratio against the same build
 * moved between 0.93 and 1.05 from run to run, too coarse for a 5% limit.
 */
const CASES = [
  { case: 'l1', title: 'L1 get hit', impl: 'strata-get', rounds: 21 },
  { case: 'l1', title: 'L1 getOrSet hit', impl: 'strata-getOrSet', rounds: 21 },
  { case: 'l2', title: 'L2 get hit (no L1), ioredis', impl: 'strata-ioredis', rounds: 25, redis: true },
  {
    case: 'l2',
    title: 'L2 get hit (no L1), redis',
    impl: 'strata-redis',
    rounds: 25,
    redis: true,
    full: true,
  },
  {
    case: 'miss',
    title: 'L2 hit via getOrSet (L1 miss, backfill), ioredis',
    impl: 'l2hit-getOrSet',
    rounds: 40,
    redis: true,
  },
  {
    case: 'miss',
    title: 'cold getOrSet (L1 + L2 miss, factory, store), ioredis',
    impl: 'cold-getOrSet',
    rounds: 40,
    redis: true,
  },
  {
    case: 'miss',
    title: 'cold getOrSet, redis',
    impl: 'cold-getOrSet@redis',
    rounds: 40,
    redis: true,
    full: true,
  },
  { case: 'miss', title: 'get miss (L1 + L2), ioredis', impl: 'miss-get', rounds: 40, redis: true },
  {
    case: 'write',
    title: 'set / delete (L1 + L2, bus on), ioredis',
    impl: 'strata-ioredis',
    rounds: 25,
    redis: true,
  },
].filter((c) => (!only || only.has(c.case)) && !(quick && c.full))

const git = (...args) => spawnSync('git', args, { cwd: root, encoding: 'utf8' })

/** Extracts and builds `ref`; returns { label, dist }. */
function build(ref) {
  const resolved = git('rev-parse', '--verify', `${ref}^{commit}`)
  if (resolved.status !== 0) throw new Error(`git cannot resolve ${ref}: ${resolved.stderr.trim()}`)
  const sha = resolved.stdout.trim()
  const subject = git('log', '-1', '--format=%s', sha).stdout.trim().slice(0, 60)
  const dir = path.join(os.tmpdir(), 'stratacache-ab', sha)
  const dist = path.join(dir, 'dist')
  if (!existsSync(path.join(dist, 'index.js'))) {
    console.log(`building ${ref} (${sha.slice(0, 7)}) in ${dir} …`)
    rmSync(dir, { recursive: true, force: true })
    mkdirSync(dir, { recursive: true })
    const archive = spawnSync('sh', ['-c', `git archive ${sha} | tar -x -C '${dir}'`], {
      cwd: root,
      stdio: 'inherit',
    })
    if (archive.status !== 0) throw new Error(`git archive ${sha} failed`)
    symlinkSync(realpathSync(path.join(root, 'node_modules')), path.join(dir, 'node_modules'))
    const tsc = spawnSync(
      process.execPath,
      [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: dir,
        stdio: 'inherit',
      },
    )
    if (tsc.status !== 0 || !existsSync(path.join(dist, 'index.js'))) {
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`building ${ref} failed`)
    }
  }
  return { label: `${ref} (${sha.slice(0, 7)}: ${subject})`, short: ref, dist }
}

const MARK = '@@bench '
const live = new Set()

/** One case process for one build, driven over stdin/stdout (bench/lib/common.js `serve`). */
function child(kase, impl, env) {
  const argv = [path.join(here, 'cases', `${kase}.js`), impl]
  const { command, args } = nodeCommand(argv, where?.measured)
  const proc = spawn(command, args, {
    env: { ...process.env, ...env, BENCH_DRIVEN: '1' },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  live.add(proc)
  const waiting = []
  let stderr = ''
  let buffered = ''
  proc.stdout.setEncoding('utf8')
  proc.stdout.on('data', (chunk) => {
    buffered += chunk
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      if (line.startsWith(MARK)) waiting.shift()?.resolve(JSON.parse(line.slice(MARK.length)))
    }
  })
  proc.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000)
  })
  proc.on('exit', (code) => {
    live.delete(proc)
    for (const w of waiting.splice(0))
      w.reject(new Error(`${impl} exited (${code}): ${stderr.trim().slice(-600)}`))
  })
  proc.stdin.on('error', () => {})
  const next = () => new Promise((resolve, reject) => waiting.push({ resolve, reject }))
  return {
    ready: next(),
    command(line) {
      const reply = next()
      proc.stdin.write(`${line}\n`)
      return reply
    },
  }
}

function quartile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1) + 0.5))]
}

function spread(rounds) {
  const s = [...rounds].sort((a, b) => a - b)
  return ((quartile(s, 0.75) - quartile(s, 0.25)) / 2 / median(s)) * 100
}

function fmtTime(ns) {
  if (ns < 1_000) return `${ns.toFixed(0)} ns`
  if (ns < 1_000_000) return `${(ns / 1000).toFixed(ns < 10_000 ? 2 : 1)} µs`
  return `${(ns / 1e6).toFixed(2)} ms`
}

const load = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')

/**
 * Runs one case against every build; returns rows, one per measurement.
 *
 * Forks (as JMH runs each benchmark in several fresh JVMs): a process's steady state differs from
 * another's of the same build — where the heap lands, what the JIT inlined — by as much as the
 * 5% under test (seen: two processes of one build settled 15% apart on sequential L2 reads, each
 * steady over 100,000 reads). Measured in one process per build, that luck is fixed for the whole
 * run and no number of rounds cancels it: a run's verdict then says which processes were lucky.
 * So each build gets `forks` fresh processes, one fork after the other (both builds' processes
 * side by side within a fork, started in rotating order), each warmed up to at least
 * `warmupOps` operations, with the case's rounds divided among the forks.
 */
async function runCase(kase, builds, redisUrl) {
  const rounds = Number(flags.rounds ?? (quick ? Math.ceil(kase.rounds / 2) : kase.rounds))
  const forks = Math.max(1, Math.min(rounds, Number(flags.forks ?? (quick ? 2 : FORKS))))
  const warmupOps = Number(flags['warmup-ops'] ?? WARMUP_OPS)
  const loadBefore = load()
  const rows = new Map()
  const misses = []
  let done = 0
  for (let f = 0; f < forks; f++) {
    const share = Math.round(((f + 1) * rounds) / forks) - done
    done += share
    const procs = new Array(builds.length)
    for (let k = 0; k < builds.length; k++) {
      const i = (k + f) % builds.length
      const p = child(kase.case, kase.impl, {
        BENCH_DIST: builds[i].dist,
        ...(redisUrl ? { BENCH_REDIS_URL: redisUrl } : {}),
      })
      const ready = await p.ready
      procs[i] = { ...p, names: ready.names }
    }
    for (const name of procs[0].names) {
      if (!rows.has(name))
        rows.set(name, { name, ns: builds.map(() => []), cpu: builds.map(() => []), fork: [] })
      const row = rows.get(name)
      for (let k = 0; k < procs.length; k++)
        await procs[(k + f) % procs.length].command(`warmup ${name} ${warmupOps}`)
      for (let r = 0; r < share; r++) {
        for (let k = 0; k < procs.length; k++) {
          const i = (k + r + f) % procs.length
          const measured = await procs[i].command(`round ${name}`)
          row.ns[i].push(measured.ns)
          if (k === 0) row.fork.push(f)
          row.cpu[i].push(measured.cpu)
        }
      }
    }
    // A build whose reads missed (its setup's writes timed out on a loaded machine, its breaker
    // opened) measured something else than the others: say so beside its figures.
    for (const [i, p] of procs.entries()) {
      const finished = await p.command('finish').catch(() => undefined)
      if (typeof finished?.extra?.misses === 'number' && finished.extra.misses > 0)
        misses.push(`${String.fromCharCode(65 + i)} missed ${finished.extra.misses} reads (fork ${f + 1})`)
    }
  }
  return { rows: [...rows.values()], rounds, forks, warmupOps, loadBefore, loadAfter: load(), misses }
}

async function main() {
  const head = git('rev-parse', '--short', 'HEAD').stdout.trim()
  const dirty = git('status', '--porcelain', '--', 'src').stdout.trim() !== ''
  // --a=<ref>: A is that ref's build rather than this checkout's dist/ (which a rebuild would change mid-run).
  const a = flags.a
    ? { ...build(flags.a), short: 'A' }
    : {
        label: `this checkout (${head}${dirty ? ' + uncommitted src/' : ''})`,
        short: 'this',
        dist: path.join(root, 'dist'),
      }
  const builds = [a, ...refs.map(build)]
  if (!existsSync(path.join(root, 'dist', 'index.js')))
    throw new Error('dist/ is missing: run npm run build first')
  const redis = CASES.some((c) => c.redis) ? await startRedis() : undefined
  if (redis) pinProcess(redis.pid, where?.redis)
  const cleanup = () => {
    for (const p of live) p.kill('SIGKILL')
    redis?.killNow()
  }
  process.on('exit', cleanup)
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130))

  console.log(
    `stratacache A/B — node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
  )
  for (const [i, b] of builds.entries()) console.log(`  ${String.fromCharCode(65 + i)} = ${b.label}`)
  if (redis) console.log(`  redis-server ${redis.version} on 127.0.0.1:${redis.port} (private)`)
  console.log(`  ${describePlacement(where)}`)
  console.log(`load average at start: ${load()}`)
  console.log(
    'Same case code against each build; rounds alternate (A B, B A, …) in fresh processes per fork. Times: median ± spread of the rounds.',
  )
  console.log(`Ratio: median of per-round ratios A / ref [quartiles]; goal ≤ ${LIMIT}×.\n`)

  const results = []
  for (const kase of CASES) {
    let outcome
    try {
      outcome = await runCase(kase, builds, redis?.url)
    } catch (error) {
      console.log(`${kase.title}: FAILED ${error.message}`)
      results.push({ title: kase.title, failed: error.message })
      continue
    }
    for (const row of outcome.rows) {
      const cells = (values) =>
        values
          .map((v, i) => `${String.fromCharCode(65 + i)} ${fmtTime(median(v))} ±${spread(v).toFixed(0)}%`)
          .join('   ')
      const ratiosOf = (values) =>
        builds.slice(1).map((b, j) => {
          const r = values[0].map((a, k) => a / values[j + 1][k]).sort((x, y) => x - y)
          return { ref: b.short, median: median(r), lo: quartile(r, 0.25), hi: quartile(r, 0.75) }
        })
      const verdict = (r) =>
        `A/${r.ref} ${r.median.toFixed(3)}× [${r.lo.toFixed(2)}–${r.hi.toFixed(2)}] ${r.median <= LIMIT ? 'PASS' : 'MISS'}${r.lo <= LIMIT && LIMIT <= r.hi ? ' (limit inside the quartiles)' : ''}`
      const ratios = ratiosOf(row.ns)
      // CPU time per op (this process, user + system): on a loaded machine, waiting for a core
      // inflates the wall time but not this — the client-side cost of each build.
      const cpuRatios = ratiosOf(row.cpu)
      console.log(
        `${kase.title} — ${row.name}, ${outcome.rounds} rounds in ${outcome.forks} forks, load ${outcome.loadBefore} → ${outcome.loadAfter}`,
      )
      if (outcome.misses.length > 0)
        console.log(`  WARNING: ${outcome.misses.join(', ')} (expected hits): not comparable`)
      console.log(`  wall ${cells(row.ns)}`)
      for (const r of ratios) console.log(`    ${verdict(r)}`)
      console.log(`  cpu  ${cells(row.cpu)}`)
      for (const r of cpuRatios) console.log(`    ${verdict(r)}`)
      // Each fork's median CPU time per build: how far one process's steady state sits from another's.
      if (outcome.forks > 1) {
        const perFork = (values) =>
          Array.from({ length: outcome.forks }, (_, f) => values.filter((_, r) => row.fork[r] === f))
            .filter((v) => v.length > 0)
            .map((v) => fmtTime(median(v)))
            .join(' ')
        console.log(
          `  cpu by fork: ${row.cpu.map((v, i) => `${String.fromCharCode(65 + i)} ${perFork(v)}`).join(' | ')}`,
        )
      }
      results.push({ title: kase.title, measurement: row.name, ratios, cpuRatios })
    }
  }
  await redis?.stop()
  const all = results.flatMap((r) => r.ratios ?? [])
  const passed = all.filter((r) => r.median <= LIMIT).length
  const cpuAll = results.flatMap((r) => r.cpuRatios ?? [])
  const cpuPassed = cpuAll.filter((r) => r.median <= LIMIT).length
  console.log(
    `\n${passed}/${all.length} comparisons within ${LIMIT}× (wall), ${cpuPassed}/${cpuAll.length} (cpu); load average at end: ${load()}`,
  )
  for (const r of results) if (r.failed) console.log(`WARNING ${r.title}: ${r.failed}`)
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
