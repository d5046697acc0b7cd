import type { MalformedSample } from './analyzer.js'
import type { MissRatioCurve } from './mrc/reuse-profiler.js'
import type { Shape } from './normalize/index.js'
import type { PolicyName } from './replay.js'

export type Decision = 'cache' | 'short-ttl' | 'dont-cache'
export type Pattern = 'cache-aside' | 'write-through' | 'write-behind'
export type Invalidation = 'key-delete' | 'tags' | 'ttl-only' | 'versioned-url'

/** Everything `analyze` found, as one JSON-serialisable document (`--json` prints it). */
export interface AnalysisReport {
  readonly source: { readonly file: string; readonly format: string; readonly bytes: number }
  readonly lines: {
    readonly total: number
    readonly events: number
    readonly reads: number
    readonly writes: number
    /** Statements or commands that are neither (BEGIN, PING, OPTIONS…). */
    readonly other: number
    /** Well-formed lines without an access (headers, blank lines, checkpoint messages). */
    readonly skipped: number
    readonly malformed: number
    /** Durations and sizes larger than any real one (over 2^53, a corrupted field): left out of every mean. */
    readonly impossibleValues: number
    readonly malformedByReason: Readonly<Record<string, number>>
    readonly malformedSamples: readonly MalformedSample[]
  }
  /** First to last timestamp, ms (0 when the log has no times), the {@link timeOutliers} left out. */
  readonly spanMs: number
  /**
   * Lines whose timestamps lie far outside the others' (a corrupted or epoch-0 line): left out of
   * `spanMs`, of every rate and interval derived from it, and of the prediction's clock.
   */
  readonly timeOutliers: {
    readonly count: number
    /** Up to 20 of them, earliest first then latest first. */
    readonly samples: readonly { readonly line: number; readonly time: number }[]
  }
  readonly timed: boolean
  /**
   * Whether the log is in time order (rotated files concatenated newest first are not): steps back
   * of more than a minute between the events the replays keep. The replays sort them; the re-read
   * and write-gap medians see the lines as they come.
   */
  readonly timeOrder: { readonly backwardJumps: number; readonly largestJumpMs: number }
  readonly elapsedMs: number
  readonly options: { readonly maxStalenessMs: number; readonly target: number }
  readonly hotSet: HotSet
  readonly signatures: readonly SignatureReport[]
  readonly types: readonly TypeReport[]
  readonly cache: CacheRecommendation
  /** Error bounds of the sketches, for the reader of the numbers. */
  readonly accuracy: {
    readonly distinctKeysRelativeError: number
    /** 1 when the overall miss-ratio curve is exact. */
    readonly samplingRate: number
  }
}

export interface HotSet {
  /** Signatures that carry 80% of reads, most read first. */
  readonly signatures: readonly string[]
  readonly signatureCount: number
  readonly totalSignatures: number
  /** Share of reads they carry (≥ 0.8). */
  readonly readShare: number
  /** Share of distinct keys that receive 80% of reads (from the key sample). */
  readonly keyShareFor80: number
  /** Popularity curve: share of keys (most read first) vs share of reads, about 100 points. */
  readonly popularity: readonly { readonly keyShare: number; readonly readShare: number }[]
  readonly topKeys: readonly { readonly key: string; readonly reads: number; readonly share: number }[]
}

export interface SignatureReport {
  readonly signature: string
  readonly type: string
  readonly shape: Shape
  readonly reads: number
  readonly writes: number
  /** Share of all reads (for read signatures) or all writes. */
  readonly share: number
  readonly hot: boolean
  readonly distinctKeys: number
  readonly meanDurationMs: number | null
  readonly originTimeMs: number | null
  readonly meanBytes: number | null
  readonly example: string
  readonly firstLine: number
  readonly recommendation: Recommendation | null
}

export interface Recommendation {
  readonly name: string
  readonly decision: Decision
  readonly reason: string
  readonly ttlMs: number
  readonly ttl: string
  /** null for a don't-cache signature (nothing to set up). */
  readonly pattern: Pattern | null
  readonly patternReason: string
  /** null for a don't-cache signature. */
  readonly invalidation: Invalidation | null
  readonly invalidationDetail: string
  readonly tags: readonly string[]
  /** Share of this signature's reads a cache with this TTL could serve (capacity unlimited), or null. */
  readonly ttlHitRatio: number | null
}

export interface TypeReport {
  readonly type: string
  readonly reads: number
  readonly writes: number
  /** reads / (reads + writes). */
  readonly readRatio: number
  readonly writesByKind: {
    readonly entity: number
    readonly bulk: number
    readonly insert: number
    readonly counter: number
  }
  readonly distinctKeys: number
  readonly entities: number
  /** Mean time between changes of one entity (ms): entity writes spread over the entities, plus bulk writes. Infinity: no change seen. */
  readonly entityChangeIntervalMs: number | null
  /** Mean time between any two writes to the type (what list queries see). */
  readonly typeChangeIntervalMs: number | null
  /** Median observed gap between two writes to the same entity, or null. */
  readonly medianWriteGapMs: number | null
  readonly medianReadInterArrivalMs: number | null
  readonly medianReuseDistance: number | null
  readonly meanValueBytes: number | null
  readonly originTimeMs: number | null
  readonly maxStalenessMs: number
  readonly mrc: MissRatioCurve
  readonly topKeys: readonly { readonly key: string; readonly reads: number }[]
  readonly signatures: readonly string[]
}

export interface CacheRecommendation {
  /** Types with a signature worth caching. */
  readonly types: readonly string[]
  /** How many signatures are worth caching. */
  readonly signatures: number
  /** Reads of those signatures (the reads of don't-cache signatures are not counted). */
  readonly reads: number
  /** Overall LRU miss-ratio curve of every read (exact or SHARDS). */
  readonly lru: MissRatioCurve
  /** Each L1 policy on the cached signatures' reads, replayed through the simulator (capacity misses only). */
  readonly policies: readonly {
    readonly policy: PolicyName
    readonly points: readonly { readonly size: number; readonly hitRatio: number }[]
  }[]
  /** Hit ratio of an unbounded cache on those reads. */
  readonly maxHitRatio: number
  readonly size: number
  readonly policy: PolicyName
  /**
   * The prediction: the log's reads of the cached signatures and its writes replayed through the
   * L1 store `createCache` runs, configured as recommended — TTLs (jittered as the cache does),
   * invalidation on each write, size and policy. A share of those reads.
   */
  readonly predictedHitRatio: number
  /** ± around the prediction (as a fraction): model error plus, on a key sample, ~2 standard errors. */
  readonly errorBand: number
  /** Capacity misses only (no TTL, no invalidation), through the simulator: the table's number. */
  readonly capacityHitRatio: number
  /** With an L2 that keeps every entry until its TTL or invalidation (L1 + Redis): share of reads that never reach the origin. */
  readonly withL2HitRatio: number
  /** Share of all reads the cache would serve. */
  readonly overallHitRatio: number
  readonly memoryBytes: number | null
  readonly rate: number
  readonly reason: string
}
