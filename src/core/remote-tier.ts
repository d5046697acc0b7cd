import { timersOf } from '../base/clock.js'
import type { HeldLock } from '../coordination/key-lock.js'
import { KeyLocks } from '../coordination/key-lock.js'
import type { StrataError } from '../errors.js'
import type { Bus } from '../invalidation/bus.js'
import type { InvalidationMode, InvalidationStore, MarkerBump, TagMarker } from '../invalidation/store.js'
import { shortenKey } from '../keys/key.js'
import { CircuitBreakerTier, type CircuitState } from '../resilience/circuit-breaker.js'
import { type ClusterMasterState, ClusterTier, clusterView } from '../tiers/redis/cluster-tier.js'
import { ConnectionReport, connectionOf, unreachableWarning } from '../tiers/redis/connection.js'
import { createRedisTier } from '../tiers/redis/create.js'
import { type RemoteEntry, type RemoteInfo, type RemoteTier, UNREAD, type Unread } from '../tiers/tier.js'
import type { EntryCodec, EnvelopeFields } from './entry-codec.js'
import type { ResolvedOptions } from './options.js'
import { Repairs } from './repairs.js'
import type { Telemetry } from './telemetry.js'

/** An L2 read that found nothing (absent, expired, a tombstone, or a copy known to be outdated). */
export const L2_MISS: unique symbol = Symbol('l2-miss')
/** An L2 read that failed: the L2 itself did not answer (as opposed to not having the key). */
export const L2_UNAVAILABLE: unique symbol = Symbol('l2-unavailable')
export type Miss = typeof L2_MISS
export type Unavailable = typeof L2_UNAVAILABLE

/**
 * What an L2 failure does, per operation — the one place this is decided.
 * - `miss`: a read; the caller sees a miss (the failure is counted).
 * - `count`: housekeeping (tag markers, a loaded value's write-back, bus messages); counted only:
 *   nothing is outdated, or the bus tells the instances anyway.
 * - `writeErrors`: an explicit change whose L2 state is now outdated. A repair is queued that
 *   runs once the L2 answers again (before the breaker closes): the keys' deletion, or the
 *   invalidation, clear or pattern deletion replayed; `l2.writeErrors: 'throw'` rejects as well,
 *   `'suppress'` (the default) resolves. Replaying these is safe: markers only move forward, and deleting
 *   a value written meanwhile costs a miss, never a wrong answer. The L1 and the bus are updated
 *   at the call either way.
 */
export const L2_FAILURE_POLICY = {
  get: 'miss',
  getMany: 'miss',
  'tag markers': 'miss',
  lock: 'miss',
  writeBack: 'count',
  setMany: 'count',
  'dependency markers': 'count',
  publish: 'count',
  subscribe: 'count',
  set: 'writeErrors',
  delete: 'writeErrors',
  clear: 'writeErrors',
  deleteMatching: 'writeErrors',
  invalidateTags: 'writeErrors',
} as const satisfies Record<string, 'miss' | 'count' | 'writeErrors'>

export type L2Operation = keyof typeof L2_FAILURE_POLICY

/**
 * How long a deleted key keeps its tombstone: a load that started before the delete and finishes
 * within this long cannot write its result back. Loads longer than this are not protected.
 */
const TOMBSTONE_MS = 60_000
/** Life of a tag marker created by an invalidation (writes with the tag extend it to cover their entries). */
const MARKER_MS = 86_400_000
/** How far before the entry that creates a tag marker the marker's "deleted at" is set. */
const MARKER_EPSILON_MS = 0.001

/** The dependency tags a change outdates, and when it was made. */
export interface Outdated {
  readonly dependents: readonly string[]
  readonly at: number
}

/** An L2 entry to write, and when its value was created (tag markers must cover it). */
export type RemoteWrite = RemoteEntry & { createdAt: number }

/**
 * The shared tier as the cache uses it: storage, lock and marker keys; reads that answer
 * `bytes | Miss | Unavailable`; writes, deletes and invalidations that apply
 * {@link L2_FAILURE_POLICY}; repairs of copies left outdated by a failed write. `NoRemoteTier`
 * stands in when the cache has no L2.
 */
