import { handOff } from '../base/background.js'
import type { CacheClock } from '../base/clock.js'
import { type Duration, parseDuration } from '../base/duration.js'
import { InvalidOptionError } from '../errors.js'
import type { BusChange } from '../invalidation/messages.js'
import type { InvalidationMode } from '../invalidation/store.js'
import { globToRegExp } from '../keys/glob.js'
import type { EncodedValue } from '../serialization/serializer.js'
import { AdaptiveTtl } from '../ttl/adaptive.js'
import type { BusLink } from './bus-link.js'
import type { EntryCodec } from './entry-codec.js'
import { emitInvalidation } from './events.js'
import type { Flights } from './flights.js'
import { assertSlidingCap, type LocalTier } from './local-tier.js'
import { type EntryOptions, type Resilience, type ResolvedOptions, resolveTtl } from './options.js'
import type { RemoteAccess, RemoteWrite } from './remote-tier.js'
import { dependencyTag, type TagState } from './tag-state.js'
import type { Telemetry } from './telemetry.js'

/** A value computed by a factory: when its load started (its creation time) and how long it took. */
export interface Load {
  startedAt: number
  ms: number
}

export interface WriterParts {
  options: ResolvedOptions
  clock: CacheClock
  local: LocalTier
  remote: RemoteAccess
  codec: EntryCodec
  tags: TagState
  flights: Flights
  telemetry: Telemetry
  bus: BusLink
  version: string
  /** `<scope>:` and `<scope>:<version>:`: what clear() and deleteMatching() remove. */
  scope: string
  prefix: string
}

/**
 * Every change: set (both tiers, TTL with jitter, tags), delete, clear, tag invalidation and
 * deleteMatching — applied here, written to the L2 (its failures follow the remote tier's policy
 * table), announced on the bus; and the changes other instances announce, applied here.
 */
export class Writer {
  readonly #p: WriterParts

  constructor(parts: WriterParts) {
    this.#p = parts
  }

