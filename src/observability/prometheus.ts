/**
 * `stratacache/prometheus`: exposes caches' statistics to a prom-client Registry.
 *
 * Nothing is counted per call here: the cache already counts (plain increments) and times its
 * operations (histograms with Prometheus' bucket bounds), so each metric is a collector object
 * that reads `cache.snapshot()` (after `cache.health()`) when Prometheus scrapes. prom-client's own Counter/Histogram
 * classes cannot take externally aggregated bucket counts, while its Registry accepts any object
 * with `name`, `help`, `type`, `get()` and `reset()`: that is what these collectors are.
 *
 * Labels: `cache`, `tier`, `result`, `operation`, `cause`, `alert`, each with a fixed set of
 * values (the cache label takes the names of your caches). Never a key or a tag.
 */
import type { Metric, Registry, RegistryContentType } from 'prom-client'
import { describeValue, expectObject } from '../base/describe.js'
import { InvalidOptionError } from '../errors.js'
import { freshSnapshots, groupByCache } from './aggregate.js'
import { ALERT_NAMES, FAMILIES, type Family, type MetricType, type Sample } from './metric-families.js'
import { loadPromClient } from './peer.js'
import { RetainedSums } from './retained.js'
import type { CacheSnapshot } from './types.js'

export { ALERT_NAMES }

/** Anything with a `snapshot()`: a `Cache`. */
export interface SnapshotSource {
  snapshot(): CacheSnapshot
  /**
   * Asks the source what its L2 says now (a `Cache`: one Redis INFO, under the L2 deadline); when
   * present, called before each snapshot is read.
   */
  health?(): Promise<unknown>
}

/**
 * What to expose: one cache, several, or a function returning snapshots (e.g. the latest
 * snapshot each instance published; snapshots of one cache name from several instances are added
 * up into one series, whose counters keep the share of an instance that stopped reporting).
 */
export type PrometheusTarget = SnapshotSource | readonly SnapshotSource[] | (() => readonly CacheSnapshot[])

export interface PrometheusOptions {
  /** The prom-client Registry to register in. Default: prom-client's global `register`. */
  registry?: Registry<RegistryContentType>
  /** Prefix of every metric name. Default `'stratacache_'`. */
  prefix?: string
}

export interface PrometheusRegistration {
  /** The full names of the registered metrics. */
  readonly metricNames: readonly string[]
  /** Removes these metrics from the registry. */
  unregister(): void
}

const NAME_PATTERN = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

function snapshotReader(target: PrometheusTarget): () => Promise<readonly CacheSnapshot[]> {
  if (typeof target === 'function') return async () => target()
  const sources: readonly SnapshotSource[] = Array.isArray(target) ? target : [target as SnapshotSource]
  for (const source of sources) {
    if (typeof source?.snapshot !== 'function') {
      throw new InvalidOptionError(
        'registerPrometheus expects a cache (anything with snapshot()), an array of caches, or a function returning snapshots.',
      )
    }
  }
  return () => freshSnapshots(sources)
}

/**
 * One collector per metric family, in the shape prom-client's Registry reads (`get()` returns
 * `{ name, help, type, values, aggregator }`, `reset()` is called by `registry.resetMetrics()`).
 */
class Collector {
  // Public fields: the Registry reads them (and rewrites `name` of counters in OpenMetrics mode).
  name: string
  readonly help: string
  readonly type: MetricType
  readonly aggregator = 'sum'
  readonly #family: Family
  readonly #read: () => Promise<readonly CacheSnapshot[]>
  readonly #prefixed: string
  /** Counters and histograms: sums over instances that never go down when one leaves. */
  readonly #retained: RetainedSums | undefined

  constructor(prefix: string, family: Family, read: () => Promise<readonly CacheSnapshot[]>) {
    this.#prefixed = `${prefix}${family.name}`
    this.name = this.#prefixed
    this.help = family.help
    this.type = family.type
    this.#family = family
    this.#read = read
    this.#retained = family.type === 'gauge' ? undefined : new RetainedSums(family, this.#prefixed)
  }

  async get(): Promise<{
    name: string
    help: string
    type: MetricType
    aggregator: string
    values: Sample[]
  }> {
    const groups = groupByCache(await this.#read())
    let values: Sample[] = []
    if (this.#retained !== undefined) values = this.#retained.samples(groups)
    else {
      for (const [cache, snapshots] of groups) {
        for (const sample of this.#family.samples(cache, snapshots, this.#prefixed)) values.push(sample)
      }
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values }
  }

  /** Counts live in the caches: there is nothing to reset here. */
  reset(): void {}
}

/**
 * Registers the metrics of `target` (a cache, several caches, or a snapshot provider) in a
 * prom-client Registry. Values are read at scrape time: one `health()` (one Redis INFO, under the
 * L2 deadline) then one `snapshot()` per cache per scrape, shared by every metric.
 *
 * ```ts
 * import { Registry } from 'prom-client'
 * import { registerPrometheus } from 'stratacache/prometheus'
 * const registry = new Registry()
 * registerPrometheus([products, sessions], { registry })
 * ```
 */
export function registerPrometheus(
  target: PrometheusTarget,
  options: PrometheusOptions = {},
): PrometheusRegistration {
  const prefix = expectObject(options, 'registerPrometheus(target, options)').prefix ?? 'stratacache_'
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME_PATTERN.test(prefix))) {
    throw new InvalidOptionError(
      `registerPrometheus: prefix must match ${NAME_PATTERN} (letters, digits, '_' and ':'); got ${describeValue(prefix)}.`,
    )
  }
  const registry = options.registry ?? loadPromClient('registerPrometheus without a `registry`').register
  const read = snapshotReader(target)

  // registry.metrics() calls every collector's get() synchronously, one after the other: they
  // share one round of snapshots, dropped at the next microtask so the next scrape reads afresh.
  let memo: Promise<readonly CacheSnapshot[]> | undefined
  const shared = (): Promise<readonly CacheSnapshot[]> => {
    if (memo === undefined) {
      memo = read()
      queueMicrotask(() => {
        memo = undefined
      })
    }
    return memo
  }

  const collectors = FAMILIES.map((family) => new Collector(prefix, family, shared))
  // The keys they are registered under (in OpenMetrics mode the Registry renames counters in place).
  const names = collectors.map((c) => c.name)
  const registered: Collector[] = []
  try {
    for (const collector of collectors) {
      if (registry.getSingleMetric(collector.name) !== undefined) {
        throw new InvalidOptionError(
          `registerPrometheus: the registry already has a metric named ${collector.name}. Register all your caches in one call (registerPrometheus([a, b])), or use another registry or prefix.`,
        )
      }
      // The Registry accepts any object shaped like its metrics (see Collector).
      registry.registerMetric(collector as unknown as Metric)
      registered.push(collector)
    }
  } catch (error) {
    for (const collector of registered) registry.removeSingleMetric(collector.name)
    throw error
  }

  return {
    metricNames: names,
    unregister() {
      collectors.forEach((collector, i) => {
        const name = names[i]!
        if ((registry.getSingleMetric(name) as unknown) === collector) registry.removeSingleMetric(name)
      })
    },
  }
}