export interface RemoteAccess {
  /** The tier without its breaker (for write-behinds and namespaces), if any. */
  readonly direct: RemoteTier | undefined
  /** The tier as calls reach it (through its breaker), if any. */
  readonly tier: RemoteTier | undefined
  readonly bus: Bus | undefined
  /** Whether a publish issued after a write reaches the others only once the write is applied (see {@link Bus.orderedWithWrites}). */
  readonly ordersPublishWithWrites: boolean
  /** Whether entries' tags are judged against markers in this tier. */
  readonly hasMarkers: boolean
  /** Whether values reach this instance from elsewhere (an L2): only then must it remember the changes it made. */
  readonly shared: boolean
  readonly breakerState: CircuitState
  /** On a Redis Cluster, its masters and the state of each one's breaker; undefined otherwise. */
  masters(): readonly ClusterMasterState[] | undefined
  /** The L2 connection's last error, for ready(), health() and diagnose(). */
  readonly connection: ConnectionReport
  storageKey(key: string): string
  /** The L2 entry for a value being written (sealed, with its envelope), or undefined without an L2. */
  entry(
    key: string,
    fields: EnvelopeFields,
    ttlMs: number,
    encrypt: boolean | undefined,
  ): RemoteWrite | undefined
  /**
   * One entry's bytes, handed to `judge` as they arrive: the read and its judgement settle as one
   * promise (no promise per layer on the L2 paths). `countMiss: false` for a second look within
   * the same load (one load, one miss). `settled`, if given, is called once the read and its
   * judgement are over, whatever the outcome, before the promise settles.
   */
  read<R>(
    key: string,
    countMiss: boolean,
    judge: (bytes: Uint8Array) => R | Promise<R>,
    settled?: () => void,
  ): Promise<R | Miss | Unavailable>
  /** Aligned with `keys`; undefined where absent, outdated, or when the L2 failed. */
  readMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]>
  /**
   * Writes one entry (with `leaseFrom`, only if no delete of the key came after that time: the
   * lease check of a loaded value). Resolves false when it was not written. With `outdates`, the
   * markers of those dependency tags are bumped with it (as {@link bumpDependents}, at `at`).
   */
  write(
    key: string,
    entry: RemoteWrite,
    tags: readonly string[],
    operation: 'set' | 'writeBack',
    leaseFrom?: number,
    outdates?: Outdated,
  ): Promise<'written' | 'refused' | 'failed'>
  writeMany(entries: readonly RemoteWrite[], tags: readonly string[]): Promise<void>
  /** Deletes (tombstones) `keys` and bumps the dependency markers; false when it failed (and was suppressed). */
  delete(keys: readonly string[], at: number, dependents: readonly string[]): Promise<boolean>
  /** Bumps the markers of the keys behind `dependents` (those that exist); never rejects. */
  bumpDependents(dependents: readonly string[], at: number): Promise<void>
  /**
   * The L2 keys of the markers `bumpDependents` would bump (empty without markers), for a caller
   * that bumps them inside its own script (a write-behind append).
   */
  dependentMarkerKeys(dependents: readonly string[]): string[]
  invalidateTags(tags: readonly string[], at: number, mode: InvalidationMode): Promise<void>
  /** Deletes every key under `prefix` matching `pattern`; resolves to how many the L2 held (undefined without one). */
  deleteByPrefix(
    prefix: string,
    operation: 'clear' | 'deleteMatching',
    pattern?: string,
  ): Promise<number | undefined>
  markers(tags: readonly string[]): Promise<readonly (TagMarker | undefined)[]>
  /** Takes the key's distributed lock: a lock, undefined (someone else holds it), or Unavailable. */
  tryLock(key: string): Promise<HeldLock | undefined | Unavailable>
  /** Whether a lock and a read sent together are answered in order (one round trip). */
  readonly ordersLockWithReads: boolean
  readonly locking: boolean
  info(): Promise<RemoteInfo> | undefined
  close(): Promise<void>
}

