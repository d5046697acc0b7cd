import { DEFAULTS } from '../base/defaults.js'
/**
 * Health over a sliding window, and the alerts it raises. The window is made of samples the cache
 * takes when asked (`health()`, `snapshot()`) and once a second while something watches it
 * (dashboard, publishing): rates are differences between the newest sample and the oldest one
 * still inside the window, so a condition that ends clears its alert once it leaves the window.
 */
import type { RemoteInfo } from '../tiers/tier.js'
import { LatencyHistogram, mergeHistograms } from './histogram.js'
import type { Alert, AlertName, CacheHealth, HealthStatus, RedisMemory } from './types.js'

/** The seed's thresholds, as defaults (`createCache({ observability: { alerts: { … } } })`). */
export interface AlertThresholds {
  /** Hit ratio over the window below this fires `low-hit-ratio`. Default 0.7. */
  hitRatioBelow: number
  /** Reads needed in the window before the hit ratio is judged. Default 100. */
  minReads: number
  /** Redis used/max memory, or L1 usage, above this fires `memory-high`. Default 0.9. */
  memoryAbove: number
  /** L1 evictions plus Redis evicted_keys per second above this fires `evictions-high`. Default 10. */
  evictionsPerSecondAbove: number
  /** p99 of reads (getOrSet, get) above this many seconds fires `latency-high`. Default 0.005 (5 ms). */
  p99Above: number
}

export const DEFAULT_THRESHOLDS: Readonly<AlertThresholds> = DEFAULTS.alerts

interface Sample {
  at: number
  hits: number
  misses: number
  evictions: number
  redisEvicted: number | undefined
  /** The Redis run the counts above come from (its `run_id`), if known. */
  redisRun: string | undefined
  reads: Float64Array
}

/**
 * How much a counter of Redis grew from one sample to the next, like Prometheus' increase(): all
 * of `count` when Redis restarted in between (its counters start again from 0) — known by a new
 * run id, or, without run ids, by a count below the one before (CONFIG RESETSTAT does that too).
 * The count alone misses a restart whose new count already exceeds the old one.
 */
function counterIncrease(
  previous: { count: number; run: string | undefined },
  count: number,
  run: string | undefined,
): number {
  const restarted = previous.run !== undefined && run !== undefined && previous.run !== run
  return restarted || count < previous.count ? count : count - previous.count
}

/** Cumulative figures at one moment, from the cache. */
export interface HealthInputs {
  now: number
  hits: number
  misses: number
  l1Evictions: number
  readHistograms: readonly LatencyHistogram[]
  l1?: { entries: number; bytes: number; maxEntries: number; maxBytes: number }
  l2?: {
    breaker: 'closed' | 'open' | 'half-open'
    /** On a Redis Cluster: its masters, each with its own breaker's state. */
    masters?: readonly { address: string; breaker: 'closed' | 'open' | 'half-open' }[]
    /**
     * Redis' last INFO answer and when it came (the cache's clock): the figures' age is judged
     * from `at`, whatever object carries them (a tier may answer the same object twice).
     */
    read: InfoRead | undefined
    /**
     * Whether the last INFO answered; undefined before one was asked (nothing confirmed yet: not
     * said connected, nor unavailable). A tier without INFO passes true (its breaker judges).
     */
    answered: boolean | undefined
    /** The connection's last error since Redis last answered (`connect ECONNREFUSED 127.0.0.1:6379`). */
    error?: string
  }
  closed: boolean
  /** How long the invalidation bus has been silent past `bus.maxSilence` (0: it is heard). */
  busSilentMs?: number
}

/** One INFO answer: its figures, and when Redis gave them (ms, the cache's clock). */
export interface InfoRead {
  readonly info: RemoteInfo
  readonly at: number
  /** The server run that answered (Redis `run_id`), if known: a new one means Redis restarted. */
  readonly run?: string
}

const MAX_SAMPLES = 4096

/**
 * The shortest cadence at which Redis' figures are taken to be re-read: watchers (dashboard,
 * publishing) sample once a second, so figures read by them are at most about this old.
 */
const INFO_EVERY_FLOOR_MS = 1_000
/** Figures older than this many times the cadence they are re-read at are stale: unconfirmed. */
const INFO_STALE_AFTER_READS = 3
/** Intervals between reads kept to judge the cadence (the largest counts: one quick extra read must not shorten it). */
const INFO_INTERVALS_KEPT = 4

