import type { CacheClock } from '../base/clock.js'
import type { Decoded, EntryCodec } from './entry-codec.js'
import type { Resilience } from './options.js'
import { L2_MISS, type Miss, type RemoteAccess, type Unavailable } from './remote-tier.js'
import type { StandardSchemaV1 } from './standard-schema.js'
import type { Judgement, TagState } from './tag-state.js'
import type { Telemetry } from './telemetry.js'

type Schema = StandardSchemaV1<unknown, unknown> | undefined

/** What one load has already seen in the L2 (a second look need not judge the same bytes again). */
export interface Seen {
  bytes?: Uint8Array
  /** Whether the load already looked (a second look that finds nothing is not another L2 miss). */
  looked?: boolean
}

/**
 * Reads L2 entries and judges them: decoded, not older than a delete or clear this instance knows
 * of, within the reader's grace, not invalidated by a tag, valid for the caller's schema. Found
 * (fresh or stale), Miss or Unavailable; a fresh one counts as an L2 hit. Never writes the L1.
 * Synchronous after the round trip unless a schema or a tag marker read is asynchronous.
 */
export class RemoteReads {
  readonly #remote: RemoteAccess
  readonly #codec: EntryCodec
  readonly #tags: TagState
  readonly #telemetry: Telemetry
  readonly #clock: CacheClock
  /** What a tagged entry goes through, chosen once: its markers, or (a tier without markers) nothing more. */
  readonly #byTags: (
    key: string,
    decoded: Decoded,
    schema: Schema,
    res: Resilience,
  ) => Decoded | undefined | Promise<Decoded | undefined>

  constructor(
    remote: RemoteAccess,
    codec: EntryCodec,
    tags: TagState,
    telemetry: Telemetry,
    clock: CacheClock,
  ) {
    this.#remote = remote
    this.#codec = codec
    this.#tags = tags
    this.#telemetry = telemetry
    this.#clock = clock
    this.#byTags = remote.hasMarkers
      ? (key, decoded, schema, res) => this.#judgeTags(key, decoded, schema, res)
      : (key, decoded, schema) => this.#acceptValid(key, decoded, schema)
  }

  /**
   * One entry, judged; `found` (the loader's L1 backfill) runs on a Found before the read settles.
   * One promise for the round trip and the judgement (see {@link RemoteAccess.read}).
   */
  read(
    key: string,
    schema: Schema,
    res: Resilience,
    seen?: Seen,
    found?: (key: string, entry: Decoded, res: Resilience) => void,
    settled?: () => void,
  ): Promise<Decoded | Miss | Unavailable> {
    const again = seen?.looked === true
    if (seen !== undefined) seen.looked = true
    return this.#remote.read(
      key,
      !again,
      (bytes) => {
        if (seen !== undefined) {
          // A second look during the same load: the same bytes were already judged (corrupt, failing
          // the schema, stale) and counted; only a new value is worth decoding.
          if (seen.bytes !== undefined && Buffer.compare(seen.bytes, bytes) === 0) return L2_MISS
          seen.bytes = bytes
        }
        const accepted = this.#accept(key, bytes, schema, res)
        if (!(accepted instanceof Promise)) return settle(key, accepted, res, found)
        return accepted.then((entry) => settle(key, entry, res, found))
      },
      settled,
    )
  }

  /** Aligned with `keys`: every entry found and judged (fresh or stale), undefined elsewhere. */
  async readMany(keys: readonly string[], schema: Schema, res: Resilience): Promise<(Decoded | undefined)[]> {
    const values = await this.#remote.readMany(keys)
    const crossed: number[] = []
    const found = await Promise.all(
      values.map((bytes, i) =>
        bytes === undefined
          ? undefined
          : this.#accept(keys[i] as string, bytes, schema, res, () => crossed.push(i)),
      ),
    )
    if (crossed.length === 0) return found
    // Values older than a change heard while the read was on its way: a slow many-key read (a
    // cluster slot moving: TRYAGAIN, ASK, each key read on its own, all awaited together) crossed
    // a write. The change's own value is in the L2 by now (a change is announced once written),
    // so those keys are read once more rather than answered as silent misses.
    const again = crossed.map((i) => keys[i] as string)
    const second = await this.#remote.readMany(again)
    const judged = await Promise.all(
      second.map((bytes, j) =>
        bytes === undefined ? undefined : this.#accept(again[j] as string, bytes, schema, res),
      ),
    )
    for (let j = 0; j < crossed.length; j++) found[crossed[j] as number] = judged[j]
    return found
  }

  /** `crossed`, if given, is told when the entry is refused as older than a change this instance heard of. */
  #accept(
    key: string,
    bytes: Uint8Array,
    schema: Schema,
    res: Resilience,
    crossed?: () => void,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    const decoded = this.#codec.decode(bytes, this.#remote.storageKey(key))
    if (decoded === undefined) return undefined
    // A read that crossed a delete (its reply came back after the bus told us): the value is older.
    if (this.#tags.deletedSince(key, decoded.createdAt)) {
      crossed?.()
      return undefined
    }
    const now = this.#clock.now()
    if (decoded.expiresAt <= now) {
      if (decoded.expiresAt + res.graceMs <= now) return undefined
      decoded.fresh = false
    }
    if (decoded.tags.length > 0) return this.#byTags(key, decoded, schema, res)
    return this.#acceptValid(key, decoded, schema)
  }

  /** A tagged entry judged against its tags' markers (see {@link #byTags}). */
  #judgeTags(
    key: string,
    decoded: Decoded,
    schema: Schema,
    res: Resilience,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    const state = this.#tags.judge(decoded.tags, decoded.createdAt, (tags) => this.#remote.markers(tags))
    return typeof state === 'string'
      ? this.#acceptTagged(key, decoded, state, schema, res)
      : state.then((settled) => this.#acceptTagged(key, decoded, settled, schema, res))
  }

  /** An L2 entry with tags, judged against its tags' markers. */
  #acceptTagged(
    key: string,
    decoded: Decoded,
    state: Judgement,
    schema: Schema,
    res: Resilience,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    if (state === 'gone' || (state === 'stale' && res.graceMs <= 0)) {
      this.#telemetry.counters.tagInvalidatedReads++
      return undefined
    }
    if (state === 'stale') {
      decoded.fresh = false
      decoded.expiresAt = Math.min(decoded.expiresAt, this.#clock.now())
    }
    return this.#acceptValid(key, decoded, schema)
  }

  #acceptValid(
    key: string,
    decoded: Decoded,
    schema: Schema,
  ): Decoded | undefined | Promise<Decoded | undefined> {
    if (schema === undefined) return this.#found(key, decoded)
    const result = schema['~standard'].validate(decoded.value)
    return result instanceof Promise
      ? result.then((settled) => this.#validated(key, decoded, settled))
      : this.#validated(key, decoded, result)
  }

  #validated(key: string, decoded: Decoded, result: StandardSchemaV1.Result<unknown>): Decoded | undefined {
    if (result.issues !== undefined) {
      this.#telemetry.counters.schemaFailures++
      return undefined
    }
    decoded.value = result.value
    return this.#found(key, decoded)
  }

  #found(key: string, decoded: Decoded): Decoded {
    if (decoded.fresh) {
      this.#telemetry.counters.l2Hits++
      if (this.#telemetry.events.watchingReads) this.#telemetry.events.emit('hit', { key, tier: 'l2' })
    }
    return decoded
  }
}

function settle(
  key: string,
  entry: Decoded | undefined,
  res: Resilience,
  found: ((key: string, entry: Decoded, res: Resilience) => void) | undefined,
): Decoded | Miss {
  if (entry === undefined) return L2_MISS
  found?.(key, entry, res)
  return entry
}
