const NONE = -1
/** The queue byte of a slot in no queue. */
export const NO_QUEUE = 0xff
/** Words per slot in {@link SlotQueues.nodes}. */
const STRIDE = 4

/**
 * Several intrusive doubly linked FIFO/LRU queues over the same slot space: a slot is in at most
 * one queue at a time. Shared by the segmented policies (S3-FIFO, W-TinyLFU, ARC).
 *
 * Layout: one Int32Array, four words per slot — newer, older, *meta*, *data* — so that everything
 * a policy knows about a slot shares one cache line. On a full cache every eviction visits a slot
 * nobody touched for a long time; with one array per field that was one cache miss per field.
 * The low byte of *meta* is the slot's queue ({@link NO_QUEUE}: none); its upper bits and the
 * *data* word belong to the owning policy (W-TinyLFU keeps hit counts and a reference bit in the
 * former and the key's hash in the latter) and are left alone here.
 */
export class SlotQueues {
  /** [newer, older, meta, data] per slot; read `nodes` again after {@link push}, which may grow it. */
  nodes: Int32Array
  readonly #head: Int32Array // newest of each queue
  readonly #tail: Int32Array // oldest of each queue
  readonly sizes: Int32Array

  constructor(slots: number, queues: number) {
    this.nodes = SlotQueues.#blank(slots)
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
    return (this.nodes[slot * STRIDE + 2] as number) & 0xff
  }

  /** The oldest slot of queue `q`, or -1. */
  oldest(q: number): number {
    return this.#tail[q] as number
  }

  /** Makes room for `slot` (a store bounded by bytes may use more slots than it was sized for). */
  reserve(slot: number): void {
    if (slot * STRIDE < this.nodes.length) return
    const next = SlotQueues.#blank(Math.max(slot + 1, (this.nodes.length / STRIDE) * 2))
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
    nodes[i + 2] = ((nodes[i + 2] as number) & ~0xff) | q
    if (head !== NONE) nodes[head * STRIDE] = slot
    else this.#tail[q] = slot
    this.#head[q] = slot
    this.sizes[q] = (this.sizes[q] as number) + 1
  }

  /** Removes `slot` from whatever queue holds it; false if none does. */
  unlink(slot: number): boolean {
    const nodes = this.nodes
    const i = slot * STRIDE
    const meta = nodes[i + 2] as number
    const q = meta & 0xff
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
    if (((nodes[i + 2] as number) & 0xff) !== q) {
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
