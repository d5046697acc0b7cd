// `npm run bench` (= build, then `node bench/run.js`): runs every case, each implementation in its
// own child process (`node bench/cases/<case>.js <impl>`), prints the tables and the PASS/MISS
// goals, and writes bench/results.json.
//
// Options: --only=l1,l2,batch,serializer,write   --rounds=N (measured rounds per measurement)
//          --pin=apart|same|false|<CPU list> (default apart: redis-server on the last CPU, the
//          implementations' processes on the others; see bench/lib/pinning.js)
//
// Method: all implementations of a group are started (one child each, set up one after the
// other), each warms up and calibrates its loop size, then the runner asks for measured rounds
// in rotating order (A B C, B C A, C A B, …), one child running at a time, over the children's
// stdin/stdout. Absolute figures are medians of the rounds; ratios are medians of the per-round
// ratios of neighbouring rounds, so slow drift of a shared machine cancels out.
import { spawn, spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { median } from './lib/common.js'
import { describePlacement, nodeCommand, pinProcess, placement } from './lib/pinning.js'
import { startRedis } from './lib/redis-server.js'
import { reportWrite } from './lib/write-report.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v = 'true'] = a.replace(/^--/, '').split('=')
    return [k, v]
  }),
)
const only = args.only ? new Set(args.only.split(',')) : undefined
const roundsOverride = args.rounds === undefined ? undefined : Number(args.rounds)
/** Every implementation's process on the same CPUs (one placement for all: see bench/lib/pinning.js). */
const where = placement(args.pin)

const GROUPS = [
  {
    case: 'l1',
    title: 'L1 hit path (memory only, 10,000 resident keys, seeded random order)',
    rounds: 15,
    impls: [
      'floor',
      'strata-get',
      'strata-getOrSet',
      'bento-get',
      'bento-get-noser',
      'bento-getOrSet',
      'bento-getOrSet-noser',
      'cacheable',
      'cache-manager',
      'cache-manager-cacheablememory',
      'lru-sync',
      'strata-peek',
      'strata-getOrSet-resilient',
      'strata-getOrSet-plain',
      'strata-getOrSet-metrics-on',
      'strata-getOrSet-metrics-off',
      // Informational: the hit path under other L1 eviction policies (the goals use the default).
      'strata-get@sieve',
      'strata-peek@sieve',
      'strata-peek@lru',
    ],
  },
  {
    case: 'l2',
    title: 'L2 hit path (no L1; ~490 B product; sequential, and 100 in flight)',
    rounds: 21,
    redis: true,
    impls: ['raw-ioredis', 'strata-ioredis', 'raw-redis', 'strata-redis', 'bento', 'raw-redis-notimeout'],
  },
  {
    case: 'batch',
    title: 'Batching (1,000 concurrent cache.get in one tick vs one explicit pipeline)',
    rounds: 15,
    redis: true,
    impls: ['pipeline-ioredis', 'strata-ioredis', 'pipeline-redis', 'strata-redis'],
  },
  {
    case: 'write',
    title: 'set / delete / invalidateTags, ~490 B product, 1 h TTL; sequential, and 64 in flight',
    rounds: 11,
    redis: true,
    impls: ['raw-ioredis', 'strata-ioredis', 'raw-redis', 'strata-redis', 'bento'],
  },
  {
    case: 'serializer',
    title: 'Serializers (encode + decode round trip)',
    rounds: 15,
    impls: ['json-bytes', 'tagged-json', 'json-string', 'msgpack'],
  },
]

const MARK = '@@bench '
const COMMAND_TIMEOUT_MS = 120_000

