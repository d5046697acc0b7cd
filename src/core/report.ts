import type { CacheClock } from '../base/clock.js'
import { type Diagnosis, diagnoseReads } from '../observability/diagnose.js'
import type { InfoRead } from '../observability/health.js'
import type { CacheStats, WriteBehindStatName } from '../observability/stats.js'
import type { CacheHealth, CacheSnapshot } from '../observability/types.js'
import { type SecurityStats, securityStats } from '../security/entries.js'
import { describeConnectionError } from '../tiers/redis/connection.js'
import { runIdOf } from '../tiers/redis/info.js'
import { writeBehindsOf } from '../write/index.js'
import type { Flights } from './flights.js'
import type { Lifecycle } from './loader.js'
import type { LocalTier } from './local-tier.js'
import type { ResolvedOptions } from './options.js'
import type { RemoteAccess } from './remote-tier.js'
import type { Telemetry } from './telemetry.js'

/** How often published snapshots recompute their diagnosis (at the latest). */
const DIAGNOSIS_EVERY_MS = 30_000

export interface ReportParts {
  /** The cache whose write-behinds are summed. */
  cache: object
  name: string
  /** This instance's id (the bus's). */
  source: string
  options: ResolvedOptions
  clock: CacheClock
  telemetry: Telemetry
  local: LocalTier
  remote: RemoteAccess
  flights: Flights
  lifecycle: Lifecycle
}

/**
 * What the cache reports: stats() (counters, sizes, ratios), snapshot(), health() over the window
 * with Redis' memory figures, and diagnose(); and the snapshots it publishes for dashboards.
 */
export class CacheReport {
  readonly #p: ReportParts
  /**
   * Redis' memory figures from the last INFO that answered, with when it answered: the health
   * monitor judges their age from that time (passed, not inferred from a new object).
   */
  #lastRead: InfoRead | undefined
  /**
   * Whether the last INFO answered; undefined until one was asked: until then nothing confirmed
   * Redis, so no snapshot may say it is connected (nor that it failed).
   */
  #lastInfoAnswered: boolean | undefined
  /** The diagnosis published snapshots carry (recomputed every DIAGNOSIS_EVERY_MS: it replays the latest reads). */
  #diagnosis: Diagnosis | undefined
  #diagnosedReads = 0

  constructor(parts: ReportParts) {
    this.#p = parts
  }

