import { within } from '../../base/deadline.js'
import type { LockService } from '../../coordination/lock.js'
import { L2TimeoutError } from '../../errors.js'
import type { Bus } from '../../invalidation/bus.js'
import { bumpAlongside, type InvalidationStore, type TagMarker } from '../../invalidation/store.js'
import { CircuitBreakerTier, type CircuitState } from '../../resilience/circuit-breaker.js'
import { type RemoteEntry, type RemoteTier, type StreamCommands, UNREAD, type Unread } from '../tier.js'
import type { RedisAdapter } from './adapter.js'
import type { ClusterAdapter } from './cluster-adapter.js'
import { ConnectionReport } from './connection.js'
import { RedisTier, type RedisTierOptions } from './redis-tier.js'
import { isNoScript } from './scripts.js'

/** A master of the cluster and the state of its own circuit breaker (`closed` without one). */
export interface ClusterMasterState {
  /** `host:port`, as the cluster announces it. */
  readonly address: string
  readonly breaker: CircuitState
}

/** Per-master breakers: the options of {@link CircuitBreakerTier}, with the master named in each callback. */
export interface MasterBreakerOptions {
  failureThreshold: number
  breakDurationMs: number
  probeTimeoutMs?: number
  clock: () => number
  onStateChange?: (state: CircuitState, master: string) => void
  /** Awaited after a master's probe answered, before its breaker closes. */
  onRecover?: (master: string) => Promise<void>
}

export interface ClusterViewOptions {
  /** One breaker per master; none when absent (every call reaches its master). */
  breakers?: MasterBreakerOptions
  /**
   * One master's part of a many-key read failed while the others answered: the read resolves
   * (those keys UNREAD, or absent from getMany), and this counts the failure (what a rejection
   * would have done).
   */
  onPartialFailure?: (error: unknown, operation: string) => void
}

/** While a master's breaker is open, the slot table is asked for again this often (a failover's promoted replica). */
const TOPOLOGY_WATCH_MS = 250
/** At most one slot-table refresh per this many ms because calls failed. */
const REFRESH_ON_FAILURE_MS = 200
/** The lane of keys whose master is not known yet (before the first slot table). */
const UNKNOWN = ''

/**
 * The per-master parts of one cluster connection, shared by every view of it (a cache and its
 * namespaces): one {@link RedisTier} per master — its own read batching and its own deadline, so
 * that a master that does not answer delays only the calls for its own slots — over the one
 * {@link ClusterAdapter}, and the tier for what spans the cluster (the bus, PING of any master).
 */
export class ClusterLanes {
  readonly adapter: ClusterAdapter<unknown>
  readonly whole: RedisTier
  readonly #options: RedisTierOptions
  readonly #tiers = new Map<string, RedisTier>()
  #lastRefresh = 0

  constructor(adapter: ClusterAdapter<unknown>, options: RedisTierOptions) {
    this.adapter = adapter
    this.#options = options
    this.whole = new RedisTier(adapter, options)
  }

  /** The master lane of `key` (by the client's slot table). */
  addressOf(key: string): string {
    return this.adapter.ownerOf(key) ?? UNKNOWN
  }

  /** False until a client we opened has first connected: no slot table yet (see {@link routed}). */
  get routable(): boolean {
    return this.adapter.connectedOnce
  }

  /**
   * `run` once a client we opened has first connected (before, there is no slot table: every key's
   * lane would be the unknown one, its keys on several masters), within one deadline from now. So
   * reads are split by master even then, and one master down fails its own keys only, each
   * failure counted as a failed read by the view that made it.
   */
  routed<T>(run: () => Promise<T>): Promise<T> {
    const ms = this.#options.timeoutMs
    return within(
      this.adapter.afterFirstConnection(run),
      ms,
      () =>
        new L2TimeoutError(
          `Redis did not answer within ${ms} ms (l2.timeout): the cluster is not connected yet.`,
        ),
    )
  }

  masters(): string[] {
    return this.adapter.masterAddresses()
  }

  tier(address: string): RedisTier {
    let tier = this.#tiers.get(address)
    if (tier === undefined) {
      const adapter = laneAdapter(this.adapter, address)
      tier = new RedisTier(adapter, {
        timeoutMs: this.#options.timeoutMs,
        batchSize: this.#options.batchSize,
        connection: new ConnectionReport(),
      })
      this.#tiers.set(address, tier)
    }
    return tier
  }

