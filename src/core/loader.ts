import { handOff } from '../base/background.js'
import { type CacheClock, sleep } from '../base/clock.js'
import { within } from '../base/deadline.js'
import { parseDuration } from '../base/duration.js'
import type { HeldLock } from '../coordination/key-lock.js'
import { ClosedError, FactoryError, FactoryHardTimeoutError, messageOf } from '../errors.js'
import type { Decoded } from './entry-codec.js'
import { type Abortable, EntryContext } from './entry-context.js'
import type { Flights, Loaded, LoadToken } from './flights.js'
import { EAGER, type EntryView, type LocalTier, MISS, XFETCH_SPAN } from './local-tier.js'
import {
  DEFAULTS,
  type EntryOptions,
  type GetOrSetManyOptions,
  type GetOrSetOptions,
  type Resilience,
  type ResolvedOptions,
} from './options.js'
import type { RemoteReads, Seen } from './remote-reads.js'
import { L2_MISS, L2_UNAVAILABLE, type Miss, type RemoteAccess, type Unavailable } from './remote-tier.js'
import type { StandardSchemaV1 } from './standard-schema.js'
import type { Telemetry } from './telemetry.js'
import type { Writer } from './writer.js'

/** First and longest pause between two looks at the L2 while another process holds the key's lock. */
const LOCK_POLL_FIRST_MS = 10
const LOCK_POLL_MAX_MS = 100
/** Most keys remembered as backing off after a lost refresh (see Loader.#postponeRefresh). */
const MAX_BACKING_OFF = 10_000

type Schema = StandardSchemaV1<unknown, unknown> | undefined

/** A value that can stand in for a fresh one: stale within grace, or still fresh and being refreshed early. */
interface Stale {
  value: unknown
  freshUntil: number
  /** End of grace: after this the value may not be served. */
  expiresAt: number
  /** The L1 could not vouch for it (the bus is silent): it stands in only by the fail-safe rules. */
  unverified?: boolean
  /** Refreshed by eagerRefresh: every read in its window would start a refresh. */
  eager?: boolean
}

/** How a load got past the key's distributed lock. */
type LockOutcome =
  | { lock: HeldLock | undefined; value?: undefined; l2Failed?: boolean }
  | { value: { v: unknown } }

type LockStep = <T>(
  key: string,
  options: GetOrSetOptions<T>,
  res: Resilience,
  stale: Stale | undefined,
  seen: Seen,
) => Promise<LockOutcome>

const NO_LOCK: Promise<LockOutcome> = Promise.resolve({ lock: undefined })
const noLock: LockStep = () => NO_LOCK

/** What getOrSetMany's joined flights are settled with. */
type Settlers = Map<string, { resolve: (loaded: Loaded) => void; reject: (error: unknown) => void }>

/** The cache's lifecycle as loads see it: closed, and the factories running (aborted on close). */
export interface Lifecycle {
  closed: boolean
  readonly controllers: Set<Abortable>
}

export interface LoaderParts {
  options: ResolvedOptions
  clock: CacheClock
  local: LocalTier
  remote: RemoteAccess
  reads: RemoteReads
  writer: Writer
  flights: Flights
  telemetry: Telemetry
  lifecycle: Lifecycle
}

/**
 * The miss path: early refresh and stale-while-revalidate, the L2 read (backfilling the L1), the
 * key's distributed lock or the value another process stored meanwhile, the factory under its
 * soft and hard timeouts with fail-safe, and getOrSetMany's bulk load. Every answer is a
 * {@link Loaded}: the value and the tier it came from.
 */
