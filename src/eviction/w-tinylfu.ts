import { FrequencySketch } from './frequency-sketch.js'
import { type EvictionPolicy, withSlot } from './policy.js'
import { SlotQueues } from './queues.js'

const WINDOW = 0
const PROBATION = 1
const PROTECTED = 2

/** Caffeine's hill-climber constants. */
const STEP_PERCENT = 0.0625
const STEP_DECAY = 0.98
const RESTART_THRESHOLD = 0.05

/**
 * W-TinyLFU (Einziger, Friedman & Manes, 2017), as Caffeine runs it: new entries enter an LRU
 * *window*; entries leaving the window compete with the main region's LRU victim, and the one
 * the frequency sketch says is more popular stays. The main region is a segmented LRU (20%
 * probation, 80% protected). The window's share starts at 1% and is tuned by hill climbing: after
 * each sample of 10 × capacity requests, if the hit ratio improved the window keeps moving the
 * same way, otherwise it turns back — so recency-skewed workloads (a big window, LRU-like) and
 * frequency-skewed ones (a small window) are both served.
 */
export class WTinyLfuPolicy implements EvictionPolicy {
  readonly name = 'w-tinylfu' as const
  readonly #capacity: number
  readonly #queues: SlotQueues
  #hash: Int32Array
  readonly #sketch: FrequencySketch
  #windowMax: number
  /** The window never shrinks below its initial 1%: smaller, bursts of new keys cannot build frequency before they compete. */
  readonly #windowMin: number
  #protectedMax: number
  // hill climbing
  readonly #sampleSize: number
  #hits = 0
  #misses = 0
  #previousHitRate = 0
  #stepSize: number
  #adjustment = 0
  readonly #stepPercent: number
  readonly #restart: number
  readonly #decay: number

  constructor(
    capacity: number,
    options: {
      windowShare?: number
      adaptive?: boolean
      sampleFactor?: number
      stepPercent?: number
      restart?: number
      decay?: number
    } = {},
  ) {
    this.#capacity = capacity
    this.#queues = new SlotQueues(capacity + 1, 3)
    this.#hash = new Int32Array(capacity + 1)
    this.#sketch = new FrequencySketch(capacity)
    this.#windowMax = Math.max(1, Math.round(capacity * (options.windowShare ?? 0.01)))
    this.#windowMin = this.#windowMax
    this.#protectedMax = Math.floor((capacity - this.#windowMax) * 0.8)
    this.#sampleSize =
      options.adaptive === false
        ? Number.POSITIVE_INFINITY
        : Math.max((options.sampleFactor ?? 10) * capacity, 100)
    this.#stepPercent = options.stepPercent ?? STEP_PERCENT
    this.#restart = options.restart ?? RESTART_THRESHOLD
    this.#decay = options.decay ?? STEP_DECAY
    this.#stepSize = -this.#stepPercent * capacity
  }

  /** The window's current share of the capacity (for reports and tests). */
  get windowShare(): number {
    return this.#windowMax / this.#capacity
  }

  touch(slot: number): void {
    this.#sketch.increment(this.#hash[slot] as number)
    const queues = this.#queues
    const q = queues.queueOf[slot]
    if (q === PROBATION) {
      queues.moveToNewest(PROTECTED, slot)
      this.#demoteProtectedOverflow()
    } else queues.moveToNewest(q as number, slot)
    if (++this.#hits + this.#misses >= this.#sampleSize) this.#climb()
  }

  miss(hash: number): void {
    this.#sketch.increment(hash)
    if (this.#hits + ++this.#misses >= this.#sampleSize) this.#climb()
  }

  insert(slot: number, hash: number): void {
    this.#hash = withSlot(this.#hash, slot, 0)
    this.#hash[slot] = hash
    this.#queues.push(WINDOW, slot)
  }

  remove(slot: number): void {
    this.#queues.unlink(slot)
  }

  victim(candidate: number): number {
    const queues = this.#queues
    const sizes = queues.sizes
    // Entries past the window's share move to probation, where they must beat the main victim.
    let contender = -1
    while ((sizes[WINDOW] as number) > this.#windowMax) {
      contender = queues.oldest(WINDOW)
      queues.moveToNewest(PROBATION, contender)
    }
    if (contender === -1) {
      // Window within bounds: the main region evicts its LRU (probation first).
      const fromMain = queues.oldest(PROBATION)
      if (fromMain !== -1) return fromMain
      const fromProtected = queues.oldest(PROTECTED)
      if (fromProtected !== -1) return fromProtected
      const fromWindow = queues.oldest(WINDOW)
      return fromWindow === candidate && sizes[WINDOW] === 1 ? candidate : fromWindow
    }
    let victim = queues.oldest(PROBATION)
    if (victim === contender) {
      // Probation holds only the contender: the protected LRU is the one to beat.
      victim = queues.oldest(PROTECTED)
      if (victim === -1) return contender
    }
    return this.#admit(contender, victim) ? victim : contender
  }

  /** TinyLFU admission: the contender enters main only if it is more popular than the victim. */
  #admit(contender: number, victim: number): boolean {
    const contenderFreq = this.#sketch.frequency(this.#hash[contender] as number)
    const victimFreq = this.#sketch.frequency(this.#hash[victim] as number)
    if (contenderFreq > victimFreq) return true
    // Caffeine's defence against hash flooding: a warm contender sometimes wins a tie-break, so an
    // attacker cannot pin a victim by raising its estimate. Deterministic from the hashes.
    if (contenderFreq >= 6 && ((this.#hash[contender] as number) & 127) === 0) return true
    return false
  }

  #demoteProtectedOverflow(): void {
    const queues = this.#queues
    while ((queues.sizes[PROTECTED] as number) > this.#protectedMax) {
      queues.moveToNewest(PROBATION, queues.oldest(PROTECTED))
    }
  }

  #climb(): void {
    const requests = this.#hits + this.#misses
    const hitRate = this.#hits / requests
    const change = hitRate - this.#previousHitRate
    const amount = change >= 0 ? this.#stepSize : -this.#stepSize
    this.#stepSize =
      Math.abs(change) >= this.#restart
        ? this.#stepPercent * this.#capacity * (amount >= 0 ? 1 : -1)
        : this.#decay * amount
    this.#previousHitRate = hitRate
    this.#adjustment += amount
    this.#hits = 0
    this.#misses = 0
    const whole = Math.trunc(this.#adjustment)
    if (whole === 0) return
    this.#adjustment -= whole
    this.#resizeWindow(whole)
  }

  /** Grows (n > 0) or shrinks the window by up to |n| entries, moving entries between regions. */
  #resizeWindow(n: number): void {
    const queues = this.#queues
    const mainMax = this.#capacity - this.#windowMax
    if (n > 0) {
      const grow = Math.min(n, mainMax - 1)
      if (grow <= 0) return
      this.#windowMax += grow
      for (let i = 0; i < grow; i++) {
        let slot = queues.oldest(PROBATION)
        if (slot === -1) slot = queues.oldest(PROTECTED)
        if (slot === -1) break
        queues.moveToNewest(WINDOW, slot)
      }
    } else {
      const shrink = Math.min(-n, this.#windowMax - this.#windowMin)
      if (shrink <= 0) return
      this.#windowMax -= shrink
      for (let i = 0; i < shrink && (queues.sizes[WINDOW] as number) > this.#windowMax; i++) {
        queues.moveToNewest(PROBATION, queues.oldest(WINDOW))
      }
    }
    this.#protectedMax = Math.floor((this.#capacity - this.#windowMax) * 0.8)
    this.#demoteProtectedOverflow()
  }
}