/** One implementation's process, driven over stdin/stdout (see bench/lib/common.js `serve`). */
class Child {
  constructor(group, impl, env) {
    this.impl = impl
    this.stderr = ''
    this.waiting = []
    const { command, args: argv } = nodeCommand(
      [path.join(here, 'cases', `${group}.js`), impl],
      where?.measured,
    )
    this.child = spawn(command, argv, {
      env: { ...process.env, ...env, BENCH_DRIVEN: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let buffered = ''
    this.child.stdout.setEncoding('utf8')
    this.child.stdout.on('data', (chunk) => {
      buffered += chunk
      let nl = buffered.indexOf('\n')
      while (nl >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        nl = buffered.indexOf('\n')
        if (line.startsWith(MARK)) this.waiting.shift()?.resolve(JSON.parse(line.slice(MARK.length)))
      }
    })
    this.child.stderr.on('data', (d) => {
      this.stderr = (this.stderr + d).slice(-4000)
    })
    this.child.on('exit', (code, signal) => {
      this.exited = true
      const error = new Error(
        `exited (${code ?? signal}): ${this.stderr.trim().split('\n').slice(-4).join(' | ')}`,
      )
      for (const w of this.waiting.splice(0)) w.reject(error)
    })
    this.child.stdin.on('error', () => {})
  }

  #next() {
    if (this.exited)
      return Promise.reject(new Error(`exited: ${this.stderr.trim().split('\n').slice(-4).join(' | ')}`))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error('timed out'))
        this.kill()
      }, COMMAND_TIMEOUT_MS)
      this.waiting.push({
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
    })
  }

  ready() {
    return this.#next()
  }

  command(line) {
    const reply = this.#next()
    this.child.stdin.write(`${line}\n`)
    return reply
  }

  kill() {
    if (!this.exited) this.child.kill('SIGKILL')
  }
}

const live = new Set()

/** Runs one group; resolves to { impl: { describe, measurements: { name: { ops, rounds, cpu, median, cpuMedian } }, …extra } }. */
async function runGroup(group, env, errors) {
  const rounds = roundsOverride ?? group.rounds
  const out = {}
  const children = []
  for (const impl of group.impls) {
    const child = new Child(group.case, impl, env)
    live.add(child)
    try {
      const ready = await child.ready()
      child.names = ready.names
      out[impl] = { describe: ready.describe, measurements: {} }
      children.push(child)
    } catch (error) {
      errors.push(`${group.case}/${impl}: setup ${error.message}`)
      child.kill()
    }
  }
  const failed = new Set()
  const attempt = async (child, what, fn) => {
    if (failed.has(child)) return
    try {
      await fn()
    } catch (error) {
      failed.add(child)
      errors.push(`${group.case}/${child.impl}: ${what} ${error.message}`)
      child.kill()
    }
  }
  const names = [...new Set(children.flatMap((c) => c.names))]
  for (const name of names) {
    const part = children.filter((c) => c.names.includes(name))
    for (const child of part) {
      await attempt(child, `warmup ${name}`, async () => {
        const warm = await child.command(`warmup ${name}`)
        out[child.impl].measurements[name] = { ops: warm.ops, rounds: [], cpu: [] }
      })
    }
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < part.length; k++) {
        const child = part[(k + r) % part.length]
        await attempt(child, `round ${name}`, async () => {
          const reply = await child.command(`round ${name}`)
          const m = out[child.impl].measurements[name]
          m.rounds.push(reply.ns)
          m.cpu.push(reply.cpu)
        })
      }
    }
    for (const child of part) {
      const m = out[child.impl].measurements[name]
      if (m) Object.assign(m, { median: median(m.rounds), cpuMedian: median(m.cpu) })
    }
  }
  for (const child of children) {
    await attempt(child, 'finish', async () => {
      const final = await child.command('finish')
      Object.assign(out[child.impl], final.extra)
    })
    live.delete(child)
  }
  for (const child of children) if (failed.has(child)) delete out[child.impl]
  return out
}

/**
 * Per-round ratios a[r] / b[r] (round r of every implementation ran within one rotation):
 * { value: median, lo, hi: quartiles }. A Number, so it formats and compares as the median.
 */