interface RemoteDeps {
  options: ResolvedOptions
  /** `<scope>:<version>:`, the prefix of every storage key. */
  prefix: string
  scope: string
  telemetry: Telemetry
  codec: EntryCodec
  /** Tells the other instances (over `tier`'s bus) that repaired keys changed. */
  onRepaired: (tier: RemoteTier, keys: readonly string[]) => Promise<void>
}

export function openRemoteTier(deps: RemoteDeps): RemoteAccess {
  const l2 = deps.options.l2
  if (l2 === false) return new NoRemoteTier(deps.prefix, deps.options.maxKeyBytes)
  const counters = deps.telemetry.counters
  const direct =
    l2.tier ??
    createRedisTier(l2, {
      timeoutMs: deps.options.l2TimeoutMs,
      batchSize: deps.options.l2BatchSize,
      onError: () => {
        counters.l2ConnectionErrors++
      },
    })
  const connection = connectionOf(direct)
  // Announced by the cache that opened the connection (namespaces share it, and its report).
  if (l2.tier === undefined)
    connection.onFirstFailure((error) => {
      // Once per connection: a wrong URL must not be silent, nor flood the log while it retries.
      const warning = unreachableWarning(error)
      deps.telemetry.events.emit('l2-error', { operation: 'connect', error: warning })
      process.emitWarning(warning)
    })
  return new RedisRemoteAccess(direct, connection, deps)
}