  /**
   * Both tiers, the dependency markers and the bus in one go: everything this call sends to the
   * L2 is issued in this tick, so the tier sends it with the other writes of the tick (one round
   * trip for all of them), and the bus message leaves with the tick's other changes.
   */
  async set(
    key: string,
    value: unknown,
    options: EntryOptions,
    res: Resilience,
    lease?: WriteLease,
  ): Promise<void> {
    const { flights, clock, bus, remote } = this.#p
    // Everything that can refuse the call comes first: a refused set has overtaken no load and
    // dropped no dependent entry (the L1 is as it was).
    const { ttl, tags, payload } = this.#checked(key, value, options)
    const since = options.startedAt
    flights.overtake(key)
    // A value computed from reads made since `startedAt` is as old as those reads, and so is this
    // change: a delete of the key or an invalidation of one of its tags after them wins (the
    // L2's lease check, the markers), here and on every instance.
    const at = since === undefined ? clock.stamp() : Math.min(since, clock.stamp())
    const load = since === undefined ? undefined : { startedAt: at, ms: 0 }
    // What was derived from the old value is outdated, here and (below) everywhere.
    const dependents = this.#dropDependents([key], at)
    const entry = this.#store(key, value, payload, ttl, tags, options, res, load)
    const change: BusChange = { op: 'delete', at, version: this.#p.version, keys: [key] }
    if (options.skipL2 !== true) {
      // Everything below is issued in this tick: the tier sends it with the tick's other writes.
      // What depended on the key is outdated everywhere: its markers are bumped with the write.
      // A TTL of 0 caches nothing (prepare kept no entry): the key's L2 copy, the old value,
      // goes as a delete's would (tombstoned, its dependents bumped). Left there, an instance
      // that had not heard this call (started later, or resynchronised) read the old value back.
      const written =
        entry === undefined
          ? remote.delete([key], at, dependents).then((deleted) => (deleted ? undefined : 'failed'))
          : remote.write(key, entry, tags, 'set', leaseOf(load?.startedAt, lease), { dependents, at })
      // Other instances drop their copy of the old value (and read the new one from the L2). Sent
      // even if the write fails: dropping a copy costs them a miss, never a wrong answer.
      const published = bus.publish(change, written)
      const outcome = await written
      // Deleted after the reads this value came from (startedAt): the delete wins.
      this.#settled(key, outcome)
      // A failed write does not wait for the message (it may be failing too): its repair tells the others.
      await this.#announced(published, res.waitUntil, outcome === 'failed')
      if (lease !== undefined) lease.refused = outcome === 'refused'
    }
    emitInvalidation(this.#p.telemetry.events, change, 'local')
  }

  /** What {@link set} refuses (a value it cannot encode or too large, bad options), refused without changing anything. */
  assertSettable(key: string, value: unknown, options: EntryOptions): void {
    this.#checked(key, value, options)
  }

  #checked(
    key: string,
    value: unknown,
    options: EntryOptions,
  ): { ttl: number; tags: readonly string[]; payload: Uint8Array } {
    const since = options.startedAt
    if (since !== undefined && (typeof since !== 'number' || !Number.isFinite(since))) {
      throw new InvalidOptionError(
        'set: startedAt must be a time from cache.stamp(), taken before the first read.',
      )
    }
    const ttl = this.ttlFor(key, value, options)
    return { ttl, tags: this.tagsOf(options), payload: this.#encode(value, options) }
  }

  /**
   * Waits for a change's bus message, unless the bus sends it after the change's writes over the
   * same connection: it is then on its way, behind them, and waiting for its reply would only add
   * to the caller's latency.
   */
  #announced(
    published: Promise<void>,
    waitUntil = this.#p.options.resilience.waitUntil,
    writeFailed = false,
  ): Promise<void> | undefined {
    if (!writeFailed && !this.#p.remote.ordersPublishWithWrites) return published
    // Not awaited: the message is on its way after the caller's answer.
    handOff(waitUntil, published)
    return undefined
  }

  /**
   * A `set` whose L2 writes the caller makes inside its own script (a write-behind appends them
   * with the log entry, atomically): the L1 entry is stored and what depended on the key dropped
   * now; `entry` is the L2 entry to write (undefined: nothing to write) and `markers` the
   * dependency markers to bump where they exist (as `bumpDependents` does, at `at`); once
   * written, call {@link announce}. Undefined when the set needs more than that (tags).
   */
  stageSet(
    key: string,
    value: unknown,
    res: Resilience,
    encoded?: EncodedValue,
  ): { entry: RemoteWrite | undefined; at: number; markers: string[] } | undefined {
    if (this.tagsOf({}).length > 0) return undefined
    this.#p.flights.overtake(key)
    const at = this.#p.clock.stamp()
    const dependents = this.#dropDependents([key], at)
    const entry = this.prepare(key, value, this.ttlFor(key, value, {}), [], {}, res, undefined, encoded)
    return { entry, at, markers: this.#p.remote.dependentMarkerKeys(dependents) }
  }

  /** After staged sets reached the L2: one bus message for all their keys (with the tick's other changes). */
  async announce(keys: readonly string[], at: number): Promise<void> {
    if (keys.length === 0) return
    await this.#p.bus.publish({ op: 'delete', at, version: this.#p.version, keys: [...keys] })
  }

  /**
   * Writes both tiers; resolves false when the L2 write failed (counted; for an explicit `set`,
   * its policy queued the key's repair or rejected).
   */
  write(
    key: string,
    value: unknown,
    ttlMs: number,
    tags: readonly string[],
    options: EntryOptions,
    operation: 'set' | 'writeBack',
    res: Resilience,
    load?: Load,
  ): Promise<boolean> {
    let entry: RemoteWrite | undefined
    try {
      entry = this.prepare(key, value, ttlMs, tags, options, res, load)
    } catch (error) {
      return Promise.reject(error)
    }
    if (entry === undefined) return Promise.resolve(true)
    // Not async: one promise for the write (this is a cold getOrSet's write-back).
    return this.#p.remote
      .write(key, entry, tags, operation, load?.startedAt)
      .then((outcome) => this.#settled(key, outcome))
  }

  /** After an L2 write: a value the lease check refused (a delete came after its reads) leaves the L1 too. */
  #settled(key: string, outcome: 'written' | 'refused' | 'failed' | undefined): boolean {
    if (outcome === 'refused') {
      this.#p.telemetry.counters.writesRefused++
      this.#p.local.delete(key)
    }
    return outcome !== 'failed'
  }

  /**
   * Encodes once (so bad values fail at the call in every configuration; `encoded`, the value's
   * bytes as the caller already wrote them, is taken when the codec writes the same), stores the
   * L1 entry and returns the L2 entry still to write, if the L2 is in use for this call.
   */
  prepare(
    key: string,
    value: unknown,
    ttlMs: number,
    tags: readonly string[],
    options: EntryOptions,
    res: Resilience,
    load?: Load,
    encoded?: EncodedValue,
  ): RemoteWrite | undefined {
    return this.#store(key, value, this.#encode(value, options, encoded), ttlMs, tags, options, res, load)
  }

  /**
   * Refuses an entry's options and value before anything is stored: `encrypt` without a key ring,
   * `sliding` without a valid `maxTtl`, a value that cannot be encoded or is too large. Returns
   * the value's payload.
   */
  #encode(value: unknown, options: EntryOptions, encoded?: EncodedValue): Uint8Array {
    this.#p.codec.assertEncryptable(options.encrypt)
    if (options.sliding === true) assertSlidingCap(options.maxTtl)
    return this.#p.codec.encode(value, encoded)
  }

  /** {@link prepare} once the value is encoded. */
  #store(
    key: string,
    value: unknown,
    payload: Uint8Array,
    ttlMs: number,
    tags: readonly string[],
    options: EntryOptions,
    res: Resilience,
    load?: Load,
  ): RemoteWrite | undefined {
    const { clock, local, telemetry } = this.#p
    const now = clock.now()
    const loadMs = load?.ms ?? 0
    // A loaded value is as old as its load: an invalidation after the load started makes it stale.
    const createdAt = load?.startedAt ?? clock.stamp()
    const ttl = this.#jitter(ttlMs)
    if (!(ttl > 0)) {
      local.delete(key)
      return undefined
    }
    const graceMs = Number.isFinite(ttl) ? res.graceMs : 0
    telemetry.wrote(key, ttl)
    if (options.skipL1 !== true) {
      local.keep(
        key,
        value,
        {
          now,
          createdAt,
          ttlMs: ttl,
          graceMs,
          size: payload.byteLength,
          tags,
          loadMs,
          sliding: options.sliding === true,
          maxTtl: options.maxTtl,
        },
        res,
      )
    }
    if (options.skipL2 === true) return undefined
    // Redis keeps the entry through its grace, so a stale value can stand in for the factory.
    return this.#p.remote.entry(
      key,
      { payload, createdAt, expiresAt: now + ttl, loadMs, tags },
      ttl + graceMs,
      options.encrypt,
    )
  }

