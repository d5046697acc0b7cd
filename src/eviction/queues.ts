import { grownLength } from './policy.js'

const NONE = -1
/** The queue bits of a slot in no queue. */
export const NO_QUEUE = 3
/** The low bits of a slot's *meta* word that hold its queue; the rest belong to the owning policy. */
export const QUEUE_MASK = 3
/** Words per slot in {@link SlotQueues.nodes}. */
const STRIDE = 3

/**
 * Up to three intrusive doubly linked FIFO/LRU queues over the same slot space: a slot is in at
 * most one queue at a time. Shared by the segmented policies (S3-FIFO, W-TinyLFU, ARC).
 *
 * Layout: one Int32Array, three words per slot — newer, older, *meta* — so that everything a
 * policy knows about a slot shares one cache line: on a full cache every eviction visits a slot
 * nobody touched for a long time, and one array per field was one cache miss per field. The low
 * two bits of *meta* are the slot's queue ({@link NO_QUEUE}: none); its upper 30 bits belong to the
 * owning policy (W-TinyLFU keeps hit counts, a reference bit and the key's hash there) and are left
 * alone here. The array starts small and doubles as slots are used (up to `slots`, or past it for a
 * store bounded by bytes only): memory follows what is held, never what could be.
 */
export class SlotQueues {
  /** [newer, older, meta] per slot; read `nodes` again after {@link push}, which may grow it. */
  nodes: Int32Array
  readonly #slots: number
  readonly #head: Int32Array // newest of each queue
  readonly #tail: Int32Array // oldest of each queue
  readonly sizes: Int32Array

  constructor(slots: number, queues: number) {
    this.#slots = slots
    this.nodes = SlotQueues.#blank(Math.min(slots, 64))
    this.#head = new Int32Array(queues).fill(NONE)
    this.#tail = new Int32Array(queues).fill(NONE)
    this.sizes = new Int32Array(queues)
  }

  static #blank(slots: number): Int32Array {
    const nodes = new Int32Array(slots * STRIDE)
    for (let i = 0; i < nodes.length; i += STRIDE) {
      nodes[i] = NONE
      nodes[i + 1] = NONE
      nodes[i + 2] = NO_QUEUE
    }
    return nodes
  }

  /** The queue holding `slot`, or {@link NO_QUEUE}. */
  queueOf(slot: number): number {
    return (this.nodes[slot * STRIDE + 2] as number) & QUEUE_MASK
  }

  /** The oldest slot of queue `q`, or -1. */
  oldest(q: number): number {
    return this.#tail[q] as number
  }

  /** Makes room for `slot`: the nodes double (at most to the slots asked for, unless `slot` is past them). */
  reserve(slot: number): void {
    const length = this.nodes.length / STRIDE
    if (slot < length) return
    const next = SlotQueues.#blank(grownLength(length, slot, this.#slots))
    next.set(this.nodes)
    this.nodes = next
  }

  /** Appends `slot` as the newest of queue `q`. */
  push(q: number, slot: number): void {
    this.reserve(slot)
    const nodes = this.nodes
    const i = slot * STRIDE
    const head = this.#head[q] as number
    nodes[i] = NONE
    nodes[i + 1] = head
    nodes[i + 2] = ((nodes[i + 2] as number) & ~QUEUE_MASK) | q
    if (head !== NONE) nodes[head * STRIDE] = slot
    else this.#tail[q] = slot
    this.#head[q] = slot
    this.sizes[q] = (this.sizes[q] as number) + 1
  }

  /** Appends `slot` as the oldest of queue `q` (it must be in no queue). */
  pushOldest(q: number, slot: number): void {
    this.reserve(slot)
    const nodes = this.nodes
    const i = slot * STRIDE
    const tail = this.#tail[q] as number
    nodes[i] = tail
    nodes[i + 1] = NONE
    nodes[i + 2] = ((nodes[i + 2] as number) & ~QUEUE_MASK) | q
    if (tail !== NONE) nodes[tail * STRIDE + 1] = slot
    else this.#head[q] = slot
    this.#tail[q] = slot
    this.sizes[q] = (this.sizes[q] as number) + 1
  }

  /** Removes `slot` from whatever queue holds it; false if none does. */
  unlink(slot: number): boolean {
    if (slot * STRIDE >= this.nodes.length) return false
    const nodes = this.nodes
    const i = slot * STRIDE
    const meta = nodes[i + 2] as number
    const q = meta & QUEUE_MASK
    if (q === NO_QUEUE) return false
    const newer = nodes[i] as number
    const older = nodes[i + 1] as number
    if (newer !== NONE) nodes[newer * STRIDE + 1] = older
    else this.#head[q] = older
    if (older !== NONE) nodes[older * STRIDE] = newer
    else this.#tail[q] = newer
    nodes[i + 2] = meta | NO_QUEUE
    this.sizes[q] = (this.sizes[q] as number) - 1
    return true
  }

  /** Makes `slot` the newest of queue `q` (moving it from any queue). */
  moveToNewest(q: number, slot: number): void {
    const nodes = this.nodes
    const i = slot * STRIDE
    if (((nodes[i + 2] as number) & QUEUE_MASK) !== q) {
      this.unlink(slot)
      this.push(q, slot)
      return
    }
    // Within one queue (every hit on a window or protected entry): relink only, sizes unchanged.
    const head = this.#head[q] as number
    if (head === slot) return
    const newer = nodes[i] as number // not NONE: slot is not the head
    const older = nodes[i + 1] as number
    nodes[newer * STRIDE + 1] = older
    if (older !== NONE) nodes[older * STRIDE] = newer
    else this.#tail[q] = newer
    nodes[i] = NONE
    nodes[i + 1] = head
    nodes[head * STRIDE] = slot
    this.#head[q] = slot
  }
}