class RedisRemoteAccess implements RemoteAccess {
  readonly direct: RemoteTier
  readonly tier: RemoteTier
  readonly shared = true
  readonly connection: ConnectionReport
  readonly #store: InvalidationStore | undefined
  readonly #locks: KeyLocks | undefined
  /** An entry's write, fenced (see the constructor); resolves false when the key held something newer. */
  readonly #storeVersioned: (
    entry: RemoteWrite,
    leaseFrom: number | undefined,
    bump: MarkerBump | undefined,
  ) => Promise<unknown>
  readonly #deps: RemoteDeps
  readonly #telemetry: Telemetry
  readonly #repairs: Repairs
  #stopProbingOnReady: () => void = () => {}

  constructor(direct: RemoteTier, connection: ConnectionReport, deps: RemoteDeps) {
    const { options, telemetry } = deps
    this.direct = direct
    this.connection = connection
    this.#deps = deps
    this.#repairs = new Repairs({
      telemetry,
      tombstoneMs: TOMBSTONE_MS,
      onRepaired: deps.onRepaired,
      clearAll: (tier) => tier.deleteByPrefix(`${deps.scope}:`),
    })
    this.#telemetry = telemetry
    const breaker = options.breaker
    const onStateChange = (state: CircuitState, master?: string) => {
      if (state === 'open') telemetry.counters.breakerOpened++
      telemetry.events.emit('breaker', master === undefined ? { state } : { state, master })
    }
    // On a cluster, one breaker per master (errors of one master open only its own), and a
    // many-key read that one master failed still answers for the others (the failure counted).
    const cluster = clusterView(direct, {
      ...(breaker === false
        ? {}
        : {
            breakers: {
              failureThreshold: breaker.threshold,
              breakDurationMs: breaker.breakDurationMs,
              clock: options.clock,
              onStateChange,
              // The repair spans every master: one still down must not keep this one's breaker
              // open. What it could not delete stays queued (never read back meanwhile) and is
              // tried again on the next recovery or successful write.
              onRecover: () => this.#repairs.run(direct).catch(ignore),
            },
          }),
      onPartialFailure: (error, operation) => {
        this.failed(error, operation)
      },
    })
    if (cluster !== undefined) {
      this.tier = cluster
    } else if (breaker === false) {
      this.tier = direct
    } else {
      const circuit = new CircuitBreakerTier(direct, {
        failureThreshold: breaker.threshold,
        breakDurationMs: breaker.breakDurationMs,
        clock: options.clock,
        onStateChange: (state) => onStateChange(state),
        onRecover: () => this.#repairs.run(direct),
      })
      // The client reconnecting is the moment Redis can answer again: probe then, not a break
      // later (the break's timer stays as the fallback, e.g. after a freeze with no reconnect).
      this.#stopProbingOnReady = connection.onReady(() => circuit.probeNow())
      this.tier = circuit
    }
    const store = this.tier.invalidation
    this.#store = store
    // Fenced: not over a newer value or delete (for a loaded value, `leaseFrom` its load's start,
    // the lease check: not over a delete made since the load started), so a write that reaches
    // Redis late, after its deadline, never replaces what was written after it. That needs the
    // tier's invalidation store; a tier without one stores the value as a plain set.
    this.#storeVersioned =
      store === undefined
        ? (entry) => this.tier.set(entry.key, entry.value, entry.ttlMs)
        : (entry, leaseFrom, bump) =>
            leaseFrom === undefined
              ? store.setLoaded(entry.key, entry.value, entry.ttlMs, entry.createdAt, 'set', bump)
              : store.setLoaded(entry.key, entry.value, entry.ttlMs, leaseFrom, 'load', bump)
    const lock = options.lock
    if (lock !== false && this.tier.locks !== undefined) {
      this.#locks = new KeyLocks(this.tier.locks, {
        ttlMs: lock.ttlMs,
        onError: (error) => this.failed(error, 'lock'),
        timers: timersOf(options.clock),
        // Releases go past the breaker: a lock left behind makes the other processes wait.
        ...(direct.locks === undefined ? {} : { unguarded: direct.locks }),
      })
    }
  }

  get bus(): Bus | undefined {
    return this.tier.bus
  }

  get hasMarkers(): boolean {
    return this.#store !== undefined
  }

  get ordersPublishWithWrites(): boolean {
    return this.direct.bus?.orderedWithWrites === true
  }

  get breakerState(): CircuitState {
    return this.tier instanceof CircuitBreakerTier || this.tier instanceof ClusterTier
      ? this.tier.state
      : 'closed'
  }

  masters(): readonly ClusterMasterState[] | undefined {
    return this.tier instanceof ClusterTier ? this.tier.masters() : undefined
  }

  get locking(): boolean {
    return this.#locks !== undefined
  }

  get ordersLockWithReads(): boolean {
    return this.tier.locks?.orderedWithReads === true
  }

  storageKey(key: string): string {
    return shortenKey(this.#deps.prefix + key, this.#deps.options.maxKeyBytes)
  }

  entry(key: string, fields: EnvelopeFields, ttlMs: number, encrypt: boolean | undefined): RemoteWrite {
    const storageKey = this.storageKey(key)
    const value = this.#deps.codec.seal(fields, storageKey, encrypt)
    return { key: storageKey, value, ttlMs, createdAt: fields.createdAt }
  }

  #markerKey(tag: string): string {
    return shortenKey(`!tag:${this.#deps.scope}:${tag}`, this.#deps.options.maxKeyBytes)
  }

  /** Lock keys start with '!', which no namespace may: they never collide with an entry. */
  #lockKey(key: string): string {
    return shortenKey(`!lock:${this.#deps.prefix}${key}`, this.#deps.options.maxKeyBytes)
  }

  /** Counts an L2 failure and returns the error a caller should see if it must see one. */
  failed(error: unknown, operation: string): StrataError {
    return this.#telemetry.l2Failure(error, operation)
  }

  /**
   * Applies the policy of a failed change: reject, or queue its repair — the deletion of `keys`
   * (cache keys) as of `at`, the failed change's time, or `replay` run on the L2 once it answers.
   */
  #changeFailed(
    error: unknown,
    operation: L2Operation,
    keys: readonly string[],
    at: number,
    replay?: { id: string; run: (tier: RemoteTier) => Promise<unknown> },
  ): void {
    const failure = this.failed(error, operation)
    if (L2_FAILURE_POLICY[operation] !== 'writeErrors') return
    // Repaired under either setting: the L1 and the bus already moved on, and a caller told of the
    // failure may never retry (a retry is newer than the repair, which then leaves it standing).
    this.#repairs.queueKeys(
      keys.map((key) => ({ storageKey: this.storageKey(key), key })),
      at,
    )
    if (replay !== undefined) this.#repairs.queueChange(replay.id, replay.run)
    if (this.#deps.options.l2WriteErrors === 'throw') throw failure
  }

  read<R>(
    key: string,
    countMiss: boolean,
    judge: (bytes: Uint8Array) => R | Promise<R>,
    settled?: () => void,
  ): Promise<R | Miss | Unavailable> {
    const storageKey = this.storageKey(key)
    // Its L2 copy is outdated (a write or delete failed): never read it back.
    if (this.#repairs.outdated(storageKey)) {
      settled?.()
      return Promise.resolve(L2_MISS)
    }
    const telemetry = this.#telemetry
    const started = telemetry.l2Started()
    let reading: Promise<Uint8Array | undefined>
    try {
      reading = this.tier.get(storageKey)
    } catch (error) {
      reading = Promise.reject(error)
    }
    // One `then` for the round trip and the judgement (an async function per layer cost two
    // promises and a microtask hop each).
    return reading.then(
      (bytes) => {
        telemetry.l2Finished(started)
        if (bytes !== undefined)
          return settled === undefined ? judge(bytes) : judgeThen(judge, bytes, settled)
        if (countMiss) telemetry.counters.l2Misses++
        settled?.()
        return L2_MISS
      },
      (error: unknown) => {
        telemetry.l2Finished(started)
        settled?.()
        this.failed(error, 'get')
        return L2_UNAVAILABLE
      },
    )
  }

  async readMany(keys: readonly string[]): Promise<(Uint8Array | undefined)[]> {
    const storageKeys = keys.map((k) => this.storageKey(k))
    const started = this.#telemetry.l2Started()
    const tier = this.tier
    let values: (Uint8Array | undefined | Unread)[]
    try {
      // UNREAD: a cluster master failed (counted by the view) — a failed read, not an L2 miss.
      values = await (tier.getManyOrUnread?.(storageKeys) ?? tier.getMany(storageKeys))
      this.#telemetry.l2Finished(started)
      for (const bytes of values) if (bytes === undefined) this.#telemetry.counters.l2Misses++
    } catch (error) {
      this.failed(error, 'getMany')
      return keys.map(() => undefined)
    }
    return values.map((bytes, i) =>
      bytes === UNREAD || this.#repairs.outdated(storageKeys[i] as string) ? undefined : bytes,
    )
  }

  write(
    key: string,
    entry: RemoteWrite,
    tags: readonly string[],
    operation: 'set' | 'writeBack',
    leaseFrom?: number,
    outdates?: Outdated,
  ): Promise<'written' | 'refused' | 'failed'> {
    const started = this.#telemetry.l2Started()
    let writing: Promise<unknown>
    try {
      // Issued before the value: in one batch, the markers cover the entry once it is readable.
      const touched = tags.length === 0 ? undefined : this.#touchMarkers(tags, entry.ttlMs, entry.createdAt)
      const storing = this.#storeVersioned(entry, leaseFrom, this.#bump(outdates))
      writing = touched === undefined ? storing : Promise.all([storing, touched]).then(first)
    } catch (error) {
      writing = Promise.reject(error)
    }
    // One `then` for the outcome (the untagged common case has no markers to wait for).
    return writing.then(
      (stored) => {
        this.#telemetry.l2Finished(started)
        this.#repairs.written(entry.key, this.direct)
        return stored === false ? 'refused' : 'written'
      },
      (error: unknown) => {
        this.#changeFailed(error, operation, [key], entry.createdAt)
        return 'failed'
      },
    )
  }

  async writeMany(entries: readonly RemoteWrite[], tags: readonly string[]): Promise<void> {
    try {
      // A loop, not Math.max(...): spreading ~120,000 arguments overflows the stack.
      let [ttlMs, createdAt] = [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]
      for (const r of entries)
        [ttlMs, createdAt] = [Math.max(ttlMs, r.ttlMs), Math.min(createdAt, r.createdAt)]
      const touched = this.#touchMarkers(tags, ttlMs, createdAt)
      await this.tier.setMany(entries)
      await touched
    } catch (error) {
      this.failed(error, 'setMany')
    }
  }

  async delete(keys: readonly string[], at: number, dependents: readonly string[]): Promise<boolean> {
    const storageKeys = keys.map((k) => this.storageKey(k))
    try {
      if (this.#store !== undefined) {
        // Tombstones, not UNLINK: a load that started before this delete cannot write back. The
        // dependency markers live elsewhere (another slot on a cluster): their failure is counted
        // but does not make the delete fail (the bus still tells every instance).
        await this.#store.tombstone(storageKeys, at, TOMBSTONE_MS, this.#bump({ dependents, at }))
      } else await this.tier.delete(storageKeys)
      for (const key of storageKeys) this.#repairs.written(key, this.direct)
      return true
    } catch (error) {
      this.#changeFailed(error, 'delete', keys, at)
      return false
    }
  }

  /** The markers of `outdates`' dependency tags, bumped with a change; their failure is counted only. */
  #bump(outdates: Outdated | undefined): MarkerBump | undefined {
    if (outdates === undefined || this.#store === undefined) return undefined
    return {
      keys: this.dependentMarkerKeys(outdates.dependents),
      at: outdates.at,
      failed: this.#dependencyFailed,
    }
  }

  readonly #dependencyFailed = (error: unknown): void => {
    this.failed(error, 'dependency markers')
  }

  dependentMarkerKeys(dependents: readonly string[]): string[] {
    return this.#store === undefined ? [] : dependents.map((t) => this.#markerKey(t))
  }

  async bumpDependents(dependents: readonly string[], at: number): Promise<void> {
    if (this.#store === undefined) return
    await this.#store
      .bumpMarkers(this.dependentMarkerKeys(dependents), at, 'delete', MARKER_MS, true)
      .catch(this.#dependencyFailed)
  }

  async invalidateTags(tags: readonly string[], at: number, mode: InvalidationMode): Promise<void> {
    if (this.#store === undefined) return
    try {
      await this.#store.bumpMarkers(
        tags.map((t) => this.#markerKey(t)),
        at,
        mode,
        MARKER_MS,
      )
    } catch (error) {
      const markerKeys = tags.map((t) => this.#markerKey(t))
      // Queued again, the same tags invalidated later supersede this (markers only move forward).
      this.#changeFailed(error, 'invalidateTags', [], at, {
        id: `tags\n${mode}\n${markerKeys.join('\n')}`,
        run: async (tier) => tier.invalidation?.bumpMarkers(markerKeys, at, mode, MARKER_MS),
      })
    }
  }

  async deleteByPrefix(
    prefix: string,
    operation: 'clear' | 'deleteMatching',
    pattern?: string,
  ): Promise<number | undefined> {
    try {
      return await (pattern === undefined
        ? this.tier.deleteByPrefix(prefix)
        : this.tier.deleteByPrefix(prefix, pattern))
    } catch (error) {
      this.#changeFailed(error, operation, [], 0, {
        id: `${operation}\n${prefix}\n${pattern ?? ''}`,
        run: (tier) =>
          pattern === undefined ? tier.deleteByPrefix(prefix) : tier.deleteByPrefix(prefix, pattern),
      })
      return undefined
    }
  }

  markers(tags: readonly string[]): Promise<readonly (TagMarker | undefined)[]> {
    const store = this.#store
    if (store === undefined) return Promise.resolve(tags.map(() => undefined))
    return store.markers(tags.map((t) => this.#markerKey(t))).catch((error: unknown) => {
      this.failed(error, 'tag markers')
      return tags.map(() => undefined)
    })
  }

  /** Makes the markers of `tags` outlive an entry that lives `ttlMs` (never rejects: a missing marker fails closed). */
  #touchMarkers(tags: readonly string[], ttlMs: number, createdAt: number): Promise<void> {
    if (tags.length === 0 || this.#store === undefined) return Promise.resolve()
    // A marker this creates (first use of the tag, or after it was lost) dates from just before
    // this entry: older entries with the tag are unknown, so they read as misses.
    return this.#store
      .touchMarkers(
        tags.map((t) => this.#markerKey(t)),
        ttlMs,
        createdAt - MARKER_EPSILON_MS,
      )
      .catch((error: unknown) => {
        this.failed(error, 'tag markers')
      })
  }

  tryLock(key: string): Promise<HeldLock | undefined | Unavailable> {
    const locks = this.#locks
    const lock = this.#deps.options.lock
    if (locks === undefined || lock === false) return Promise.resolve(undefined)
    return locks.tryAcquire(this.#lockKey(key), lock.ttlMs).catch((error: unknown) => {
      this.failed(error, 'lock')
      return L2_UNAVAILABLE
    })
  }

  info(): Promise<RemoteInfo> | undefined {
    return this.tier.info?.call(this.tier)
  }

  async close(): Promise<void> {
    this.#locks?.stopAll()
    this.#stopProbingOnReady()
    await this.tier.close()
  }
}

