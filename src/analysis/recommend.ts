import type { Analyzer } from './analyzer.js'
import type { Shape } from './normalize/index.js'
import { errorBand, type ReplayConfig, replayConfiguration, type SignaturePlan } from './predict.js'
import {
  denseTrace,
  POLICY_NAMES,
  type PolicyName,
  policyCurves,
  simulateHitRatio,
  sizeLadder,
} from './replay.js'
import type {
  AnalysisReport,
  CacheRecommendation,
  Decision,
  HotSet,
  Invalidation,
  Pattern,
  Recommendation,
  SignatureReport,
  TypeReport,
} from './report-model.js'
import { inTimeOrder, type RetainedEvents } from './retained.js'
import type { SignatureStats, TypeStats } from './stats.js'
import { formatDuration, humanDuration, ttlFor } from './ttl.js'

/** `createCache`'s default TTL jitter (±10%), which the prediction's replay applies too. */
const CACHE_JITTER = 0.1
/**
 * What replaying the log cannot know (± hit ratio): the jitter's draws and the real cache's own
 * order of events; test/analysis/real-cache.test.ts measures it under half a point.
 */
const MODEL_ERROR = 0.01

/** The decision matrix's thresholds (docs/analyze.md explains each). */
export const THRESHOLDS = {
  /** Data changing faster than this is not cached (the seed: "Seconds → don't cache"). */
  realTimeMs: 10_000,
  /** Below this share of reads, a type is written more than read: not cached. */
  minReadRatio: 0.5,
  /** Below this, a type is write-heavy: short TTL and write-through. */
  readHeavyRatio: 0.8,
  /** Below this share of re-reads (unbounded cache), caching saves nothing. */
  minReuse: 0.05,
  /** TTLs under this are "short". */
  shortTtlMs: 300_000,
  /** Share of the signatures' reads making the hot set. */
  hotShare: 0.8,
} as const

export interface RecommendOptions {
  readonly file: string
  readonly format: string
  readonly bytes: number
  readonly elapsedMs: number
  /** Default staleness tolerance (ms). */
  readonly maxStalenessMs: number
  /** Per type (or per recommendation name) overrides (ms). */
  readonly maxStalenessByType?: Readonly<Record<string, number>>
  /** The recommended size reaches this share of the hit ratio an unbounded cache would get. */
  readonly target: number
}

const perReadSignature = (s: SignatureStats): number => s.reads

