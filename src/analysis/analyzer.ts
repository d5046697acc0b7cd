import { detach } from './detach.js'
import type { EventSink, RawEvent } from './event.js'
import { ReuseProfiler } from './mrc/reuse-profiler.js'
import { type NormalizedAccess, Normalizer } from './normalize/index.js'
import { type RetainedEvents, RetainedLog } from './retained.js'
import { CountMin } from './sketch/count-min.js'
import { SpaceSaving } from './sketch/space-saving.js'
import { SignatureStats, TypeStats } from './stats.js'
import { TimeExtremes } from './time-outliers.js'

export interface AnalyzerOptions {
  /** Signatures tracked; later new ones are counted under their type's "(other signatures)". Default 2,000. */
  readonly maxSignatures?: number
  /** Data types tracked; later new ones are counted under "(other)". Default 200. */
  readonly maxTypes?: number
  /** Keys the overall reuse profiler tracks exactly before it samples (fixed-size SHARDS). Default 32,768. */
  readonly profilerKeys?: number
  /** The same per data type. Default 4,096. */
  readonly typeProfilerKeys?: number
  /** Events kept for the replays (sampled reads and the writes that may invalidate them). Default 1,000,000 (26 MB). */
  readonly retainedEvents?: number
  /** Malformed lines kept as examples. Default 20. */
  readonly malformedSamples?: number
}

export interface MalformedSample {
  readonly line: number
  readonly reason: string
  /** The line's start, control characters escaped, at most 120 characters. */
  readonly text: string
}

/**
 * Events held back at the start, until the key positions that hold values are learned from them
 * (see {@link Normalizer.learn}): then they are analysed, in order, with what was learned.
 */
export const WARM_UP_EVENTS = 20_000

const OTHER_TYPE = '(other)'
const OTHER_SIGNATURES = '(other signatures)'

/**
 * The streaming half of `analyze`: every event is normalised and folded into per-signature and
 * per-type aggregates, sketches and reuse profilers whose memory is bounded whatever the log's
 * size. Implements the readers' {@link EventSink}.
 */
export class Analyzer implements EventSink {
  readonly #normalizer = new Normalizer()
  readonly #maxSignatures: number
  readonly #maxTypes: number
  readonly #typeProfilerKeys: number
  readonly #retainCap: number
  readonly #malformedCap: number
  readonly signatures = new Map<string, SignatureStats>()
  /** By {@link SignatureStats.index}. */
  readonly signatureList: SignatureStats[] = []
  readonly types = new Map<string, TypeStats>()
  readonly typeList: TypeStats[] = []
  readonly profiler: ReuseProfiler
  readonly topKeys = new SpaceSaving(256)
  /** Read frequencies of every key (1 MiB), so that the top-key trackers skip rare keys cheaply. */
  readonly #frequencies = new CountMin(16, 4)
  lines = 0
  events = 0
  reads = 0
  writes = 0
  others = 0
  skippedLines = 0
  malformedLines = 0
  /** Durations and sizes left unknown because no real one is that large (over 2^53: a corrupted field). */
  impossibleValues = 0
  readonly malformedByReason = new Map<string, number>()
  readonly malformedSamples: MalformedSample[] = []
  /** Earliest and latest timestamps, outliers included (the report's span leaves them out: {@link times}). */
  firstTime = Number.POSITIVE_INFINITY
  lastTime = Number.NEGATIVE_INFINITY
  timedEvents = 0
  /** The extremes of the events' times, from which the report finds the outliers. */
  readonly times = new TimeExtremes()
  readDurationSumMs = 0
  readDurationCount = 0
  readonly #retained: RetainedLog
  /** Set when even the smallest key sample left no room: later events are not replayed. */
  retainedTruncated = false
  /** The first events, copied, until {@link WARM_UP_EVENTS} (undefined once analysed). */
  #warmUp: RawEvent[] | undefined = []

  constructor(options: AnalyzerOptions = {}) {
    this.#maxSignatures = options.maxSignatures ?? 2000
    this.#maxTypes = options.maxTypes ?? 200
    this.#typeProfilerKeys = options.typeProfilerKeys ?? 4096
    this.#retainCap = options.retainedEvents ?? 1_000_000
    this.#malformedCap = options.malformedSamples ?? 20
    this.profiler = new ReuseProfiler({ maxKeys: options.profilerKeys ?? 32_768, reuseTimeBits: 15 })
    this.#retained = new RetainedLog(this.#retainCap)
  }

  event(raw: RawEvent): void {
    const held = this.#warmUp
    if (held !== undefined) {
      this.#normalizer.learn(raw)
      // A copy: readers reuse their event; the text detached from the chunk it was cut from.
      held.push({ ...raw, text: detach(raw.text) })
      if (held.length >= WARM_UP_EVENTS) this.end()
      return
    }
    this.#analyse(raw)
  }

  /** Analyses the events held back at the start (the report calls it; later calls do nothing). */
  end(): void {
    const held = this.#warmUp
    if (held === undefined) return
    this.#warmUp = undefined
    for (const raw of held) this.#analyse(raw)
  }