/** No L2: every read misses (uncounted), every write and invalidation is done once the L1 is. */
export class NoRemoteTier implements RemoteAccess {
  readonly direct = undefined
  readonly tier = undefined
  readonly bus = undefined
  readonly ordersPublishWithWrites = false
  readonly hasMarkers = false
  readonly shared = false
  readonly breakerState = 'closed'
  readonly connection = new ConnectionReport()
  masters(): undefined {
    return undefined
  }
  readonly ordersLockWithReads = false
  readonly locking = false
  readonly #prefix: string
  readonly #maxKeyBytes: number

  constructor(prefix: string, maxKeyBytes: number) {
    this.#prefix = prefix
    this.#maxKeyBytes = maxKeyBytes
  }

  storageKey(key: string): string {
    return shortenKey(this.#prefix + key, this.#maxKeyBytes)
  }
  entry(): undefined {
    return undefined
  }
  read(_key: string, _countMiss: boolean, _judge: unknown, settled?: () => void): Promise<Miss> {
    settled?.()
    return Promise.resolve(L2_MISS)
  }
  async readMany(keys: readonly string[]): Promise<undefined[]> {
    return keys.map(() => undefined)
  }
  async write(): Promise<'written'> {
    return 'written'
  }
  async writeMany(): Promise<void> {}
  async delete(): Promise<boolean> {
    return true
  }
  async bumpDependents(): Promise<void> {}
  dependentMarkerKeys(): string[] {
    return []
  }
  async invalidateTags(): Promise<void> {}
  async deleteByPrefix(): Promise<undefined> {
    return undefined
  }
  async markers(tags: readonly string[]): Promise<undefined[]> {
    return tags.map(() => undefined)
  }
  async tryLock(): Promise<undefined> {
    return undefined
  }
  info(): undefined {
    return undefined
  }
  async close(): Promise<void> {}
}

function ignore(): void {}

/** `judge(bytes)`, then `settled()` — after an asynchronous judgement settles, and after a throw. */
function judgeThen<R>(
  judge: (bytes: Uint8Array) => R | Promise<R>,
  bytes: Uint8Array,
  settled: () => void,
): R | Promise<R> {
  let judged: R | Promise<R>
  try {
    judged = judge(bytes)
  } catch (error) {
    settled()
    throw error
  }
  if (judged instanceof Promise) return judged.finally(settled)
  settled()
  return judged
}

function first<T>(pair: readonly [T, unknown]): T {
  return pair[0]
}

/** `tier` for a child cache: every call goes to the parent's tier, but closing it leaves it open. */
export function borrowed(tier: RemoteTier): RemoteTier {
  return new Proxy(tier, {
    get(target, property) {
      if (property === 'close') return async () => {}
      const value = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