  /**
   * A load's entry options, refused before it reads, joins or runs anything: its write-back would
   * refuse them only after the factory, failing every caller that had joined the load.
   */
  assertLoadOptions(options: EntryOptions): void {
    if (options.ttl !== undefined) resolveTtl(options.ttl as Duration, 'ttl')
    if (options.negativeTtl !== undefined) parseDuration(options.negativeTtl, 'negativeTtl')
    this.#p.codec.assertEncryptable(options.encrypt)
    if (options.sliding === true) assertSlidingCap(options.maxTtl)
    this.tagsOf(options)
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    const { telemetry, clock, flights, local, bus } = this.#p
    telemetry.events.emit('delete', { keys })
    const at = clock.stamp()
    for (const key of keys) {
      flights.overtake(key)
      local.delete(key)
    }
    const dependents = this.#dropDependents(keys, at)
    telemetry.counters.deletes += keys.length
    const change: BusChange = { op: 'delete', at, version: this.#p.version, keys: [...keys] }
    // Announced in the same tick as the L2 delete (see set); rejects as the delete's policy says.
    // When the L2 failed (and its policy did not reject), the queued repair tells the others again once it answers.
    const deleted = this.#p.remote.delete(keys, at, dependents)
    const published = bus.publish(change, deleted)
    await this.#announced(published, undefined, !(await deleted))
    emitInvalidation(telemetry.events, { ...change, keys: keys as string[] }, 'local')
  }

  async clear(): Promise<void> {
    const { tags, clock, flights, local, bus } = this.#p
    tags.cleared(clock.stamp())
    flights.overtakeAll()
    local.clear()
    await this.#p.remote.deleteByPrefix(this.#p.scope, 'clear')
    const change: BusChange = { op: 'clear', at: clock.stamp() }
    await bus.publish(change)
    emitInvalidation(this.#p.telemetry.events, change, 'local')
  }

  async invalidateTags(tags: readonly string[], mode: InvalidationMode): Promise<void> {
    const { clock, telemetry, bus } = this.#p
    const at = clock.stamp()
    this.#applyTags(tags, mode, at)
    telemetry.counters.tagInvalidations += tags.length
    const recorded = this.#p.remote.invalidateTags(tags, at, mode)
    // The others hear of it even when the L2 could not record it.
    const published = bus.publish({ op: 'tags', at, tags: [...tags], mode }, recorded)
    try {
      await recorded
      await this.#announced(published)
    } catch (error) {
      // The caller gets the L2's failure; the message goes on after it.
      handOff(this.#p.options.resilience.waitUntil, published)
      throw error
    } finally {
      emitInvalidation(telemetry.events, { op: 'tags', at, tags: tags as string[], mode }, 'local')
    }
  }

  /** Resolves to how many keys the L2 held (the L1's count without an L2). */
  async deleteMatching(pattern: string): Promise<number> {
    const { clock, bus } = this.#p
    const removed = this.#deleteMatchingLocal(pattern)
    const deleted = await this.#p.remote.deleteByPrefix(this.#p.prefix, 'deleteMatching', pattern)
    const message: BusChange = {
      op: 'pattern',
      at: clock.stamp(),
      version: this.#p.version,
      pattern,
    }
    await bus.publish(message)
    emitInvalidation(this.#p.telemetry.events, message, 'local')
    return deleted ?? removed
  }

  /** Applies a change another instance announced. */
  applyHeard(message: BusChange): void {
    const { flights, local, tags, version } = { ...this.#p }
    switch (message.op) {
      case 'delete': {
        const { keys, ats } = message
        // Each key as of its own change (a tick's changes arrive merged, `ats` aligned with `keys`).
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i] as string
          const at = ats?.[i] ?? message.at
          if (message.version === version) {
            flights.overtake(key, at)
            local.delete(key)
          }
          if (ats !== undefined) this.#dropDependents([key], at)
        }
        if (ats === undefined) this.#dropDependents(keys, message.at)
        break
      }
      case 'tags':
        if (message.ats === undefined) this.#applyTags(message.tags, message.mode, message.at)
        else {
          for (let i = 0; i < message.tags.length; i++)
            this.#applyTags([message.tags[i] as string], message.mode, message.ats[i] ?? message.at)
        }
        break
      case 'clear':
        tags.cleared(message.at)
        flights.overtakeAll(message.at)
        local.clear()
        break
      case 'pattern':
        if (message.version === version) this.#deleteMatchingLocal(message.pattern, message.at)
        break
    }
    emitInvalidation(this.#p.telemetry.events, message, 'remote')
  }

  ttlFor(key: string, value: unknown, options: { ttl?: unknown; negativeTtl?: Duration }): number {
    const resolved = this.#p.options
    if (value === null) {
      if (options.negativeTtl !== undefined) return parseDuration(options.negativeTtl, 'negativeTtl')
      if (resolved.negativeTtlMs !== undefined) return resolved.negativeTtlMs
    }
    const ttl = options.ttl === undefined ? resolved.ttl : resolveTtl(options.ttl as Duration, 'ttl')
    return ttl instanceof AdaptiveTtl ? ttl.ttlFor(key) : ttl
  }

  tagsOf(options: EntryOptions): readonly string[] {
    return this.#p.tags.tagsOf(options, (key) => this.#p.local.tagsOf(key))
  }

  #jitter(ttlMs: number): number {
    const { jitter, random } = this.#p.options
    if (jitter === 0 || !Number.isFinite(ttlMs)) return ttlMs
    return ttlMs * (1 + (2 * random() - 1) * jitter)
  }

  /**
   * `keys` changed at `at`: this instance's entries that depend on them (transitively: their tags
   * include the whole chain) are dropped, and the change is remembered. Returns the dependency tags.
   */
  #dropDependents(keys: readonly string[], at: number): string[] {
    const dependents = keys.map(dependencyTag)
    // The markers refuse a value older than `at` that is still on its way: read from the L2, or
    // from a load in flight. With neither, nothing can consult them: no memory per key written.
    if (this.#p.remote.shared || this.#p.flights.size > 0) {
      for (const tag of dependents) this.#p.tags.learn(tag, 'delete', at)
    }
    this.#p.local.deleteTagged(dependents)
    return dependents
  }

  /** Applies a tag invalidation to this instance: remembered, and the L1's tagged entries dropped or made stale. */
  #applyTags(tags: readonly string[], mode: InvalidationMode, at: number): void {
    for (const tag of tags) this.#p.tags.learn(tag, mode, at)
    if (mode === 'delete') this.#p.local.deleteTagged(tags)
    else this.#p.local.expireTagged(tags, this.#p.clock.now())
  }

  #deleteMatchingLocal(pattern: string, at = Number.POSITIVE_INFINITY): number {
    const match = globToRegExp(pattern)
    this.#p.flights.overtakeAll(at, match)
    return this.#p.local.deleteMatching(match)
  }
}

/**
 * A write-through's fence: its L2 write is refused if the key holds anything written or deleted
 * since `from` (the write-through's start), and says so in `refused`.
 */
export interface WriteLease {
  readonly from: number
  refused: boolean
}

/**
 * The time an L2 write is fenced from (refused if the key holds anything written or deleted since):
 * the earlier of a load's start and a write-through's; undefined for a plain set (fenced by its
 * own creation time).
 */
function leaseOf(startedAt: number | undefined, lease: WriteLease | undefined): number | undefined {
  if (lease === undefined) return startedAt
  return startedAt === undefined ? lease.from : Math.min(startedAt, lease.from)
}