  #analyse(raw: RawEvent): void {
    const access = this.#normalizer.normalize(raw)
    this.lines = Math.max(this.lines, raw.line)
    if (access.op === 'other') {
      this.others++
      return
    }
    this.events++
    const time = raw.time
    if (!Number.isNaN(time)) {
      this.timedEvents++
      if (time < this.firstTime) this.firstTime = time
      if (time > this.lastTime) this.lastTime = time
      this.times.add(time, raw.line)
    }
    const durationMs = this.#plausible(raw.durationMs)
    const bytes = this.#plausible(raw.bytes)
    const signature = this.#signature(access, raw)
    const type = signature.type
    if (!Number.isNaN(time)) type.observe(time)
    signature.shapes[access.shape]++
    if (durationMs >= 0) {
      signature.durationSumMs += durationMs
      signature.durationCount++
    }
    if (bytes >= 0) {
      signature.bytesSum += bytes
      signature.bytesCount++
    }
    if (access.op === 'write') {
      this.writes++
      signature.writes++
      type.write(access, time, bytes)
      if (this.#room()) this.#retained.write(type.index, access.entityHash, time)
      return
    }
    this.reads++
    signature.reads++
    if (durationMs >= 0) {
      this.readDurationSumMs += durationMs
      this.readDurationCount++
    }
    const hash = access.keyHash
    signature.keys.add(hash)
    const estimate = this.#frequencies.add(hash)
    type.read(access, hash, time, durationMs, bytes, estimate)
    this.topKeys.offer(access.key, estimate)
    const id = this.profiler.access(access.key, hash, time)
    if (id >= 0 && this.#room() && hash < this.profiler.threshold)
      this.#retained.read(id, hash, signature.index, access.shape === 'list' ? 0 : access.entityHash, time)
  }

  /**
   * A duration or size, or NaN (unknown) when no real one is that large: a corrupted line's
   * 400-digit size (Infinity) made every mean of its signature and type, and the memory estimate,
   * Infinity; one of 10^20, as good as that. Counted in {@link impossibleValues}.
   */
  #plausible(value: number): number {
    if (!(value > Number.MAX_SAFE_INTEGER)) return value
    this.impossibleValues++
    return Number.NaN
  }

  malformed(line: number, reason: string, text: string): void {
    this.lines = Math.max(this.lines, line)
    this.malformedLines++
    this.malformedByReason.set(
      this.malformedByReason.has(reason) ? reason : detach(reason),
      (this.malformedByReason.get(reason) ?? 0) + 1,
    )
    if (this.malformedSamples.length < this.#malformedCap) {
      this.malformedSamples.push({ line, reason: detach(reason), text: detach(preview(text)) })
    }
  }

  skipped(line: number): void {
    this.lines = Math.max(this.lines, line)
    this.skippedLines++
  }

  /** The events kept for replays (see {@link RetainedEvents}); valid until the next event. */
  retained(): RetainedEvents {
    this.end()
    this.#compact()
    return this.#retained.view(this.profiler.rate)
  }

  #signature(access: NormalizedAccess, raw: RawEvent): SignatureStats {
    const found = this.signatures.get(access.signature)
    if (found !== undefined) return found
    let type = this.types.get(access.type)
    if (type === undefined) {
      const name = this.typeList.length >= this.#maxTypes ? OTHER_TYPE : access.type
      type = this.types.get(name)
      if (type === undefined) {
        type = new TypeStats(name, this.typeList.length, this.#typeProfilerKeys)
        this.typeList.push(type)
        this.types.set(name, type)
      }
      if (name !== access.type) this.types.set(access.type, type)
    }
    const overflow = this.signatures.size >= this.#maxSignatures
    const name = overflow ? `${type.name} ${OTHER_SIGNATURES}` : access.signature
    let signature = this.signatures.get(name)
    if (signature === undefined) {
      signature = new SignatureStats(
        name,
        type,
        overflow ? '' : raw.text,
        raw.line,
        this.signatureList.length,
      )
      this.signatureList.push(signature)
      type.signatures.push(signature)
      this.signatures.set(name, signature)
    }
    return signature
  }

  /**
   * Whether one more event may be retained. When the log is full: forget the reads of keys no
   * longer sampled and the writes they no longer need; while that leaves it over 80% full, sample
   * fewer keys (the profiler's threshold drops) and again.
   */
  #room(): boolean {
    if (!this.#retained.full) return true
    if (this.retainedTruncated) return false
    this.#compact()
    while (this.#retained.length > 0.8 * this.#retainCap && this.profiler.trackedKeys > 16) {
      this.profiler.shrinkTo(Math.max(16, Math.floor(this.profiler.trackedKeys * 0.7)))
      this.#compact()
    }
    if (this.#retained.full) this.retainedTruncated = true
    return !this.retainedTruncated
  }

  #compact(): void {
    this.#retained.compact(
      this.profiler.threshold,
      (signature) => (this.signatureList[signature] as SignatureStats).type.index,
    )
  }
}

function preview(text: string): string {
  const escaped = text
    .slice(0, 200)
    // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping them is the point
    .replace(/[\x00-\x1f\x7f\ufffd\\]/g, (c) =>
      c === '\\'
        ? '\\\\'
        : c === '\ufffd'
          ? '\\ufffd'
          : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
    )
  return escaped.length > 120 ? `${escaped.slice(0, 120)}…` : escaped
}