  /** A call failed: the topology may have changed (a failover); ask for the slot table again, soon. */
  failed(): void {
    const now = Date.now()
    if (now - this.#lastRefresh < REFRESH_ON_FAILURE_MS) return
    this.#lastRefresh = now
    void this.adapter.refreshTopology()
  }

  refresh(): Promise<void> {
    this.#lastRefresh = Date.now()
    return this.adapter.refreshTopology()
  }

  /** The deadline of every call, in ms. */
  get timeoutMs(): number {
    return this.#options.timeoutMs
  }

  async close(): Promise<void> {
    for (const tier of this.#tiers.values()) await tier.close()
    await this.whole.close()
  }
}

/**
 * The Redis L2 on a Redis Cluster: every call goes to the master that owns its key's slot, each
 * master through its own lane (batching and deadline; and, in the view a cache uses, its own
 * circuit breaker, see {@link clusterView}). Many-key calls are split by master and sent to all
 * at once: one master failing fails only its own keys (reads of the others still answer). What
 * spans the cluster (clear, pattern deletion) visits every master and fails if one fails.
 */
export class ClusterTier implements RemoteTier {
  readonly name = 'redis'
  declare readonly locks?: LockService
  declare readonly invalidation?: InvalidationStore
  declare readonly bus?: Bus
  /** Raw commands for write-behind's log, each to the master of its routing key, under the deadline. */
  declare readonly streams?: StreamCommands
  readonly #lanes: ClusterLanes
  readonly #breakerOptions: MasterBreakerOptions | undefined
  readonly #onPartialFailure: (error: unknown, operation: string) => void
  /** What this view was made from (closed with it); undefined for the tier that owns the connection. */
  readonly #base: RemoteTier | undefined
  readonly #breakers = new Map<string, CircuitBreakerTier>()
  #watch: NodeJS.Timeout | undefined
  #closed = false
  #stopProbingOnReady: () => void = () => {}

  /** The tier over `adapter`, owning it (closes it). */
  static open(adapter: ClusterAdapter<unknown>, options: RedisTierOptions): ClusterTier {
    return new ClusterTier(new ClusterLanes(adapter, options), undefined, {})
  }

  /** Use {@link ClusterTier.open}, or {@link clusterView} for a view of one. */
  constructor(lanes: ClusterLanes, base: RemoteTier | undefined, options: ClusterViewOptions) {
    this.#lanes = lanes
    this.#base = base
    this.#breakerOptions = options.breakers
    this.#onPartialFailure = options.onPartialFailure ?? (() => {})
    const probe = lanes.tier(UNKNOWN)
    if (probe.locks !== undefined) this.locks = this.#lockService()
    if (probe.invalidation !== undefined) this.invalidation = this.#invalidationStore()
    const bus = lanes.whole.bus
    if (bus !== undefined) this.bus = bus
    this.streams = routedStreams(lanes.adapter, lanes.timeoutMs)
    if (this.#breakerOptions !== undefined) {
      // A master's connection coming back is the moment it can answer again: its breaker probes
      // then, not a break later (the break's timer stays as the fallback, e.g. after a freeze).
      this.#stopProbingOnReady = lanes.adapter.onNodeReady((address) => {
        if (!this.#closed) this.#breakers.get(address)?.probeNow()
      })
    }
  }

  /** The per-master lanes this tier's views share. */
  get lanes(): ClusterLanes {
    return this.#lanes
  }

  /** The cluster adapter (both clients): what key rotation scans and rewrites through. */
  get adapter(): RedisAdapter {
    return this.#lanes.adapter
  }

  /** The connection's last error (every master's connection errors land here). */
  get connection(): ConnectionReport {
    return this.#lanes.whole.connection
  }

  /** The masters of the client's slot table, each with its breaker's state. */
  masters(): ClusterMasterState[] {
    this.#prune()
    return this.#lanes.masters().map((address) => ({
      address,
      breaker: this.#breakers.get(address)?.state ?? 'closed',
    }))
  }

  /** The worst state over the masters' breakers ('closed' when every one is). */
  get state(): CircuitState {
    let worst: CircuitState = 'closed'
    for (const breaker of this.#breakers.values()) {
      if (breaker.state === 'open') return 'open'
      if (breaker.state === 'half-open') worst = 'half-open'
    }
    return worst
  }

  get(key: string): Promise<Uint8Array | undefined> {
    const lanes = this.#lanes
    if (!lanes.routable) return lanes.routed(() => this.get(key))
    return this.#on(lanes.addressOf(key), (lane) => lane.get(key))
  }

  /** As {@link getManyOrUnread}, the keys of a master that failed read as absent (its failure counted). */
  async getMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const values = await this.getManyOrUnread(keys)
    return values.map((value) => (value === UNREAD ? undefined : value))
  }

  getManyOrUnread(keys: readonly string[]): Promise<(Uint8Array | undefined | Unread)[]> {
    if (!this.#lanes.routable) return this.#lanes.routed(() => this.getManyOrUnread(keys))
    return this.#getMany(keys)
  }

  /**
   * Split by master, all at once: the keys of a master that failed are UNREAD (not absent: Redis
   * did not say so), its failure counted; rejects when every master failed.
   */
  async #getMany(keys: readonly string[]): Promise<(Uint8Array | undefined | Unread)[]> {
    const groups = this.#group(keys, (k) => k)
    if (groups.size <= 1) {
      const [address] = groups.keys()
      return address === undefined ? [] : this.#on(address, (lane) => lane.getMany(keys))
    }
    const out: (Uint8Array | undefined | Unread)[] = new Array(keys.length).fill(UNREAD)
    const failures = await this.#each(groups, async (lane, indexes) => {
      const values = await lane.getMany(indexes.map((i) => keys[i] as string))
      for (let j = 0; j < indexes.length; j++) out[indexes[j] as number] = values[j]
    })
    if (failures.length === groups.size) throw failures[0]
    for (const error of failures) this.#onPartialFailure(error, 'getMany')
    return out
  }

  set(key: string, value: Uint8Array, ttlMs: number): Promise<void> {
    return this.#on(this.#lanes.addressOf(key), (lane) => lane.set(key, value, ttlMs))
  }

  async setMany(entries: readonly RemoteEntry[]): Promise<void> {
    const groups = this.#group(entries, (e) => e.key)
    await this.#all(groups, (lane, indexes) => lane.setMany(indexes.map((i) => entries[i] as RemoteEntry)))
  }

  async delete(keys: readonly string[]): Promise<number> {
    let deleted = 0
    await this.#all(
      this.#group(keys, (k) => k),
      async (lane, indexes) => {
        const count = await lane.delete(indexes.map((i) => keys[i] as string))
        deleted += count
      },
    )
    return deleted
  }

  /** Every master in turn (SCAN of its own keys, then UNLINK), all at once; rejects if one failed. */
  async deleteByPrefix(prefix: string, pattern?: string): Promise<number> {
    const masters = this.#lanes.masters()
    if (masters.length === 0) {
      throw new Error('No Redis Cluster master is known: the cluster is not connected.')
    }
    let deleted = 0
    const groups = new Map(masters.map((address) => [address, [] as number[]]))
    await this.#all(groups, async (lane) => {
      const count = await lane.deleteByPrefix(prefix, pattern)
      deleted += count
    })
    return deleted
  }

  /** Succeeds when any master answers. */
  ping(): Promise<void> {
    return this.#lanes.whole.ping()
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#base === undefined) this.connection.close()
    this.#stopProbingOnReady()
    clearInterval(this.#watch)
    this.#watch = undefined
    for (const breaker of this.#breakers.values()) await breaker.close()
    if (this.#base !== undefined) await this.#base.close()
    else await this.#lanes.close()
  }

  /** The tier calls for `address` go through: its breaker in a view with breakers, else its lane. */
  #lane(address: string): RemoteTier {
    const lanes = this.#lanes
    const options = this.#breakerOptions
    if (options === undefined || this.#closed) return lanes.tier(address)
    let breaker = this.#breakers.get(address)
    if (breaker === undefined) {
      const { onStateChange, onRecover } = options
      breaker = new CircuitBreakerTier(unclosable(lanes.tier(address)), {
        failureThreshold: options.failureThreshold,
        breakDurationMs: options.breakDurationMs,
        clock: options.clock,
        ...(options.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: options.probeTimeoutMs }),
        onStateChange: (state) => {
          if (state === 'open') this.#watchTopology()
          onStateChange?.(state, address)
        },
        ...(onRecover === undefined ? {} : { onRecover: () => onRecover(address) }),
      })
      this.#breakers.set(address, breaker)
    }
    return breaker
  }

  /** `run` on `address`'s lane; a failure asks for the slot table again (a failover moves slots). */
  async #on<T>(address: string, run: (lane: RemoteTier) => Promise<T>): Promise<T> {
    try {
      return await run(this.#lane(address))
    } catch (error) {
      this.#lanes.failed()
      throw error
    }
  }

  /** Positions of `items` grouped by the master of their key. */
  #group<I>(items: readonly I[], keyOf: (item: I) => string): Map<string, number[]> {
    const lanes = this.#lanes
    const groups = new Map<string, number[]>()
    for (let i = 0; i < items.length; i++) {
      const address = lanes.addressOf(keyOf(items[i] as I))
      const group = groups.get(address)
      if (group === undefined) groups.set(address, [i])
      else group.push(i)
    }
    return groups
  }

  /** `run` on every group's lane at once; resolves to the failures (each group settled). */
  async #each(
    groups: Map<string, number[]>,
    run: (lane: RemoteTier, indexes: number[]) => Promise<unknown>,
  ): Promise<unknown[]> {
    const failures: unknown[] = []
    await Promise.all(
      [...groups].map(([address, indexes]) =>
        this.#on(address, (lane) => run(lane, indexes)).catch((error: unknown) => {
          failures.push(error)
        }),
      ),
    )
    return failures
  }

  /** As {@link #each}, rejecting with the first failure once every group has settled. */
  async #all(
    groups: Map<string, number[]>,
    run: (lane: RemoteTier, indexes: number[]) => Promise<unknown>,
  ): Promise<void> {
    const failures = await this.#each(groups, run)
    if (failures.length > 0) throw failures[0]
  }

  #lockService(): LockService {
    const on = <T>(key: string, run: (locks: LockService) => Promise<T>) =>
      this.#on(this.#lanes.addressOf(key), (lane) => run(lane.locks as LockService))
    return {
      acquire: (key, token, ttlMs) => on(key, (locks) => locks.acquire(key, token, ttlMs)),
      extend: (key, token, ttlMs) => on(key, (locks) => locks.extend(key, token, ttlMs)),
      release: (key, token) => on(key, (locks) => locks.release(key, token)),
      orderedWithReads: false,
    }
  }

  #invalidationStore(): InvalidationStore {
    const lanes = this.#lanes
    const storeOf = (lane: RemoteTier) => lane.invalidation as InvalidationStore
    const byKey = (keys: readonly string[]) => this.#group(keys, (k) => k)
    const pick = (keys: readonly string[], indexes: number[]) => indexes.map((i) => keys[i] as string)
    const store: InvalidationStore = {
      // The markers a change bumps live in other slots: bumped beside the change, on their own masters.
      tombstone: (keys, at, keepMs, bump) =>
        bumpAlongside(
          store,
          this.#all(byKey(keys), (lane, ix) => storeOf(lane).tombstone(pick(keys, ix), at, keepMs)),
          bump,
        ),
      setLoaded: (key, value, ttlMs, since, kind, bump) =>
        bumpAlongside(
          store,
          this.#on(lanes.addressOf(key), (lane) => storeOf(lane).setLoaded(key, value, ttlMs, since, kind)),
          bump,
        ),
      markers: async (keys) => {
        const out: (TagMarker | undefined)[] = new Array(keys.length).fill(undefined)
        await this.#all(byKey(keys), async (lane, ix) => {
          const found = await storeOf(lane).markers(pick(keys, ix))
          for (let j = 0; j < ix.length; j++) out[ix[j] as number] = found[j]
        })
        return out
      },
      touchMarkers: (keys, ttlMs, before) =>
        this.#all(byKey(keys), (lane, ix) => storeOf(lane).touchMarkers(pick(keys, ix), ttlMs, before)),
      bumpMarkers: (keys, at, mode, ttlMs, onlyExisting) =>
        this.#all(byKey(keys), (lane, ix) =>
          storeOf(lane).bumpMarkers(pick(keys, ix), at, mode, ttlMs, onlyExisting),
        ),
    }
    return store
  }

  /**
   * While a master's breaker is not closed, asks for the slot table every {@link TOPOLOGY_WATCH_MS}:
   * once its replica is promoted, the slots move to a master with a closed breaker of its own.
   */
  #watchTopology(): void {
    const lanes = this.#lanes
    void lanes.refresh()
    if (this.#watch !== undefined) return
    this.#watch = setInterval(() => {
      this.#prune()
      if (this.#closed || this.state === 'closed') {
        clearInterval(this.#watch)
        this.#watch = undefined
        return
      }
      void lanes.refresh()
    }, TOPOLOGY_WATCH_MS)
    this.#watch.unref()
  }

  /** Drops the breakers of masters that left the slot table (failed over, or removed). */
  #prune(): void {
    const masters = this.#lanes.masters()
    if (masters.length === 0) return
    const current = new Set(masters)
    for (const [address, breaker] of this.#breakers) {
      if (address === UNKNOWN || current.has(address)) continue
      this.#breakers.delete(address)
      void breaker.close()
    }
  }
}

