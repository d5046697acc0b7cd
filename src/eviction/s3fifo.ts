import { GhostLists } from './ghosts.js'
import type { EvictionPolicy } from './policy.js'
import { SlotQueues } from './queues.js'

const SMALL = 0
const MAIN = 1
const MAX_FREQ = 3
/*
 * Per-slot state in the queues' meta word (12 bytes per slot in all, see SlotQueues): bits 0–1
 * the queue, bits 2–3 the 2-bit hit counter, bits 7–31 the key's hash (its upper 25 bits).
 */
const STRIDE = 3
const META = 2
const FREQ_SHIFT = 2
const FREQ_MASK = MAX_FREQ << FREQ_SHIFT
const HASH_SHIFT = 7

/**
 * S3-FIFO (Yang et al., SOSP 2023): a small FIFO (10%) that filters one-hit wonders, a main FIFO
 * (90%) with lazy reinsertion, and a ghost queue of keys recently evicted from the small one. A
 * hit only bumps a 2-bit counter. New keys enter the small queue — or the main one if the ghost
 * remembers them; leaving the small queue, an entry read again moves to main, others are ghosted.
 * The ghost queue is the compact hash table W-TinyLFU uses (one list of it: {@link GhostLists}).
 */
export class S3FifoPolicy implements EvictionPolicy {
  readonly name = 's3fifo' as const
  readonly #queues: SlotQueues
  readonly #smallTarget: number
  readonly #ghost: GhostLists

  constructor(capacity: number, smallShare = 0.1) {
    this.#queues = new SlotQueues(capacity + 1, 2)
    this.#smallTarget = Math.max(1, Math.round(capacity * smallShare))
    this.#ghost = new GhostLists(capacity - this.#smallTarget, 0)
  }

  touch(slot: number): void {
    const nodes = this.#queues.nodes
    const at = slot * STRIDE + META
    const meta = nodes[at] as number
    if ((meta & FREQ_MASK) !== FREQ_MASK) nodes[at] = meta + (1 << FREQ_SHIFT)
  }

  miss(_hash: number): void {}

  insert(slot: number, hash: number): void {
    const queues = this.#queues
    queues.reserve(slot)
    const h = hash >>> HASH_SHIFT
    queues.nodes[slot * STRIDE + META] = h << HASH_SHIFT // counter 0 (push sets the queue bits)
    queues.push(this.#ghost.take(h) === 0 ? MAIN : SMALL, slot)
  }

  remove(slot: number): void {
    this.#queues.unlink(slot)
  }

  victim(candidate: number): number {
    const queues = this.#queues
    for (;;) {
      const small = queues.sizes[SMALL] as number
      const nodes = queues.nodes
      if (small > this.#smallTarget || (queues.sizes[MAIN] as number) === 0) {
        const oldest = queues.oldest(SMALL)
        if (oldest === candidate && small === 1 && queues.sizes[MAIN] === 0) return candidate
        const at = oldest * STRIDE + META
        const meta = nodes[at] as number
        if ((meta & FREQ_MASK) !== 0) {
          nodes[at] = meta & ~FREQ_MASK
          queues.moveToNewest(MAIN, oldest)
          continue
        }
        this.#ghost.add(0, meta >>> HASH_SHIFT)
        return oldest
      }
      const oldest = queues.oldest(MAIN)
      const at = oldest * STRIDE + META
      const meta = nodes[at] as number
      if ((meta & FREQ_MASK) !== 0) {
        nodes[at] = meta - (1 << FREQ_SHIFT)
        queues.moveToNewest(MAIN, oldest)
        continue
      }
      return oldest
    }
  }
}