function paired(a, b) {
  if (!a?.rounds?.length || !b?.rounds?.length) return undefined
  const n = Math.min(a.rounds.length, b.rounds.length)
  const ratios = []
  for (let r = 0; r < n; r++) ratios.push(a.rounds[r] / b.rounds[r])
  ratios.sort((x, y) => x - y)
  const q = (f) => ratios[Math.round(f * (n - 1))]
  return Object.assign(new Number(median(ratios)), { lo: q(0.25), hi: q(0.75) })
}

// ---- formatting --------------------------------------------------------------------------

function fmtTime(ns) {
  if (ns === undefined || Number.isNaN(ns)) return 'n/a'
  if (ns < 1_000) return `${ns.toFixed(0)} ns`
  if (ns < 1_000_000) return `${(ns / 1000).toFixed(ns < 10_000 ? 2 : 1)} µs`
  return `${(ns / 1e6).toFixed(2)} ms`
}

function fmtRate(perSecond) {
  if (perSecond === undefined || Number.isNaN(perSecond)) return 'n/a'
  if (perSecond >= 1e6) return `${(perSecond / 1e6).toFixed(2)} M/s`
  if (perSecond >= 1e3) return `${(perSecond / 1e3).toFixed(1)} k/s`
  return `${perSecond.toFixed(0)} /s`
}

function fmtRatio(value) {
  const r = Number(value)
  if (value === undefined || !Number.isFinite(r)) return 'n/a'
  return `${r >= 10 ? r.toFixed(1) : r.toFixed(2)}×`
}

function fmtBytes(n) {
  return n >= 10_000 ? `${(n / 1024).toFixed(1)} KiB` : `${Math.round(n)} B`
}

/** Spread of the rounds as ±% of the median (half the inter-quartile range). */
function spread(m) {
  if (!m?.rounds?.length) return ''
  const s = [...m.rounds].sort((x, y) => x - y)
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]
  return `±${(((q(0.75) - q(0.25)) / 2 / m.median) * 100).toFixed(0)}%`
}

function table(headers, rows) {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i] ?? '').length)))
  const line = (cells) =>
    `  ${cells
      .map((c, i) => String(c ?? '').padEnd(widths[i]))
      .join('  ')
      .trimEnd()}`
  return [line(headers), line(widths.map((w) => '─'.repeat(w))), ...rows.map(line)].join('\n')
}

// ---- goals -------------------------------------------------------------------------------

const goals = []
/** kind 'max': pass when ratio ≤ limit; 'min': pass when ratio ≥ limit. */
function goal(id, text, measured, kind, limit, detail = '', unit = '×') {
  const ratio = measured === undefined ? undefined : Number(measured)
  const known = ratio !== undefined && Number.isFinite(ratio)
  const pass = known && (kind === 'max' ? ratio <= limit : ratio >= limit)
  // Quartiles of the per-round ratios: when the limit lies between them, the verdict is within noise.
  const lo = measured?.lo
  const hi = measured?.hi
  goals.push({
    id,
    text,
    value: known ? ratio : null,
    quartiles: lo === undefined ? null : [lo, hi],
    unit,
    limit,
    kind,
    status: known ? (pass ? 'PASS' : 'MISS') : 'N/A',
    withinNoise: lo !== undefined && lo <= limit && limit <= hi,
    detail,
  })
}

function fmtQ(x) {
  return x < 10 ? x.toFixed(2) : x.toFixed(1)
}

function fmtGoalValue(g) {
  if (g.value === null) return 'n/a'
  if (g.unit !== '×') return `${g.value} ${g.unit}`
  return g.value < 10 ? `${g.value.toFixed(3)}×` : fmtRatio(g.value)
}

/** The commit measured, and whether src/ differed from it (dist/ is built from the working tree). */
function gitDescribe() {
  const git = (...a) => spawnSync('git', a, { cwd: path.join(here, '..'), encoding: 'utf8' })
  const head = git('rev-parse', '--short', 'HEAD')
  if (head.status !== 0) return 'unknown commit'
  const dirty = git('status', '--porcelain', '--', 'src').stdout.trim()
  return `${head.stdout.trim()}${dirty ? ' + uncommitted changes in src/' : ''}`
}