/**
 * The view of a cluster tier a cache uses: per-master breakers (`options.breakers`) and partial
 * failures counted. Undefined when `tier` is not a cluster tier (nor a handle on one).
 */
export function clusterView(tier: RemoteTier, options: ClusterViewOptions): ClusterTier | undefined {
  // Read through the handle: a namespace's borrowed tier forwards the property to the tier.
  const lanes = (tier as { lanes?: unknown }).lanes
  if (!(lanes instanceof ClusterLanes)) return undefined
  return new ClusterTier(lanes, tier, options)
}

/**
 * The adapter of one master's lane: commands as the cluster adapter routes them (by slot, MOVED
 * followed), but SCAN and PING on that master only (its breaker's probe), and nothing to close.
 */
function laneAdapter(cluster: ClusterAdapter<unknown>, address: string): RedisAdapter {
  const adapter: RedisAdapter = {
    client: cluster.client,
    ordered: false,
    get: (key) => cluster.get(key),
    mget: (keys) => cluster.mget(keys),
    set: (key, value, ttlMs) => cluster.set(key, value, ttlMs),
    setMany: (entries) => cluster.setMany(entries),
    unlink: (keys) => cluster.unlink(keys),
    scan: (cursor, match, count) =>
      address === UNKNOWN
        ? cluster.scan(cursor, match, count)
        : cluster.scanMaster(address, cursor, match, count),
    ping: () => (address === UNKNOWN ? cluster.ping() : cluster.pingMaster(address)),
    setIfAbsent: (key, value, ttlMs) => cluster.setIfAbsent(key, value, ttlMs),
    compareAndDelete: (key, token) => cluster.compareAndDelete(key, token),
    compareAndExpire: (key, token, ttlMs) => cluster.compareAndExpire(key, token, ttlMs),
    evalScript: (script, key, args) => cluster.evalScript(script, key, args),
    close: async () => {},
  }
  return adapter
}

/** `tier`, except that closing it does nothing (a breaker's lane is shared with other views). */
function unclosable(tier: RemoteTier): RemoteTier {
  return new Proxy(tier, {
    get(target, property) {
      if (property === 'close') return async () => {}
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}

/**
 * Write-behind's raw commands on a cluster: each goes to the master that owns its routing key
 * (`key`, or the script's first key), on that master's own connection, under the deadline.
 */
function routedStreams(adapter: ClusterAdapter<unknown>, timeoutMs: number): StreamCommands {
  const call = (args: readonly (string | Buffer)[], key?: string) => {
    const routing = key ?? (args.length > 1 ? String(args[1]) : '')
    return within(
      adapter.commandFor(routing, args),
      timeoutMs,
      () =>
        new L2TimeoutError(`Redis ${String(args[0])} did not answer within ${timeoutMs} ms (l2.timeout).`),
    )
  }
  return {
    routed: true,
    call,
    eval: async (script, keys, args) => {
      const tail = [String(keys.length), ...keys, ...args]
      try {
        return await call(['EVALSHA', script.sha, ...tail], keys[0])
      } catch (error) {
        if (!isNoScript(error)) throw error
        return await call(['EVAL', script.lua, ...tail], keys[0])
      }
    },
  }
}