  /** What published snapshots carry: the snapshot, and a diagnosis recomputed every 30 s (sooner while traffic ramps up). */
  async published(): Promise<CacheSnapshot> {
    const now = this.#p.clock.now()
    const reads = this.#p.telemetry.recent?.total ?? 0
    // Every 30 s, and sooner while traffic ramps up (each time the reads seen have doubled).
    if (
      this.#diagnosis === undefined ||
      now - this.#diagnosis.at >= DIAGNOSIS_EVERY_MS ||
      reads >= 2 * this.#diagnosedReads
    ) {
      this.#diagnosis = await this.diagnose()
      this.#diagnosedReads = Math.max(1, reads)
    } else await this.health()
    return { ...this.snapshot(), diagnosis: this.#diagnosis }
  }

  /** Counters since creation, plus current sizes and ratios. Every field is a number. */
  stats(): CacheStats & SecurityStats {
    const c = this.#p.telemetry.counters
    const ratio = (hits: number, total: number) => (total === 0 ? 1 : hits / total)
    const factory = this.#p.telemetry.latency?.histogram('factory', 'origin')
    const local = this.#p.local
    return {
      ...c,
      hits: c.l1Hits + c.l2Hits,
      l1Evictions: local.evictions,
      l1Expirations: local.expirations,
      l1Entries: local.usage?.entries ?? 0,
      l1Bytes: local.usage?.bytes ?? 0,
      inFlight: this.#p.flights.size,
      l1HitRatio: ratio(c.l1Hits, c.l1Hits + c.l1Misses),
      l2HitRatio: ratio(c.l2Hits, c.l2Hits + c.l2Misses),
      hitRatio: ratio(c.l1Hits + c.l2Hits, c.l1Hits + c.l2Hits + c.misses),
      breakerOpen: this.#p.remote.breakerState === 'closed' ? 0 : 1,
      factorySeconds: factory?.sum ?? 0,
      ...securityStats(this.#p.telemetry.security),
      ...this.#writeBehindStats(),
    }
  }

  /** The write-behinds of this cache, summed (lag: the worst). */
  #writeBehindStats(): Pick<CacheStats, WriteBehindStatName> {
    const out = {
      writeBehindPending: 0,
      writeBehindLagMs: 0,
      writeBehindFlushed: 0,
      writeBehindRetries: 0,
      writeBehindDeadLettered: 0,
      writeBehindRejected: 0,
      writeBehindDeadLettersDropped: 0,
    }
    for (const wb of writeBehindsOf(this.#p.cache)) {
      const s = wb.stats()
      out.writeBehindPending += s.pending
      out.writeBehindLagMs = Math.max(out.writeBehindLagMs, s.lagMs)
      out.writeBehindFlushed += s.flushed
      out.writeBehindRetries += s.retries
      out.writeBehindDeadLettered += s.deadLettered
      out.writeBehindRejected += s.rejected
      out.writeBehindDeadLettersDropped += s.deadLettersDropped
    }
    return out
  }

  /**
   * Everything this instance reports at once: stats, latency histograms, health over the window
   * (with what the last `health()` call learnt of Redis: whether it answered, and its memory
   * figures while still confirmed) and the hottest key groups.
   */
  snapshot(): CacheSnapshot {
    return {
      cache: this.#p.name,
      instance: this.#p.source,
      at: this.#p.clock.now(),
      stats: this.stats(),
      latency: this.#p.telemetry.latency?.series() ?? [],
      health: this.#evaluateHealth(),
      hotKeyGroups: this.#p.telemetry.hotGroups(this.#p.clock.now()),
    }
  }

  /**
   * Health over the window: status, hit ratio, L1 usage, Redis memory (`INFO`), breaker state and
   * the alerts that fire. Asks Redis for its memory figures (under the L2 deadline).
   */
  async health(): Promise<CacheHealth> {
    const info = this.#p.lifecycle.closed ? undefined : this.#p.remote.info()
    if (info !== undefined) {
      try {
        const figures = await info
        const run = runIdOf(figures)
        this.#lastRead = { info: figures, at: this.#p.clock.now(), ...(run === undefined ? {} : { run }) }
        this.#lastInfoAnswered = true
      } catch {
        this.#lastInfoAnswered = false
      }
    }
    return this.#evaluateHealth()
  }

  #evaluateHealth(): CacheHealth {
    const c = this.#p.telemetry.counters
    const usage = this.#p.local.usage
    const remote = this.#p.remote
    const masters = remote.tier === undefined ? undefined : remote.masters()
    return this.#p.telemetry.monitor.evaluate({
      now: this.#p.clock.now(),
      hits: c.l1Hits + c.l2Hits,
      misses: c.misses,
      l1Evictions: this.#p.local.evictions,
      readHistograms: this.#p.telemetry.latency?.reads() ?? [],
      ...(usage === undefined ? {} : { l1: usage }),
      ...(remote.tier === undefined
        ? {}
        : {
            l2: {
              breaker: remote.breakerState,
              ...(masters === undefined ? {} : { masters }),
              read: this.#lastRead,
              // A tier without INFO has nothing to confirm: its breaker alone judges it.
              answered: typeof remote.tier.info === 'function' ? this.#lastInfoAnswered : true,
              ...(remote.connection.cause === undefined
                ? {}
                : { error: describeConnectionError(remote.connection.cause) }),
            },
          }),
      closed: this.#p.lifecycle.closed,
      busSilentMs: this.#p.telemetry.busSilentMs(),
    })
  }

  /**
   * Explains a low hit ratio with evidence: TTLs shorter than the time between reads, an L1 too
   * small (with the size that would fix it, from replaying the latest reads through its policy),
   * key cardinality explosion, near-duplicate keys, one-hit wonders, Redis evicting.
   */
  async diagnose(): Promise<Diagnosis> {
    const health = await this.health()
    const telemetry = this.#p.telemetry
    const recent = telemetry.recent?.recent() ?? { keys: [], times: [] }
    const l1Options = this.#p.options.l1
    const c = this.#p.telemetry.counters
    return diagnoseReads({
      cache: this.#p.name,
      now: this.#p.clock.now(),
      keys: recent.keys,
      times: recent.times,
      hits: c.l1Hits + c.l2Hits,
      misses: c.misses,
      l1Misses: c.l1Misses,
      health,
      ttlByGroup: telemetry.ttlByGroup,
      dropped: telemetry.dropped,
      missesAfterExpiry: c.missesAfterExpiry,
      missesAfterEviction: c.missesAfterEviction,
      ...(l1Options === false ? {} : { l1: { maxEntries: l1Options.maxEntries, policy: l1Options.policy } }),
    })
  }
}
