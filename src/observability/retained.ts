/**
 * Counters added up over instances, kept monotonic. A series that sums the counters of several
 * instances (the snapshots instances publish) drops when one of them stops reporting — it aged
 * out of the feed, or its process stopped — and Prometheus' rate() reads any drop as a counter
 * reset: the whole remaining total counted again as new, a spike an operator would chase. So the
 * last values of an instance that stopped reporting stay in the sum, as a real counter would keep
 * what it counted; an instance that reports again replaces its kept values with its own (its
 * counters only grew meanwhile), so it is never counted twice.
 */
import type { Family, Sample } from './metric-families.js'
import type { CacheSnapshot } from './types.js'

/**
 * Instances that stopped reporting kept one by one (so that one heard again is not counted twice);
 * older ones are folded into one sum, which bounds the memory whatever the turnover of instances.
 */
const MAX_RETIRED_INSTANCES = 64

type Series = Map<string, Sample>

function seriesId(sample: Sample): string {
  let id = sample.metricName ?? ''
  for (const [name, value] of Object.entries(sample.labels)) id += `\u0000${name}=${value}`
  return id
}

/** Adds `from`'s values into `into`, series by series. */
function addInto(into: Series, from: Iterable<Sample>): void {
  for (const sample of from) {
    const id = seriesId(sample)
    const known = into.get(id)
    into.set(id, known === undefined ? sample : { ...known, value: known.value + sample.value })
  }
}

/** The samples of one counter or histogram family, added up over instances, never decreasing when one leaves. */
export class RetainedSums {
  readonly #family: Family
  readonly #prefixed: string
  /** The last samples of each instance (`cache` NUL `instance`) reporting at the previous read. */
  #live = new Map<string, Series>()
  /** Instances that stopped reporting, oldest first. */
  readonly #retired = new Map<string, Series>()
  /** The sum of instances retired longer ago than the {@link MAX_RETIRED_INSTANCES} latest. */
  readonly #folded: Series = new Map()

  constructor(family: Family, prefixed: string) {
    this.#family = family
    this.#prefixed = prefixed
  }

  samples(groups: ReadonlyMap<string, readonly CacheSnapshot[]>): Sample[] {
    const live = new Map<string, Series>()
    for (const [cache, snapshots] of groups) {
      for (const snapshot of snapshots) {
        const instance = `${cache}\u0000${snapshot.instance}`
        let series = live.get(instance)
        if (series === undefined) {
          series = new Map()
          live.set(instance, series)
        }
        addInto(series, this.#family.samples(cache, [snapshot], this.#prefixed))
      }
    }
    for (const [instance, series] of this.#live) {
      if (!live.has(instance)) this.#retired.set(instance, series)
    }
    for (const instance of live.keys()) this.#retired.delete(instance)
    for (const [instance, series] of this.#retired) {
      if (this.#retired.size <= MAX_RETIRED_INSTANCES) break
      addInto(this.#folded, series.values())
      this.#retired.delete(instance)
    }
    this.#live = live

    const total: Series = new Map()
    for (const series of live.values()) addInto(total, series.values())
    for (const series of this.#retired.values()) addInto(total, series.values())
    addInto(total, this.#folded.values())
    return [...total.values()]
  }
}