export class Loader {
  readonly #p: LoaderParts
  /**
   * The step between the L2 read and the factory, chosen once: the key's distributed lock (or the
   * value its holder stores), or — no L2, a tier without locks, `lock: false` — straight through.
   */
  readonly #lockOrValue: LockStep
  /**
   * Keys whose refresh of a stale value lost the key's lock to another process, and when this
   * instance may try again: until then the stale value answers without a new attempt (F15).
   */
  readonly #retryAt = new Map<string, number>()
  /**
   * One L2 entry, judged, and backfilled into the L1 unless `skipL1` — or unless a change of the
   * key (a write, a delete, a clear or a resync, here or heard from another instance) overtook
   * the read: its reply, older than the change, would otherwise stay in the L1 until its TTL.
   * Chosen once: without an L1 nothing is backfilled, and a read watches for no change.
   */
  readonly read: (
    key: string,
    schema: Schema,
    skipL1: boolean,
    res: Resilience,
    seen?: Seen,
  ) => Promise<Decoded | Miss | Unavailable>

  constructor(parts: LoaderParts) {
    this.#p = parts
    this.read = parts.local.keepsReads
      ? (key, schema, skipL1, res, seen) => this.#readAndKeep(key, schema, skipL1, res, seen)
      : (key, schema, _skipL1, res, seen) => parts.reads.read(key, schema, res, seen)
    this.#lockOrValue =
      parts.remote.locking && parts.options.lock !== false
        ? (key, options, res, stale, seen) => this.#waitForLock(key, options, res, stale, seen)
        : noLock
  }