export function buildReport(analyzer: Analyzer, options: RecommendOptions): AnalysisReport {
  analyzer.end()
  // The span without the lines whose times are far off the rest: one epoch-0 line made it decades.
  const range = analyzer.times.range()
  const timed = analyzer.timedEvents > 0 && range.last > range.first
  const spanMs = timed ? range.last - range.first : 0
  const allSignatures = [...analyzer.signatures.values()]
  const names = new Map<SignatureStats, string>()
  const used = new Set<string>()
  for (const s of allSignatures) names.set(s, uniqueName(recommendationName(s), used))

  const readSignatures = allSignatures.filter((s) => s.reads > 0).sort((a, b) => b.reads - a.reads)
  const hot = new Set<SignatureStats>()
  let cumulative = 0
  for (const s of readSignatures) {
    if (cumulative >= THRESHOLDS.hotShare * analyzer.reads) break
    hot.add(s)
    cumulative += s.reads
  }

  const typeReports = new Map<TypeStats, TypeReport>()
  for (const type of analyzer.typeList)
    typeReports.set(type, typeReport(type, spanMs, timed, staleness(type.name, options)))

  const signatureReports: SignatureReport[] = allSignatures
    .sort((a, b) => b.reads + b.writes - (a.reads + a.writes))
    .map((s) => {
      const type = typeReports.get(s.type) as TypeReport
      const name = names.get(s) as string
      return {
        signature: s.signature,
        type: s.type.name,
        shape: s.shape,
        reads: s.reads,
        writes: s.writes,
        share: s.reads > 0 ? s.reads / Math.max(1, analyzer.reads) : s.writes / Math.max(1, analyzer.writes),
        hot: hot.has(s),
        distinctKeys: s.reads > 0 ? s.keys.estimate() : 0,
        meanDurationMs: s.durationCount > 0 ? s.durationSumMs / s.durationCount : null,
        originTimeMs: s.durationCount > 0 ? (s.durationSumMs / s.durationCount) * (s.reads + s.writes) : null,
        meanBytes: s.bytesCount > 0 ? s.bytesSum / s.bytesCount : null,
        example: s.example,
        firstLine: s.firstLine,
        recommendation:
          s.reads > 0
            ? recommend(s, s.type, type, name, timed, spanMs, staleness(name, options, type.maxStalenessMs))
            : null,
      }
    })

  const recommendations = new Map<string, Recommendation | null>(
    signatureReports.map((r) => [r.signature, r.recommendation]),
  )
  const plans = analyzer.signatureList.map((s) => planOf(s, recommendations.get(s.signature) ?? null))

  // The replays see the log in time order, whatever order its lines came in.
  const ordered = timed
    ? inTimeOrder(analyzer.retained(), range.within)
    : { events: analyzer.retained(), backwardJumps: 0, largestJumpMs: 0 }

  return {
    source: { file: options.file, format: options.format, bytes: options.bytes },
    lines: {
      total: analyzer.lines,
      events: analyzer.events,
      reads: analyzer.reads,
      writes: analyzer.writes,
      other: analyzer.others,
      skipped: analyzer.skippedLines,
      malformed: analyzer.malformedLines,
      impossibleValues: analyzer.impossibleValues,
      malformedByReason: Object.fromEntries(analyzer.malformedByReason),
      malformedSamples: analyzer.malformedSamples,
    },
    spanMs,
    timeOutliers: {
      count: range.outliers.length,
      samples: range.outliers.slice(0, 20).map(({ line, time }) => ({ line, time })),
    },
    timed,
    elapsedMs: options.elapsedMs,
    options: { maxStalenessMs: options.maxStalenessMs, target: options.target },
    hotSet: hotSet(analyzer, readSignatures, hot),
    signatures: signatureReports,
    types: [...typeReports.values()].sort((a, b) => b.reads + b.writes - (a.reads + a.writes)),
    timeOrder: { backwardJumps: ordered.backwardJumps, largestJumpMs: ordered.largestJumpMs },
    cache: cacheRecommendation(
      analyzer,
      ordered.events,
      plans,
      timed,
      range.within,
      options.target,
      typeReports,
    ),
    accuracy: { distinctKeysRelativeError: 1.04 / Math.sqrt(4096), samplingRate: analyzer.profiler.rate },
  }
}

function staleness(name: string, options: RecommendOptions, fallback = options.maxStalenessMs): number {
  const byType = options.maxStalenessByType ?? {}
  return Object.hasOwn(byType, name) ? (byType[name] as number) : fallback
}