// ---- main --------------------------------------------------------------------------------

async function main() {
  const startedAt = Date.now()
  try {
    const { DEFAULTS } = await import('../dist/index.js')
    defaultPolicy = DEFAULTS.l1Policy ?? 'n/a'
  } catch {}
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    platform: `${os.platform()} ${os.release()}`,
    loadavgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
    commit: gitDescribe(),
    placement: describePlacement(where),
  }
  let groups = GROUPS.filter((g) => !only || only.has(g.case))
  let redis
  const skipped = []
  if (groups.some((g) => g.redis)) {
    try {
      redis = await startRedis()
      pinProcess(redis.pid, where?.redis)
      meta.redis = `redis-server ${redis.version} on 127.0.0.1:${redis.port} (private, --save '' --appendonly no)`
    } catch (error) {
      skipped.push(
        `L2 and batching cases skipped: could not start redis-server (${error.message.split('\n')[0]})`,
      )
      groups = groups.filter((g) => !g.redis)
    }
  }
  const cleanup = () => {
    for (const child of live) child.kill()
    redis?.killNow()
  }
  process.on('exit', cleanup)
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      cleanup()
      process.exit(130)
    })
  }

  console.log(`stratacache benchmarks — node ${meta.node}, ${meta.cpus}, ${meta.platform}`)
  console.log(`stratacache at ${meta.commit}`)
  console.log(`load average at start: ${meta.loadavgAtStart.join(' ')}${meta.redis ? `; ${meta.redis}` : ''}`)
  console.log(meta.placement)
  console.log(
    'Each implementation in its own process; after a warm-up, measured rounds run in rotating order, one process at a time.',
  )
  console.log('Times are medians of the rounds; ratios are medians of per-round ratios.\n')

  const results = {}
  const errors = []
  meta.rounds = {}
  for (const group of groups) {
    const t0 = Date.now()
    meta.rounds[group.case] = roundsOverride ?? group.rounds
    results[group.case] = await runGroup(group, redis ? { BENCH_REDIS_URL: redis.url } : {}, errors)
    console.log(
      `ran ${group.case}: ${group.impls.length} implementations × ${meta.rounds[group.case]} rounds in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    )
  }
  await redis?.stop()
  console.log('')

  if (results.l1) reportL1(results.l1)
  if (results.l2) reportL2(results.l2)
  if (results.batch) reportBatch(results.batch)
  if (results.write) {
    const title = GROUPS.find((g) => g.case === 'write').title
    const helpers = { title, table, fmtTime, fmtRate, fmtRatio, spread, paired, goal, loadavg: os.loadavg }
    reportWrite(results.write, helpers)
  }
  if (results.serializer) reportSerializer(results.serializer)

  const misses = Object.entries(results).flatMap(([c, r]) =>
    Object.entries(r)
      .filter(([, v]) => v.misses > 0)
      .map(([impl, v]) => `${c}/${impl}: ${v.misses} reads found nothing`),
  )
  console.log('Goals')
  console.log(
    table(
      ['', 'goal', 'measured', 'limit', 'round ratios IQR', 'detail (medians)'],
      goals.map((g) => [
        g.status,
        g.text,
        fmtGoalValue(g),
        `${g.kind === 'max' ? '≤' : '≥'} ${g.limit}${g.unit === '×' ? '×' : ` ${g.unit}`}`,
        g.quartiles
          ? `${fmtQ(g.quartiles[0])}–${fmtQ(g.quartiles[1])}${g.withinNoise ? ' (limit inside)' : ''}`
          : '',
        g.detail,
      ]),
    ),
  )
  const passed = goals.filter((g) => g.status === 'PASS').length
  console.log(
    `\n${passed}/${goals.length} goals pass. Total ${((Date.now() - startedAt) / 1000).toFixed(0)} s.`,
  )
  for (const line of [...skipped, ...errors, ...misses]) console.log(`WARNING ${line}`)

  meta.seconds = Math.round((Date.now() - startedAt) / 1000)
  meta.loadavgAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)))
  const file = path.join(here, 'results.json')
  const rounded = JSON.stringify({ meta, goals, errors, results }, (_, v) =>
    typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(5)) : v,
  )
  writeFileSync(file, `${JSON.stringify(JSON.parse(rounded), null, 2)}\n`)
  // Keep the file in the repository's format (`npm run lint` checks bench/); best effort.
  spawnSync(path.join(here, '..', 'node_modules', '.bin', 'biome'), ['format', '--write', file], {
    stdio: 'ignore',
  })
  console.log(`Wrote ${path.relative(process.cwd(), file)}`)
  if (errors.length > 0) process.exitCode = 1
}

const LABELS = {
  floor: 'floor: await (async () => lru.get(k))()',
  'strata-get': 'stratacache await cache.get(k)',
  'strata-getOrSet': 'stratacache await cache.getOrSet({ key, factory })',
  'bento-get': 'BentoCache get (memoryDriver, serialize: true = default)',
  'bento-get-noser': 'BentoCache get (memoryDriver, serialize: false)',
  'bento-getOrSet': 'BentoCache getOrSet (serialize: true = default)',
  'bento-getOrSet-noser': 'BentoCache getOrSet (serialize: false)',
  cacheable: 'cacheable get (new Cacheable())',
  'cache-manager': 'cache-manager get (createCache(): Keyv over a Map)',
  'cache-manager-cacheablememory': 'cache-manager get (Keyv over CacheableMemory)',
  'lru-sync': 'lru-cache lru.get(k), sync',
  'strata-peek': 'stratacache cache.peek(k), sync',
  'strata-get@sieve': "stratacache await cache.get(k), l1.policy 'sieve'",
  'strata-peek@sieve': "stratacache cache.peek(k), l1.policy 'sieve'",
  'strata-peek@lru': "stratacache cache.peek(k), l1.policy 'lru'",
  'raw-ioredis': 'raw ioredis getBuffer + JSON.parse',
  'strata-ioredis': "stratacache get, client 'ioredis'",
  'raw-redis': 'raw node-redis get (Buffer) + JSON.parse',
  'raw-redis-notimeout': 'raw node-redis, commandOptions.timeout 0 (info)',
  'strata-redis': "stratacache get, client 'redis'",
  bento: 'BentoCache get (redisDriver only, ioredis)',
  'pipeline-ioredis': 'ioredis pipeline() of 1000 GETs + JSON.parse',
  'pipeline-redis': 'node-redis multi().execAsPipeline() of 1000 GETs + JSON.parse',
  'json-bytes': 'JSON + bytes: Buffer.from(stringify) / parse(toString)',
  'tagged-json': 'TaggedJsonSerializer (default)',
  'json-string': 'JSON strings only: stringify / parse',
  msgpack: 'MsgpackSerializer (@msgpack/msgpack)',
}

let defaultPolicy = 'unknown'

function reportL1(r) {
  const m = (impl) => r[impl]?.measurements.hit
  const t = (impl) => m(impl)?.median
  const sync = ['lru-sync', 'strata-peek', 'strata-peek@sieve', 'strata-peek@lru']
  const rows = Object.keys(LABELS)
    .filter((impl) => r[impl] && !sync.includes(impl))
    .map((impl) => [
      LABELS[impl],
      fmtTime(t(impl)),
      spread(m(impl)),
      fmtRate(1e9 / t(impl)),
      fmtRatio(paired(m(impl), m('floor'))),
      fmtRatio(paired(m(impl), m('strata-get'))),
    ])
  for (const impl of sync) {
    if (r[impl]) {
      rows.push([
        LABELS[impl],
        fmtTime(t(impl)),
        spread(m(impl)),
        fmtRate(1e9 / t(impl)),
        '',
        `${fmtRatio(paired(m(impl), m('lru-sync')))} lru.get`,
      ])
    }
  }
  console.log(`L1 hit path — ${GROUPS[0].title}; default l1.policy: ${defaultPolicy}`)
  console.log(table(['implementation', 'per op', 'IQR', 'ops/s', '× floor', '× strata get'], rows))
  console.log('')

  const get = m('strata-get')
  const getOrSet = m('strata-getOrSet')
  // Against BentoCache, its faster memory configuration (serialize: false) when it is faster.
  const fastest = (a, b) => ((t(a) ?? Infinity) <= (t(b) ?? Infinity) ? a : b)
  const bentoGet = fastest('bento-get', 'bento-get-noser')
  const bentoGetOrSet = fastest('bento-getOrSet', 'bento-getOrSet-noser')
  const vs = (a, b) => `${fmtTime(t(a))} vs ${fmtTime(t(b))}`
  goal(
    '1a',
    'L1: cache.get hit vs bare async floor',
    paired(get, m('floor')),
    'max',
    3,
    vs('strata-get', 'floor'),
  )
  goal(
    '1b',
    'L1: cache.getOrSet hit vs bare async floor',
    paired(getOrSet, m('floor')),
    'max',
    3,
    vs('strata-getOrSet', 'floor'),
  )
  goal(
    '1c',
    `L1: get faster than BentoCache get (${bentoGet === 'bento-get' ? 'default' : 'serialize: false'})`,
    paired(m(bentoGet), get),
    'min',
    10,
    vs(bentoGet, 'strata-get'),
  )
  goal(
    '1d',
    `L1: getOrSet faster than BentoCache getOrSet (${bentoGetOrSet === 'bento-getOrSet' ? 'default' : 'serialize: false'})`,
    paired(m(bentoGetOrSet), getOrSet),
    'min',
    10,
    vs(bentoGetOrSet, 'strata-getOrSet'),
  )
  goal(
    '1e',
    'L1: get faster than cacheable get',
    paired(m('cacheable'), get),
    'min',
    10,
    vs('cacheable', 'strata-get'),
  )
  goal(
    '1f',
    'L1: get faster than cache-manager 7 default store (Keyv Map)',
    paired(m('cache-manager'), get),
    'min',
    2,
    vs('cache-manager', 'strata-get'),
  )
  goal(
    '1g',
    'L1: cache.peek vs lru-cache get (sync)',
    paired(m('strata-peek'), m('lru-sync')),
    'max',
    1.5,
    vs('strata-peek', 'lru-sync'),
  )
  if (m('strata-getOrSet-resilient') && m('strata-getOrSet-plain')) {
    goal(
      '1h',
      'L1: getOrSet hit, every resilience feature on vs off (issue 4: ≤ 1.10)',
      paired(m('strata-getOrSet-resilient'), m('strata-getOrSet-plain')),
      'max',
      1.1,
      vs('strata-getOrSet-resilient', 'strata-getOrSet-plain'),
    )
  }
  if (m('strata-getOrSet-metrics-on') && m('strata-getOrSet-metrics-off')) {
    // Time off / time on = throughput on / throughput off.
    goal(
      '1i',
      'L1: getOrSet hit throughput, metrics on vs off (issue 7: ≥ 0.9)',
      paired(m('strata-getOrSet-metrics-off'), m('strata-getOrSet-metrics-on')),
      'min',
      0.9,
      vs('strata-getOrSet-metrics-on', 'strata-getOrSet-metrics-off'),
    )
  }
}

function reportL2(r) {
  const seq = (impl) => r[impl]?.measurements.sequential
  const conc = (impl) => r[impl]?.measurements.concurrent
  const tput = (impl) => (conc(impl) ? 1e9 / conc(impl).median : undefined)
  const rows = ['raw-ioredis', 'strata-ioredis', 'raw-redis', 'strata-redis', 'bento', 'raw-redis-notimeout']
    .filter((impl) => r[impl])
    .map((impl) => {
      const raw = impl === 'bento' ? 'raw-ioredis' : `raw-${impl.split('-')[1]}`
      const c = r[impl].commands
      return [
        LABELS[impl],
        fmtTime(seq(impl).median),
        spread(seq(impl)),
        fmtTime(seq(impl).cpuMedian),
        fmtRatio(paired(seq(impl), seq(raw))),
        fmtRate(tput(impl)),
        spread(conc(impl)),
        fmtTime(conc(impl).cpuMedian),
        fmtRatio(paired(conc(raw), conc(impl))),
        c
          ? `${((c.get + c.mget) / c.reads).toFixed(3)} (${c.mget ? `${(c.reads / c.mget).toFixed(0)} keys/MGET` : 'GET'})`
          : '',
      ]
    })
  console.log(`L2 hit path — ${GROUPS[1].title}`)
  console.log(
    table(
      [
        'implementation',
        'sequential',
        'IQR',
        'CPU/op',
        '× raw',
        '100 in flight',
        'IQR',
        'CPU/op',
        '× raw',
        'cmds/read',
      ],
      rows,
    ),
  )
  console.log(
    '  (× raw: against the raw client of the same library; BentoCache against raw ioredis, which it uses)',
  )
  if (r['raw-redis-notimeout']) {
    console.log(
      `  node-redis without its per-command timeout (an AbortSignal.timeout per command; default 5 s): ${fmtRate(tput('raw-redis-notimeout'))} with 100 in flight,` +
        ` ${fmtRatio(paired(conc('raw-redis'), conc('raw-redis-notimeout')))} node-redis with it and ${fmtRatio(paired(conc('raw-ioredis'), conc('raw-redis-notimeout')))} ioredis;` +
        ` sequential ${fmtTime(seq('raw-redis-notimeout').median)}.`,
    )
  }
  const ioVsRedis = paired(conc('raw-redis'), conc('raw-ioredis'))
  const strataIoVsRedis = paired(conc('strata-redis'), conc('strata-ioredis'))
  console.log(
    `  client comparison, 100 in flight: raw ioredis ${fmtRate(tput('raw-ioredis'))} vs raw node-redis ${fmtRate(tput('raw-redis'))} (ioredis ${fmtRatio(ioVsRedis)});` +
      ` through stratacache ${fmtRate(tput('strata-ioredis'))} vs ${fmtRate(tput('strata-redis'))} (ioredis ${fmtRatio(strataIoVsRedis)}).`,
  )
  console.log(
    `  sequential: raw ioredis ${fmtTime(seq('raw-ioredis')?.median)} vs raw node-redis ${fmtTime(seq('raw-redis')?.median)} (node-redis ${fmtRatio(paired(seq('raw-redis'), seq('raw-ioredis')))} ioredis's latency).`,
  )
  console.log('')
  for (const client of ['ioredis', 'redis']) {
    const s = `strata-${client}`
    const raw = `raw-${client}`
    goal(
      `2a-${client}`,
      `L2 (${client}): sequential get latency vs raw GET + decode`,
      paired(seq(s), seq(raw)),
      'max',
      1.1,
      `${fmtTime(seq(s)?.median)} vs ${fmtTime(seq(raw)?.median)}`,
    )
    goal(
      `2b-${client}`,
      `L2 (${client}): 100-in-flight throughput vs raw client`,
      paired(conc(raw), conc(s)),
      'min',
      0.9,
      `${fmtRate(tput(s))} vs ${fmtRate(tput(raw))}`,
    )
    goal(
      `2c-${client}`,
      `L2 (${client}): 100-in-flight throughput vs BentoCache L2`,
      paired(conc('bento'), conc(s)),
      'min',
      2,
      `${fmtRate(tput(s))} vs ${fmtRate(tput('bento'))}`,
    )
  }
}

function reportBatch(r) {
  const m = (impl) => r[impl]?.measurements.burst
  const rows = ['pipeline-ioredis', 'strata-ioredis', 'pipeline-redis', 'strata-redis']
    .filter((impl) => r[impl])
    .map((impl) => {
      const pipe = `pipeline-${impl.split('-')[1]}`
      const c = r[impl].commands
      return [
        LABELS[impl] ?? impl,
        fmtTime(m(impl).median),
        spread(m(impl)),
        fmtRate((1000 * 1e9) / m(impl).median),
        fmtTime(m(impl).cpuMedian),
        fmtRatio(paired(m(pipe), m(impl))),
        impl.startsWith('pipeline')
          ? `1 (${c.get} GETs)`
          : `${c.get + c.mget} (${c.mget} MGET + ${c.get} GET)`,
      ]
    })
  console.log(`Batching — ${GROUPS[2].title}`)
  console.log(
    table(
      ['implementation', 'per 1,000', 'IQR', 'keys/s', 'CPU/1,000', '× pipeline tput', 'round trips'],
      rows,
    ),
  )
  console.log('')
  for (const client of ['ioredis', 'redis']) {
    const s = r[`strata-${client}`]
    const p = r[`pipeline-${client}`]
    if (!s || !p) continue
    const trips = s.commands.get + s.commands.mget
    goal(
      `3a-${client}`,
      `Batch (${client}): round trips (GET + MGET calls) for 1,000 gets`,
      trips,
      'max',
      10,
      `${s.commands.mget} MGET + ${s.commands.get} GET; ⌈1000/100⌉ = 10`,
      'trips',
    )
    goal(
      `3b-${client}`,
      `Batch (${client}): throughput vs explicit pipeline`,
      paired(m(`pipeline-${client}`), m(`strata-${client}`)),
      'min',
      0.9,
      `${fmtTime(m(`strata-${client}`).median)} vs ${fmtTime(m(`pipeline-${client}`).median)} per 1,000`,
    )
  }
}

function reportSerializer(r) {
  const shapes = ['100B', '500B', '2KB', 'array1000']
  const names = { '100B': '~100 B', '500B': '~500 B', '2KB': '~2 KB', array1000: '1,000 × 500 B array' }
  const m = (impl, shape) => r[impl]?.measurements[shape]
  const rows = []
  for (const shape of shapes) {
    for (const impl of ['json-bytes', 'tagged-json', 'json-string', 'msgpack']) {
      if (!m(impl, shape)) continue
      rows.push([
        names[shape],
        LABELS[impl],
        fmtBytes(r[impl].bytes[shape]),
        fmtTime(m(impl, shape).median),
        spread(m(impl, shape)),
        fmtRatio(paired(m(impl, shape), m('json-bytes', shape))),
        fmtRatio(paired(m(impl, shape), m('json-string', shape))),
      ])
    }
  }
  console.log(`Serializers — ${GROUPS[3].title}`)
  console.log('  baseline "JSON + bytes" includes the string↔Buffer conversion that every L2 value needs')
  console.log(
    table(['value', 'serializer', 'size', 'round trip', 'IQR', '× JSON+bytes', '× JSON strings'], rows),
  )
  const a = m('msgpack', 'array1000')
  const j = m('json-bytes', 'array1000')
  if (a && j) {
    const ab = r.msgpack.bytes.array1000
    const jb = r['json-bytes'].bytes.array1000
    console.log(
      `  msgpack on the 1,000-object array: ${fmtBytes(ab)} vs ${fmtBytes(jb)} of JSON (${((ab / jb) * 100).toFixed(0)}% of the size); round trip ${fmtTime(a.median)} vs ${fmtTime(j.median)} (${fmtRatio(paired(a, j))} JSON's time).`,
    )
  }
  console.log('')
  for (const shape of ['100B', '500B', '2KB']) {
    const t = m('tagged-json', shape)
    const b = m('json-bytes', shape)
    goal(
      `4-${shape}`,
      `Serializer ${names[shape]}: default (tagged JSON) vs JSON + bytes`,
      paired(t, b),
      'max',
      1.0,
      t && b ? `${fmtTime(t.median)} vs ${fmtTime(b.median)}` : '',
    )
  }
}

main().catch((error) => {
  console.error(error)
  process.exitCode = 1
})