/**
 * The one eviction advice (health() and diagnose() both give it): a Redis that only caches should
 * evict by frequency, but one that also holds write-behind's log must never evict (docs/write-behind.md).
 */
export const EVICTION_ADVICE =
  'A Redis that only caches: maxmemory-policy allkeys-lfu. A Redis that also holds the write-behind log must use noeviction (an evicting policy may drop the log: docs/write-behind.md), so give the cache a Redis of its own.'

export class HealthMonitor {
  readonly #cache: string
  readonly #windowMs: number
  readonly #thresholds: AlertThresholds
  readonly #samples: Sample[] = []
  readonly #firing = new Map<AlertName, number>()
  /** When the last INFO seen was read (its `at`): a later `at` is a new read. */
  #infoReadAt: number | undefined
  /** The latest intervals between two reads with no failed one between them. */
  readonly #infoIntervals: number[] = []
  /** Whether a read failed since the last one that answered (the interval then says nothing of the cadence). */
  #infoMissed = false

  constructor(cache: string, windowMs: number, thresholds: AlertThresholds, createdAt: number) {
    this.#cache = cache
    this.#windowMs = windowMs
    this.#thresholds = thresholds
    this.#samples.push({
      at: createdAt,
      hits: 0,
      misses: 0,
      evictions: 0,
      redisEvicted: undefined,
      redisRun: undefined,
      reads: new LatencyHistogram().counts,
    })
  }

  get windowMs(): number {
    return this.#windowMs
  }

  /**
   * Redis' figures if Redis still confirms them, else undefined (unknown): the last read must have
   * answered, and be no older than {@link INFO_STALE_AFTER_READS} times the cadence of the reads.
   * Without this, a frozen or unreachable Redis kept showing (and judging) its last figures.
   */
  #confirmedInfo(inputs: HealthInputs): InfoRead | undefined {
    const l2 = inputs.l2
    const read = l2?.read
    if (l2 === undefined || read === undefined) return undefined
    if (read.at !== this.#infoReadAt) {
      if (this.#infoReadAt !== undefined && !this.#infoMissed) {
        this.#infoIntervals.push(read.at - this.#infoReadAt)
        if (this.#infoIntervals.length > INFO_INTERVALS_KEPT) this.#infoIntervals.shift()
      }
      this.#infoReadAt = read.at
      this.#infoMissed = false
    }
    if (l2.answered !== true) {
      if (l2.answered === false) this.#infoMissed = true
      return undefined
    }
    const every = Math.max(INFO_EVERY_FLOOR_MS, ...this.#infoIntervals)
    if (inputs.now - read.at > INFO_STALE_AFTER_READS * every) return undefined
    return read
  }

  /** Records the figures of now and returns the health over the window that ends now. */
  evaluate(inputs: HealthInputs): CacheHealth {
    const reads = mergeHistograms(inputs.readHistograms)
    const confirmed = this.#confirmedInfo(inputs)
    const sample: Sample = {
      at: inputs.now,
      hits: inputs.hits,
      misses: inputs.misses,
      evictions: inputs.l1Evictions,
      redisEvicted: confirmed?.info.evictedKeys,
      redisRun: confirmed?.run,
      reads: Float64Array.from(reads.counts),
    }
    const base = this.#baseline(inputs.now)
    this.#samples.push(sample)
    if (this.#samples.length > MAX_SAMPLES) this.#samples.splice(0, this.#samples.length - MAX_SAMPLES)

    const seconds = Math.max(0.001, (inputs.now - base.at) / 1000)
    const hits = sample.hits - base.hits
    const misses = sample.misses - base.misses
    const operations = hits + misses
    const hitRatio = operations === 0 ? 1 : hits / operations
    const l1EvictionsPerSecond = (sample.evictions - base.evictions) / seconds
    const redisEvictedPerSecond = this.#redisEvictedPerSecond(sample)
    const evictionsPerSecond = l1EvictionsPerSecond + redisEvictedPerSecond
    const p99 = reads.quantile(0.99, base.reads)

    const t = this.#thresholds
    const found: Omit<Alert, 'since'>[] = []
    const warnings: string[] = []
    if (operations >= t.minReads && hitRatio < t.hitRatioBelow) {
      found.push({
        name: 'low-hit-ratio',
        severity: 'warning',
        message: `Hit ratio ${(hitRatio * 100).toFixed(1)}% over the last ${seconds.toFixed(0)} s is below ${(t.hitRatioBelow * 100).toFixed(0)}%: run cache.diagnose() to see why (TTLs, size, key cardinality).`,
        value: hitRatio,
        threshold: t.hitRatioBelow,
      })
    }
    let l1Usage: number | undefined
    if (inputs.l1 !== undefined) {
      const l1 = inputs.l1
      l1Usage = Math.max(
        Number.isFinite(l1.maxEntries) ? l1.entries / l1.maxEntries : 0,
        Number.isFinite(l1.maxBytes) ? l1.bytes / l1.maxBytes : 0,
      )
    }
    let memory: RedisMemory | undefined
    // Only figures Redis still confirms are shown and judged: stale ones are unknown.
    if (confirmed !== undefined) {
      const info = confirmed.info
      memory = {
        readAt: confirmed.at,
        usedBytes: info.usedMemory,
        maxBytes: info.maxMemory,
        policy: info.maxMemoryPolicy,
        usage: info.maxMemory > 0 ? info.usedMemory / info.maxMemory : 0,
        evictedKeysPerSecond: redisEvictedPerSecond,
      }
      if (memory.usage > t.memoryAbove) {
        found.push({
          name: 'memory-high',
          severity: 'warning',
          message: `Redis uses ${(memory.usage * 100).toFixed(1)}% of its maxmemory (${info.usedMemory} of ${info.maxMemory} bytes): raise maxmemory or lower TTLs before it evicts what the cache still needs.`,
          value: memory.usage,
          threshold: t.memoryAbove,
        })
      }
      if (info.maxMemory === 0 || info.maxMemoryPolicy === 'noeviction') {
        const why =
          info.maxMemory === 0
            ? 'Redis has no maxmemory: it grows until the host runs out of memory'
            : "Redis' maxmemory-policy is noeviction: once full, every cache write fails (reads still work)"
        const message = `${why}. ${info.maxMemory === 0 ? 'Set maxmemory. ' : ''}${EVICTION_ADVICE}`
        // One alert; `warnings` keeps its text for callers that read only the configuration advice.
        warnings.push(message)
        found.push({
          name: 'redis-eviction-misconfigured',
          severity: 'warning',
          message,
          value: info.maxMemory,
          threshold: 0,
        })
      }
    } else if (l1Usage !== undefined && l1Usage > t.memoryAbove && l1EvictionsPerSecond > 0) {
      // The L1 is full by design (it evicts); it is only worth an alert when it also evicts.
      found.push({
        name: 'memory-high',
        severity: 'warning',
        message: `The L1 is ${(l1Usage * 100).toFixed(0)}% full and evicting: raise l1.maxEntries / l1.maxBytes if its hit ratio suffers.`,
        value: l1Usage,
        threshold: t.memoryAbove,
      })
    }
    if (evictionsPerSecond > t.evictionsPerSecondAbove) {
      found.push({
        name: 'evictions-high',
        severity: 'warning',
        message: `${evictionsPerSecond.toFixed(1)} evictions/s (L1 ${l1EvictionsPerSecond.toFixed(1)}, Redis ${redisEvictedPerSecond.toFixed(1)}): the cache is too small for its working set — cache.diagnose() estimates the size that would fix it.`,
        value: evictionsPerSecond,
        threshold: t.evictionsPerSecondAbove,
      })
    }
    if (p99 > t.p99Above) {
      found.push({
        name: 'latency-high',
        severity: 'warning',
        message: `p99 read latency ${(p99 * 1000).toFixed(2)} ms is above ${(t.p99Above * 1000).toFixed(1)} ms: check Redis latency and the share of reads reaching the origin.`,
        value: p99,
        threshold: t.p99Above,
      })
    }
    const l2 = inputs.l2
    const l2Down = l2 !== undefined && (l2.breaker !== 'closed' || l2.answered === false)
    const broken = l2?.masters?.filter((m) => m.breaker !== 'closed').map((m) => m.address) ?? []
    if (l2Down && broken.length > 0 && broken.length < (l2?.masters?.length ?? 0)) {
      // A cluster with some masters down: only their slots fall back.
      found.push({
        name: 'l2-unavailable',
        severity: 'warning',
        message: `Redis Cluster master${broken.length === 1 ? '' : 's'} ${broken.join(', ')} ${broken.length === 1 ? 'does' : 'do'} not answer, the circuit breaker skips ${broken.length === 1 ? 'it' : 'them'}: reads of ${broken.length === 1 ? 'its' : 'their'} slots fall back to the L1 and the origin (the other masters serve theirs); a replica takes over after cluster-node-timeout if there is one.`,
        value: broken.length,
        threshold: 0,
      })
    } else if (l2Down) {
      found.push({
        name: 'l2-unavailable',
        severity: inputs.l1 === undefined ? 'critical' : 'warning',
        message: `Redis does not answer${l2.error === undefined ? '' : ` (${l2.error})`}${l2.breaker === 'closed' ? '' : ', the circuit breaker skips it'}: reads fall back to the L1 and the origin; check the Redis server, l2.redis and the network.`,
        value: 1,
        threshold: 0,
      })
    }

    const silentMs = inputs.busSilentMs ?? 0
    if (silentMs > 0) {
      found.push({
        name: 'bus-silent',
        severity: 'warning',
        message: `Nothing heard on the invalidation bus for ${(silentMs / 1000).toFixed(1)} s: the L1 is unverified (reads go to Redis or the origin) until it is heard again; check the subscriber connection and the network to Redis.`,
        value: silentMs / 1000,
        threshold: 0,
      })
    }
    const alerts: Alert[] = found.map((alert) => {
      const since = this.#firing.get(alert.name) ?? inputs.now
      return { ...alert, since }
    })
    this.#firing.clear()
    for (const alert of alerts) this.#firing.set(alert.name, alert.since)

    let status: HealthStatus = 'healthy'
    if (inputs.closed || alerts.some((alert) => alert.severity === 'critical')) status = 'unhealthy'
    else if (alerts.length > 0) status = 'degraded'

    const health: CacheHealth = {
      cache: this.#cache,
      status,
      checkedAt: inputs.now,
      window: {
        seconds,
        operations,
        opsPerSecond: operations / seconds,
        hitRatio,
        evictionsPerSecond,
        p99,
      },
      ...(inputs.l1 === undefined ? {} : { l1: { ...inputs.l1, usage: l1Usage ?? 0 } }),
      ...(inputs.l2 === undefined
        ? {}
        : {
            l2: {
              // Connected once Redis confirmed it: before the first INFO answered it is not known.
              connected: !l2Down && inputs.l2.answered === true,
              breaker: inputs.l2.breaker,
              ...(inputs.l2.masters === undefined ? {} : { masters: inputs.l2.masters }),
              ...(l2Down && inputs.l2.error !== undefined ? { error: inputs.l2.error } : {}),
              ...(memory === undefined ? {} : { memory }),
            },
          }),
      alerts,
      warnings,
    }
    return health
  }

  /**
   * Redis' evicted_keys per second over the window, from the samples that hold it (the oldest one
   * in the window on), summed sample to sample by {@link counterIncrease}: after a Redis restart
   * all of the new count is new. Subtracting the oldest count from the newest instead read a
   * restarted Redis as evicting nothing until the samples of before the restart left the window.
   * 0 while the newest figures are unknown.
   */
  #redisEvictedPerSecond(newest: Sample): number {
    if (newest.redisEvicted === undefined) return 0
    let first: Sample | undefined
    let previous: { count: number; run: string | undefined } = { count: 0, run: undefined }
    let evicted = 0
    for (const sample of this.#samples) {
      const count = sample.redisEvicted
      if (count === undefined) continue
      if (first === undefined) first = sample
      else evicted += counterIncrease(previous, count, sample.redisRun)
      previous = { count, run: sample.redisRun }
    }
    if (first === undefined || first === newest) return 0
    return evicted / Math.max(0.001, (newest.at - first.at) / 1000)
  }

  /** The oldest sample inside the window (or the newest one before it), dropping older ones. */
  #baseline(now: number): Sample {
    const start = now - this.#windowMs
    let keep = 0
    while (keep + 1 < this.#samples.length && (this.#samples[keep + 1] as Sample).at <= start) keep++
    if (keep > 0) this.#samples.splice(0, keep)
    return this.#samples[0] as Sample
  }
}