function typeReport(type: TypeStats, spanMs: number, timed: boolean, maxStalenessMs: number): TypeReport {
  const entities = Math.max(1, type.entities.estimate())
  const changing = type.writesEntity + type.writesBulk
  let entityChange: number | null = null
  let typeChange: number | null = null
  if (timed) {
    // Entity writes spread over the entities, plus bulk writes, each of which may touch any entity.
    const perEntityRate = type.writesEntity / entities / spanMs + type.writesBulk / spanMs
    entityChange = changing === 0 ? Number.POSITIVE_INFINITY : 1 / perEntityRate
    typeChange = type.writes === 0 ? Number.POSITIVE_INFINITY : spanMs / type.writes
  }
  const profile = type.profiler
  const bytes =
    type.readBytesCount > 0
      ? type.readBytesSum / type.readBytesCount
      : type.writeBytesCount > 0
        ? type.writeBytesSum / type.writeBytesCount
        : null
  const originTime =
    type.readDurationCount > 0 ? (type.readDurationSumMs / type.readDurationCount) * type.reads : null
  return {
    type: type.name,
    reads: type.reads,
    writes: type.writes,
    readRatio: type.reads + type.writes === 0 ? 0 : type.reads / (type.reads + type.writes),
    writesByKind: {
      entity: type.writesEntity,
      bulk: type.writesBulk,
      insert: type.writesInsert,
      counter: type.writesCounter,
    },
    distinctKeys: type.readKeys.estimate(),
    entities: type.entities.estimate(),
    entityChangeIntervalMs: entityChange,
    typeChangeIntervalMs: typeChange,
    medianWriteGapMs: type.writeGapsMs.count > 0 ? type.writeGapsMs.quantile(0.5) : null,
    medianReadInterArrivalMs:
      timed && profile.interArrivalMs.count > 0 ? profile.interArrivalMs.quantile(0.5) : null,
    medianReuseDistance: profile.reuseDistance.count > 0 ? profile.reuseDistance.quantile(0.5) : null,
    meanValueBytes: bytes,
    originTimeMs: originTime,
    maxStalenessMs,
    mrc: profile.curve(),
    topKeys: type.topKeys.top(5).map(({ item, count }) => ({ key: item, reads: count })),
    signatures: type.signatures.map((s) => s.signature),
  }
}

function recommend(
  s: SignatureStats,
  stats: TypeStats,
  type: TypeReport,
  name: string,
  timed: boolean,
  spanMs: number,
  maxStalenessMs: number,
): Recommendation {
  const shape: Shape = s.shape
  // A write to the type changes one list (its category, its page…) when writes spread over the
  // lists like reads do: each of the signature's distinct lists changes every (type interval × lists).
  const lists = Math.max(1, s.keys.estimate())
  const changeMs =
    shape === 'list'
      ? (type.typeChangeIntervalMs ?? Number.POSITIVE_INFINITY) * lists
      : (type.entityChangeIntervalMs ?? Number.POSITIVE_INFINITY)
  const ttlMs =
    shape === 'static' && type.writes === 0
      ? ttlFor(Number.POSITIVE_INFINITY, maxStalenessMs)
      : ttlFor(changeMs, maxStalenessMs)
  const reuse = type.mrc.maxHitRatio
  const ttlHitRatio =
    timed && stats.profiler.interArrivalMs.count > 0
      ? reuse * stats.profiler.interArrivalMs.shareBelow(ttlMs)
      : null
  const rw = `${pct(type.readRatio)} reads / ${pct(1 - type.readRatio)} writes`
  const changeText = !timed
    ? 'no timestamps, so no change rate: TTL = the staleness you accept'
    : Number.isFinite(changeMs)
      ? `${shape === 'list' ? `each of its ${lists} lists changes` : `each ${type.type} entity changes`} every ${humanDuration(changeMs)} on average`
      : `no writes to ${type.type} in the log's ${humanDuration(spanMs)}`

  let decision: Decision
  let reason: string
  if (timed && changeMs < THRESHOLDS.realTimeMs) {
    decision = 'dont-cache'
    reason = `real-time data: ${changeText}; a cached copy would be stale almost at once`
  } else if (type.readRatio < THRESHOLDS.minReadRatio) {
    decision = 'dont-cache'
    reason = `written more than read (${rw})`
  } else if (reuse < THRESHOLDS.minReuse) {
    decision = 'dont-cache'
    reason = `keys are rarely read twice: even an unbounded cache would serve ${pct(reuse)} of reads`
  } else if (ttlMs < 1000) {
    decision = 'dont-cache'
    reason = `the staleness you accept (${humanDuration(maxStalenessMs)}) leaves no useful TTL`
  } else if (ttlHitRatio !== null && ttlHitRatio < THRESHOLDS.minReuse) {
    decision = 'dont-cache'
    reason = `re-reads of a key are mostly further apart than the ${formatDuration(ttlMs)} TTL (only ${pct(ttlHitRatio)} of reads would hit)`
  } else if (type.readRatio < THRESHOLDS.readHeavyRatio) {
    decision = 'short-ttl'
    reason = `write-heavy (${rw}): cache briefly and write through`
  } else if (ttlMs < THRESHOLDS.shortTtlMs) {
    decision = 'short-ttl'
    reason = `${changeText}: TTL ${formatDuration(ttlMs)} keeps stale hits near 10%`
  } else {
    decision = 'cache'
    reason = `${rw}; ${changeText}${ttlMs >= maxStalenessMs ? `; TTL capped by the staleness you accept (${humanDuration(maxStalenessMs)})` : ''}`
  }

  return {
    name,
    decision,
    reason,
    ttlMs,
    ttl: formatDuration(ttlMs),
    // Nothing is cached for a don't-cache signature: no pattern, no invalidation to set up.
    ...(decision === 'dont-cache' ? NOTHING_TO_SET_UP : setUp(shape, type)),
    ttlHitRatio,
  }
}