  /** Starts (and registers as the key's flight) a load: L2, then the key's lock, then the factory. */
  refresh<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    stale?: Stale,
    readL2 = true,
  ): Promise<Loaded> {
    return this.#p.flights.track(key, (token) => this.#load(key, options, res, token, stale, readL2))
  }

  /**
   * An L1 entry that is stale (within grace) or in its refresh window. In the window, the caller
   * gets the value and, when XFetch's draw (or the eager fraction) says so, a background refresh
   * starts. Past its fresh time, the value stands in while the refresh runs (see #preferFresh).
   */
  attention<T>(
    key: string,
    options: GetOrSetOptions<T>,
    view: EntryView,
    now: number,
    res: Resilience,
  ): Promise<Loaded> {
    const { flights, telemetry } = this.#p
    const stale: Stale = { value: view.value, freshUntil: view.freshUntil, expiresAt: view.expiresAt }
    if (view.flags & EAGER) stale.eager = true
    if (view.unverified === true) {
      // Held while the bus is silent: it may have changed elsewhere unheard. Read again (the L2,
      // else the origin); the held value stands in only when both fail — never as a
      // stale-while-revalidate answer, which served it however long the silence had lasted.
      stale.unverified = true
      return flights.get(key) ?? this.refresh(key, options, res, stale)
    }
    if (now < view.freshUntil) {
      telemetry.counters.l1Hits++
      if (!flights.has(key) && this.#refreshDue(view, now)) {
        const kind = view.flags & EAGER ? 'eager' : 'xfetch'
        telemetry.counters.earlyRefreshes++
        telemetry.events.emit('early-refresh', { key, kind })
        // The caller has its answer: the refresh goes on after it, so the runtime is told.
        handOff(res.waitUntil, this.refresh(key, options, res, stale))
      }
      return Promise.resolve({ value: view.value, tier: 'l1' })
    }
    const flight =
      flights.get(key) ??
      (this.#backingOff(key, now)
        ? // As when the attempt loses the lock (see #postponeRefresh), without the round trip.
          Promise.resolve<Loaded>({ value: stale.value, tier: 'l2' })
        : this.refresh(key, options, res, stale))
    return this.#preferFresh(key, flight, stale, res)
  }

  #backingOff(key: string, now: number): boolean {
    const at = this.#retryAt.get(key)
    if (at === undefined) return false
    if (now < at) return true
    this.#retryAt.delete(key)
    return false
  }

  /** {@link read} with an L1. */
  #readAndKeep(
    key: string,
    schema: Schema,
    skipL1: boolean,
    res: Resilience,
    seen?: Seen,
  ): Promise<Decoded | Miss | Unavailable> {
    const { reads, flights } = this.#p
    if (skipL1) return reads.read(key, schema, res, seen)
    const token = flights.startRead(key)
    return reads.read(
      key,
      schema,
      res,
      seen,
      (k, found, r) => {
        if (!token.overtaken) this.#backfill(k, found, r)
      },
      () => flights.endRead(token),
    )
  }

  /** Keeps an entry found in the L2 in the L1 (its value as the L1 holds it: isolated). */
  #backfill(key: string, found: Decoded, res: Resilience): void {
    found.value = this.#p.local.backfill(key, found, res, this.#p.clock.now())
  }

  /** Fresh L2 entries for `keys` (aligned), backfilled into the L1 unless `skipL1`. */
  async readMany(keys: readonly string[], schema: Schema, skipL1: boolean): Promise<(Decoded | undefined)[]> {
    const { flights, options } = this.#p
    const res = options.resilience
    const tokens = skipL1 ? undefined : keys.map((key) => flights.startRead(key))
    let found: (Decoded | undefined)[]
    try {
      found = await this.#p.reads.readMany(keys, schema, res)
    } finally {
      if (tokens !== undefined) for (const token of tokens) flights.endRead(token)
    }
    const now = this.#p.clock.now()
    return found.map((entry, i) => {
      if (entry === undefined) return undefined
      // Not kept when a change of the key overtook the read (see read()).
      if (tokens !== undefined && !tokens[i]?.overtaken)
        entry.value = this.#p.local.backfill(keys[i] as string, entry, res, now)
      // Bulk reads serve fresh values only.
      return entry.fresh ? entry : undefined
    })
  }

  /** XFetch (Vattani et al., 2015): refresh when now − δ·β·ln(U) ≥ expiry; δ·β is encoded in the window's width. */
  #refreshDue(view: EntryView, now: number): boolean {
    if (view.flags & EAGER) return true
    const deltaBeta = (view.freshUntil - view.softAt) / XFETCH_SPAN
    return now - deltaBeta * Math.log(this.#p.options.random()) >= view.freshUntil
  }

  /**
   * Races the refresh against the soft timeout when a stale value can stand in: whichever comes
   * first answers. With the default soft timeout of 0 the stale value answers at once
   * (stale-while-revalidate) and the refresh finishes in the background.
   */
  #preferFresh(key: string, flight: Promise<Loaded>, stale: Stale, res: Resilience): Promise<Loaded> {
    const { telemetry, clock } = this.#p
    const serveStale = (reason: 'soft-timeout' | 'refreshing'): Loaded => {
      // The caller gets the stale value; the refresh goes on after it (stale-while-revalidate).
      handOff(res.waitUntil, flight)
      telemetry.counters.staleServed++
      telemetry.events.emit('stale-served', {
        key,
        ageMs: Math.max(0, clock.now() - stale.freshUntil),
        reason,
      })
      return { value: stale.value, tier: 'stale' }
    }
    if (res.softTimeoutMs <= 0) {
      flight.catch(ignore)
      return Promise.resolve(serveStale('refreshing'))
    }
    return new Promise<Loaded>((resolve, reject) => {
      let settled = false
      const timer = clock.timers.setTimeout(() => {
        settled = true
        telemetry.counters.factoryTimeouts++
        telemetry.events.emit('factory-timeout', { key, kind: 'soft' })
        resolve(serveStale('soft-timeout'))
      }, res.softTimeoutMs)
      flight.then(
        (loaded) => {
          if (settled) return
          clock.timers.clearTimeout(timer)
          resolve(loaded)
        },
        (error: unknown) => {
          if (settled) return
          clock.timers.clearTimeout(timer)
          reject(error)
        },
      )
    })
  }

  async #load<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    token: LoadToken,
    stale: Stale | undefined,
    readL2: boolean,
  ): Promise<Loaded> {
    let writeOptions: EntryOptions = options
    const useL2 = options.skipL2 !== true
    const seen: Seen = {}
    // A refresh (a value at hand) skips the lone first read when the lock step reads the L2 in
    // the same round trip as it takes the lock: it looks for a newer value all the same, and the
    // refreshed value reaches the L1 one round trip sooner (F3: factory + 2 hops on a slow Redis).
    if (stale !== undefined && this.#readsWithLock(options)) readL2 = false
    if (useL2 && readL2 && options.forceFresh !== true) {
      const found = await this.read(key, options.schema, options.skipL1 === true, res, seen)
      // The L2 just failed this key: do not make the caller wait a second deadline for the write-back.
      if (found === L2_UNAVAILABLE) writeOptions = { ...options, skipL2: true }
      else if (found !== L2_MISS) {
        if (found.fresh && isNewer(found, stale)) {
          if (stale !== undefined) this.#tookFromL2(key)
          return { value: found.value, tier: 'l2' }
        }
        if (!found.fresh && stale === undefined) {
          // Stale in the L2 (within grace): it stands in while a refresh runs.
          const fromL2: Stale = {
            value: found.value,
            freshUntil: found.expiresAt,
            expiresAt: found.expiresAt + res.graceMs,
          }
          const answer = this.#preferFresh(key, this.refresh(key, options, res, fromL2, false), fromL2, res)
          return answer.then(asStale)
        }
      }
    }
    let lock: HeldLock | undefined
    if (useL2 && writeOptions.skipL2 !== true && options.forceFresh !== true) {
      const outcome = await this.#lockOrValue(key, options, res, stale, seen)
      if (outcome.value !== undefined) return { value: outcome.value.v, tier: 'l2' }
      lock = outcome.lock
      // The L2 just failed: no second deadline for the write-back either.
      if (outcome.l2Failed === true) writeOptions = { ...writeOptions, skipL2: true }
    }
    try {
      return { value: await this.#runFactory(key, options, res, token, stale, writeOptions), tier: 'origin' }
    } finally {
      // The caller does not wait for the lock's release: it goes on after the answer.
      if (lock !== undefined) handOff(res.waitUntil, lock.release())
    }
  }

  /** Whether the lock step will read the L2 in the same round trip as its lock take. */
  #readsWithLock<T>(options: GetOrSetOptions<T>): boolean {
    return (
      this.#lockOrValue !== noLock &&
      this.#p.remote.ordersLockWithReads &&
      options.skipL2 !== true &&
      options.forceFresh !== true
    )
  }

  /**
   * Distributed single-flight: take the key's lock, or wait for the process that holds it to
   * store the value (polling the L2 with backoff). A holder that died leaves a lock that expires
   * after its TTL; a waiter then takes it. A refresh (a value at hand) never waits: someone else
   * is refreshing, so the current value stays. An L2 failure lets the load go on without a lock.
   */
  async #waitForLock<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    stale: Stale | undefined,
    seen: Seen,
  ): Promise<LockOutcome> {
    const { options: resolved, remote, lifecycle, clock } = this.#p
    const lockOptions = resolved.lock
    if (lockOptions === false) return { lock: undefined }
    const maxWaitMs =
      lockOptions.waitMs ??
      (Number.isFinite(res.hardTimeoutMs) ? lockOptions.ttlMs + res.hardTimeoutMs : DEFAULTS.lockWaitMs)
    // Polling runs on the cache's clock: a test's fake clock advances it, nothing sleeps for real.
    const started = clock.stamp()
    let pollMs = LOCK_POLL_FIRST_MS
    let waited = false
    const skipL1 = options.skipL1 === true
    const ordered = remote.ordersLockWithReads
    for (;;) {
      // Another process may have stored the value between our L2 read and taking the lock: read
      // again after taking it — in the same round trip when the tier keeps the two in order.
      const acquiring = remote.tryLock(key)
      const reading = ordered ? this.read(key, options.schema, skipL1, res, seen) : undefined
      if (reading !== undefined && stale !== undefined) {
        // A refresh that finds a newer value needs no lock: it is taken (and counted) as soon as
        // the read answers, as when it was read alone; a lock taken meanwhile is released.
        const found = await reading
        if (typeof found === 'object' && found.fresh && isNewer(found, stale)) {
          handOff(res.waitUntil, acquiring.then(releaseHeld))
          this.#lockWaited(key, started, waited, 'value')
          this.#tookFromL2(key)
          return { value: { v: found.value } }
        }
      }
      const lock = await acquiring
      if (lock === L2_UNAVAILABLE) {
        await reading
        return { lock: undefined, l2Failed: true }
      }
      if (lock === undefined && reading !== undefined) {
        const found = await reading
        if (found === L2_UNAVAILABLE) return { lock: undefined, l2Failed: true }
        if (found !== L2_MISS && found.fresh && isNewer(found, stale)) {
          this.#lockWaited(key, started, waited, 'value')
          if (stale !== undefined) this.#tookFromL2(key)
          return { value: { v: found.value } }
        }
      }
      if (lock !== undefined) {
        const found = await (reading ?? this.read(key, options.schema, skipL1, res, seen))
        if (typeof found === 'object' && found.fresh && isNewer(found, stale)) {
          handOff(res.waitUntil, lock.release())
          this.#lockWaited(key, started, waited, 'value')
          if (stale !== undefined) this.#tookFromL2(key)
          return { value: { v: found.value } }
        }
        this.#lockWaited(key, started, waited, 'acquired')
        return { lock, l2Failed: found === L2_UNAVAILABLE }
      }
      // Someone else refreshes: the value at hand stays — unless nothing vouches for it.
      if (stale !== undefined && stale.unverified !== true) {
        this.#postponeRefresh(key, stale)
        return { value: { v: stale.value } }
      }
      const elapsed = clock.stamp() - started
      if (elapsed >= maxWaitMs) {
        this.#lockWaited(key, started, waited, 'gave-up')
        return { lock: undefined }
      }
      if (lifecycle.closed) throw closed()
      waited = true
      await sleep(clock.timers, Math.min(pollMs, maxWaitMs - elapsed))
      pollMs = Math.min(pollMs * 1.5, LOCK_POLL_MAX_MS)
      const found = await this.read(key, options.schema, skipL1, res, seen)
      if (found === L2_UNAVAILABLE) return { lock: undefined, l2Failed: true }
      if (found !== L2_MISS && found.fresh) {
        this.#lockWaited(key, started, waited, 'value')
        return { value: { v: found.value } }
      }
    }
  }

  /**
   * After losing the key's lock to another process's refresh, the next read of an eagerly
   * refreshed value still fresh would start another refresh at once (eagerRefresh says yes to
   * every read in the window): one L2 round trip per read of a hot key until the holder stores
   * its value (F15). The window reopens halfway to the fresh end instead — time for the holder
   * to finish, and a look at the L2 still before expiry, so no read has to wait then. (XFetch's
   * window is left alone: its draws are scaled by the window's width.) A stale value (past its
   * fresh time, within grace) would be refreshed by every read likewise: this instance waits
   * LOCK_POLL_MAX_MS, a lock waiter's longest pause, before trying again.
   */
  #postponeRefresh(key: string, stale: Stale): void {
    const now = this.#p.clock.now()
    if (now >= stale.freshUntil) {
      // Bounded: past this many keys backing off at once, the oldest attempts are simply retried.
      if (this.#retryAt.size >= MAX_BACKING_OFF) this.#retryAt.clear()
      this.#retryAt.set(key, now + LOCK_POLL_MAX_MS)
    } else if (stale.eager === true) this.#p.local.refreshUntil(key, now + (stale.freshUntil - now) / 2)
  }

  #lockWaited(
    key: string,
    started: number,
    waited: boolean,
    outcome: 'value' | 'acquired' | 'gave-up',
  ): void {
    if (!waited) return
    this.#p.telemetry.counters.lockWaits++
    const waitedMs = this.#p.clock.stamp() - started
    this.#p.telemetry.events.emit('lock-waited', { key, waitedMs, outcome })
  }

  #tookFromL2(key: string): void {
    this.#p.telemetry.counters.refreshesFromL2++
    this.#p.telemetry.events.emit('refresh-from-l2', { key })
  }

  /**
   * Runs the factory under the hard timeout, with an AbortSignal and the stale value in its
   * context; stores what it returns. When it fails and a stale value is within grace, that value
   * is served instead (fail-safe) and kept fresh for `failSafeBackoff`, so the origin is not
   * retried before then.
   */
  async #runFactory<T>(
    key: string,
    options: GetOrSetOptions<T>,
    res: Resilience,
    token: LoadToken,
    stale: Stale | undefined,
    writeOptions: EntryOptions,
  ): Promise<unknown> {
    const { telemetry, writer, clock, lifecycle } = this.#p
    const counters = telemetry.counters
    if (stale === undefined) telemetry.missed(key)
    const context = new EntryContext<T>(
      key,
      writer.ttlFor(key, undefined, options),
      writer.tagsOf(options),
      stale === undefined
        ? undefined
        : { value: stale.value as T, ageMs: Math.max(0, clock.now() - stale.freshUntil) },
    )
    counters.factoryCalls++
    lifecycle.controllers.add(context)
    const started = performance.now()
    const startedAt = clock.stamp()
    let value: T
    try {
      value = await this.#withHardTimeout(key, options.factory, context, res.hardTimeoutMs)
      if (context.failed) {
        throw new FactoryError(`The factory declined: ${messageOf(context.failure)}`, key, {
          cause: context.failure,
        })
      }
    } catch (cause) {
      counters.factoryErrors++
      const error =
        cause instanceof FactoryHardTimeoutError || cause instanceof FactoryError
          ? cause
          : new FactoryError(`The factory of getOrSet failed: ${messageOf(cause)}`, key, { cause })
      const now = clock.now()
      const failSafe = stale !== undefined && now < stale.expiresAt
      telemetry.events.emit('factory-error', { key, error, staleServed: failSafe })
      if (!failSafe) throw error
      counters.failSafeServed++
      this.#p.local.refreshUntil(key, now + res.failSafeBackoffMs)
      telemetry.events.emit('stale-served', {
        key,
        ageMs: Math.max(0, now - stale.freshUntil),
        reason: 'fail-safe',
      })
      return stale.value
    } finally {
      lifecycle.controllers.delete(context)
      telemetry.latency?.record('factory', 'origin', (performance.now() - started) / 1000)
    }
    const load = { startedAt, ms: performance.now() - started }
    if (value === undefined || context.skipped || token.overtaken) return value
    const ttl = context.ttlChanged
      ? parseDuration(context.ttl, 'ctx.ttl')
      : writer.ttlFor(key, value, options)
    await writer.write(key, value, ttl, context.tags, writeOptions, 'writeBack', res, load)
    return value
  }

  #withHardTimeout<T>(
    key: string,
    factory: GetOrSetOptions<T>['factory'],
    context: EntryContext<T>,
    hardMs: number,
  ): Promise<T> {
    // A factory that throws synchronously is a rejection like any other.
    const running = new Promise<T>((resolve) => resolve(factory(context)))
    if (!Number.isFinite(hardMs)) return running
    const { telemetry, clock } = this.#p
    return within(
      running,
      hardMs,
      () => {
        telemetry.counters.factoryTimeouts++
        telemetry.events.emit('factory-timeout', { key, kind: 'hard' })
        const error = new FactoryHardTimeoutError(
          `The factory for "${key}" did not settle within timeout.hard (${hardMs} ms); its signal was aborted.`,
          key,
        )
        context.abort(error)
        return error
      },
      clock.timers,
    )
  }

  /**
   * getOrSetMany after validation (its `res` resolved before any flight is registered: a refusal
   * after that would leave the keys' flights unsettled, and every later load of them waiting for
   * ever): L1 hits, flights already loading joined, one {@link #loadMany} for the rest.
   */
  async getOrSetMany<T>(options: GetOrSetManyOptions<T>, res: Resilience): Promise<Map<string, T>> {
    const { local, flights, clock, telemetry } = this.#p
    const result = new Map<string, T>()
    const joined: [string, Promise<Loaded>][] = []
    const toLoad: string[] = []
    const seen = new Set<string>()
    for (const key of options.keys) {
      if (seen.has(key)) continue
      seen.add(key)
      const value = options.skipL1 === true ? MISS : local.get(key, clock.now())
      if (value !== MISS) {
        telemetry.counters.l1Hits++
        result.set(key, value as T)
        continue
      }
      const flight = flights.get(key)
      if (flight !== undefined) joined.push([key, flight])
      else toLoad.push(key)
    }
    if (toLoad.length > 0) {
      const settle: Settlers = new Map()
      for (const key of toLoad) {
        const flight = flights.track(
          key,
          () => new Promise<Loaded>((resolve, reject) => settle.set(key, { resolve, reject })),
        )
        joined.push([key, flight])
      }
      this.#loadMany(toLoad, options, settle, res).catch((error: unknown) => {
        for (const { reject } of settle.values()) reject(error)
      })
    }
    for (const [key, flight] of joined) {
      const { value } = await flight
      if (value !== undefined) result.set(key, value as T)
    }
    return result
  }

  /** getOrSetMany's load of `keys` (registered as their flights): one L2 round trip, then one factory call. */
  async #loadMany<T>(
    keys: string[],
    options: GetOrSetManyOptions<T>,
    settle: Settlers,
    res: Resilience,
  ): Promise<void> {
    const { flights, telemetry, writer, remote } = this.#p
    const tokens = new Map(keys.map((k) => [k, flights.tokenOf(k)]))
    let missing = keys
    if (options.skipL2 !== true) {
      const found = await this.readMany(keys, options.schema, options.skipL1 === true)
      missing = []
      keys.forEach((key, i) => {
        const hit = found[i]
        if (hit !== undefined) settle.get(key)?.resolve({ value: hit.value, tier: 'l2' })
        else missing.push(key)
      })
    }
    if (missing.length === 0) return
    telemetry.counters.misses += missing.length
    telemetry.counters.factoryCalls++
    let loaded: ReadonlyMap<string, T>
    try {
      loaded = await options.factory([...missing])
      if (!(loaded instanceof Map)) throw new TypeError('the factory of getOrSetMany must resolve to a Map')
    } catch (cause) {
      telemetry.counters.factoryErrors++
      const error = new FactoryError(`The factory of getOrSetMany failed: ${messageOf(cause)}`, undefined, {
        cause,
      })
      for (const key of missing) settle.get(key)?.reject(error)
      return
    }
    const entries = []
    const tags = writer.tagsOf(options)
    for (const key of missing) {
      const value = loaded.get(key)
      if (value !== undefined && tokens.get(key)?.overtaken !== true) {
        try {
          const entry = writer.prepare(key, value, writer.ttlFor(key, value, options), tags, options, res)
          if (entry !== undefined) entries.push(entry)
        } catch (error) {
          settle.get(key)?.reject(error)
          continue
        }
      }
      settle.get(key)?.resolve({ value, tier: 'origin' })
    }
    if (entries.length === 0) return
    // The callers were answered above: the L2 write goes on after them.
    const written = remote.writeMany(entries, tags)
    handOff(res.waitUntil, written)
    await written
  }
}

export function closed(): ClosedError {
  return new ClosedError('This cache was closed: create a new one with createCache().')
}

function ignore(): void {}

function releaseHeld(lock: HeldLock | undefined | Unavailable): Promise<unknown> | undefined {
  return typeof lock === 'object' ? lock.release() : undefined
}

function asStale(loaded: Loaded): Loaded {
  return { value: loaded.value, tier: 'stale' }
}

/** Whether an L2 value is newer than the one at hand (another instance refreshed it). */
function isNewer(found: Decoded, stale: Stale | undefined): boolean {
  return stale === undefined || found.expiresAt > stale.freshUntil
}