type SetUp = Pick<
  Recommendation,
  'pattern' | 'patternReason' | 'invalidation' | 'invalidationDetail' | 'tags'
>

const NOTHING_TO_SET_UP: SetUp = {
  pattern: null,
  patternReason: '',
  invalidation: null,
  invalidationDetail: '',
  tags: [],
}

/** The pattern and the invalidation of a signature worth caching. */
function setUp(shape: Shape, type: TypeReport): SetUp {
  let pattern: Pattern = 'cache-aside'
  let patternReason = 'read-mostly: load on a miss with getOrSet, delete or tag-invalidate on write'
  if (shape === 'counter' || (type.writes > 0 && type.writesByKind.counter / type.writes > 0.5)) {
    pattern = 'write-behind'
    patternReason =
      'counter updates: accumulate increments in the cache and flush them to the store in batches'
  } else if (type.readRatio < THRESHOLDS.readHeavyRatio) {
    pattern = 'write-through'
    patternReason = `write-heavy (${pct(1 - type.readRatio)} writes): writeThrough keeps the cached copy current instead of dropping it on every write`
  }

  let invalidation: Invalidation
  let invalidationDetail: string
  let tags: string[] = []
  if (shape === 'static') {
    invalidation = 'versioned-url'
    invalidationDetail =
      'the URL changes with the content (hashed file names): never invalidate, let entries age out'
  } else if (type.writes === 0) {
    invalidation = 'ttl-only'
    invalidationDetail = `no writes to ${type.type} seen: the TTL alone bounds staleness`
  } else if (shape === 'list') {
    invalidation = 'tags'
    tags = [type.type]
    invalidationDetail = `a list over ${type.type}: tag entries '${type.type}' and invalidateTags(['${type.type}']) on every write to ${type.type}`
  } else {
    invalidation = 'key-delete'
    invalidationDetail = `one ${type.type} entity per key: delete its key when that entity is written`
  }
  return { pattern, patternReason, invalidation, invalidationDetail, tags }
}

/** What the prediction's replay does with a signature's reads and with the writes to its type. */
function planOf(s: SignatureStats, r: Recommendation | null): SignaturePlan {
  const cached = r !== null && r.decision !== 'dont-cache'
  return {
    cached,
    ttlMs: r?.ttlMs ?? 0,
    type: s.type.index,
    onEntityWrite:
      !cached || r.invalidation !== 'key-delete'
        ? 'none'
        : r.pattern === 'write-through'
          ? 'refresh'
          : 'delete',
    tagged: cached && r.invalidation === 'tags',
  }
}

function hotSet(analyzer: Analyzer, readSignatures: SignatureStats[], hot: Set<SignatureStats>): HotSet {
  const counts = analyzer.profiler.sampleCounts().sort((a, b) => b - a)
  const total = counts.reduce((sum, c) => sum + c, 0)
  const popularity: { keyShare: number; readShare: number }[] = [{ keyShare: 0, readShare: 0 }]
  let keyShareFor80 = 1
  let seen = 0
  const step = Math.max(1, Math.floor(counts.length / 200))
  for (let i = 0; i < counts.length; i++) {
    const before = seen
    seen += counts[i] as number
    if (before < 0.8 * total && seen >= 0.8 * total) keyShareFor80 = (i + 1) / counts.length
    if ((i + 1) % step === 0 || i === counts.length - 1)
      popularity.push({ keyShare: (i + 1) / counts.length, readShare: total === 0 ? 0 : seen / total })
  }
  const hotReads = [...hot].reduce((sum, s) => sum + perReadSignature(s), 0)
  return {
    signatures: readSignatures.filter((s) => hot.has(s)).map((s) => s.signature),
    signatureCount: hot.size,
    totalSignatures: readSignatures.length,
    readShare: analyzer.reads === 0 ? 0 : hotReads / analyzer.reads,
    keyShareFor80,
    popularity,
    topKeys: analyzer.topKeys
      .top(10)
      .map(({ item, count }) => ({ key: item, reads: count, share: count / Math.max(1, analyzer.reads) })),
  }
}

function cacheRecommendation(
  analyzer: Analyzer,
  retained: RetainedEvents,
  plans: readonly SignaturePlan[],
  timed: boolean,
  timeWithin: (time: number) => boolean,
  target: number,
  types: Map<TypeStats, TypeReport>,
): CacheRecommendation {
  // Only the reads of signatures worth caching: a don't-cache signature's reads never reach the cache.
  const cachedRead = (i: number): boolean =>
    (retained.ids[i] as number) >= 0 && (plans[retained.codes[i] as number] as SignaturePlan).cached
  const trace = denseTrace(retained.ids, retained.hashes, retained.rate, cachedRead)
  const cachedSignatures = analyzer.signatureList.filter((s) => (plans[s.index] as SignaturePlan).cached)
  const cachedTypes = analyzer.typeList.filter((t) => cachedSignatures.some((s) => s.type === t))
  const reads = cachedSignatures.reduce((sum, s) => sum + s.reads, 0)
  const lru = analyzer.profiler.curve()
  const distinct = Math.max(1, Math.round(trace.distinct / trace.rate))
  const maxHitRatio = trace.ids.length === 0 ? 0 : 1 - trace.distinct / trace.ids.length
  const ladder = sizeLadder(distinct)
  const policies = trace.ids.length === 0 ? [] : policyCurves(trace, ladder)
  const goal = target * maxHitRatio
  const best = (size: number): { policy: PolicyName; hitRatio: number } => {
    let winner: { policy: PolicyName; hitRatio: number } = { policy: 'w-tinylfu', hitRatio: -1 }
    let preferred = 0
    for (const policy of POLICY_NAMES) {
      const hitRatio = simulateHitRatio(trace, policy, size)
      if (policy === 'w-tinylfu') preferred = hitRatio
      if (hitRatio > winner.hitRatio + 1e-12) winner = { policy, hitRatio }
    }
    // The default policy when it is within half a point of the best.
    return preferred >= winner.hitRatio - 0.005 ? { policy: 'w-tinylfu', hitRatio: preferred } : winner
  }
  let size = distinct
  let reason = ''
  if (trace.ids.length === 0) {
    size = 0
    reason = 'nothing worth caching was read'
  } else {
    // The first ladder size where some policy reaches the goal, then bisection below it.
    let hiIndex = ladder.length - 1
    for (let i = 0; i < ladder.length; i++) {
      if (policies.some((curve) => (curve.points[i]?.hitRatio ?? 0) >= goal)) {
        hiIndex = i
        break
      }
    }
    let hi = ladder[hiIndex] as number
    let lo = hiIndex === 0 ? 1 : (ladder[hiIndex - 1] as number)
    // Bisection with the policy that reached the goal first (one replay per step).
    const leader =
      policies
        .filter((curve) => (curve.points[hiIndex]?.hitRatio ?? 0) >= goal)
        .sort((a, b) => (b.points[hiIndex]?.hitRatio ?? 0) - (a.points[hiIndex]?.hitRatio ?? 0))[0]?.policy ??
      'w-tinylfu'
    for (let step = 0; step < 6 && hi - lo > Math.max(1, hi * 0.03); step++) {
      const mid = Math.round(Math.sqrt(lo * hi))
      if (simulateHitRatio(trace, leader, mid) >= goal) hi = mid
      else lo = mid
    }
    size = niceSize(hi)
    reason = `the smallest size reaching ${pct(target)} of the hit ratio an unbounded cache would get (${pct(maxHitRatio)})`
  }
  const chosen = size === 0 ? { policy: 'w-tinylfu' as PolicyName, hitRatio: 0 } : best(size)
  // The prediction: the recommended configuration (TTLs, invalidations, size, policy) replayed.
  const config: ReplayConfig = {
    plans,
    size,
    policy: chosen.policy,
    timed,
    timeWithin,
    jitter: CACHE_JITTER,
    totalReads: reads,
  }
  const predicted = size === 0 ? 0 : replayConfiguration(retained, config).hitRatio
  const withL2 =
    size === 0 ? 0 : replayConfiguration(retained, { ...config, size: Number.POSITIVE_INFINITY }).hitRatio
  const band = size === 0 ? MODEL_ERROR : errorBand(retained, config, MODEL_ERROR).band
  let bytes = 0
  let known = 0
  for (const t of cachedTypes) {
    const report = types.get(t)
    if (report?.meanValueBytes != null) {
      bytes += report.meanValueBytes * t.reads
      known += t.reads
    }
  }
  return {
    types: cachedTypes.map((t) => t.name),
    signatures: cachedSignatures.length,
    reads,
    lru,
    policies,
    maxHitRatio,
    size,
    policy: chosen.policy,
    predictedHitRatio: predicted,
    errorBand: band,
    capacityHitRatio: chosen.hitRatio,
    withL2HitRatio: withL2,
    overallHitRatio: analyzer.reads === 0 ? 0 : (predicted * reads) / analyzer.reads,
    memoryBytes: known > 0 ? Math.round((bytes / known) * size) : null,
    rate: trace.rate,
    reason,
  }
}

/** Rounds a size up to 2 significant digits (12,345 → 13,000): a number people can paste. */
function niceSize(n: number): number {
  if (n < 100) return n
  const scale = 10 ** (Math.floor(Math.log10(n)) - 1)
  return Math.ceil(n / scale) * scale
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x >= 0.1 || x === 0 ? 0 : 1)}%`
}

/** `SELECT * FROM users WHERE id = ?` → `usersById`; `/api/products?category=:v` → `productsList`. */
export function recommendationName(s: SignatureStats): string {
  const type = camel(s.type.name.replace(/[{}:]/g, ' ')) || 'data'
  const shape = s.shape
  const by = /\bWHERE (?:[\w"]+\.)?"?(\w+)"? = \?/i.exec(s.signature)?.[1]
  if (shape === 'static') return 'staticAsset'
  if (shape === 'entity' && by !== undefined) return `${type}By${capital(camel(by))}`
  if (shape === 'entity') return type
  if (by !== undefined) return `${type}By${capital(camel(by))}`
  const param = /[?&](\w+)=:v/.exec(s.signature)?.[1]
  if (param !== undefined) return `${type}By${capital(camel(param))}`
  return `${type}List`
}

function camel(text: string): string {
  const words = text.split(/[^A-Za-z0-9]+/).filter((w) => w !== '')
  const joined = words.map((w, i) => (i === 0 ? w.toLowerCase() : capital(w.toLowerCase()))).join('')
  return /^[a-z]/.test(joined) ? joined : joined === '' ? '' : `k${joined}`
}

function capital(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

function uniqueName(name: string, used: Set<string>): string {
  let candidate = name
  for (let i = 2; used.has(candidate); i++) candidate = `${name}${i}`
  used.add(candidate)
  return candidate
}
