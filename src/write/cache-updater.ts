import { attempt } from '../base/attempt.js'
import type { FlushedKey, WriteLog } from './log.js'
import type { WriteBehindCache } from './staging.js'
import type { WriteBehindEvents, WriteBehindStats } from './types.js'

interface QueuedCheck extends FlushedKey {
  resolve: (seq: number) => void
  reject: (error: unknown) => void
}

/**
 * The cache update after an append, where the append cannot carry it (a Redis Cluster: the
 * cache's entries live in other slots; or a set the cache could not stage). Updates of one key
 * run one after the other, in log order, and each checks afterwards that no other process
 * appended a newer write of the key meanwhile (see {@link CacheUpdater.update}).
 */
export class CacheUpdater {
  readonly #log: WriteLog
  readonly #cache: WriteBehindCache
  readonly #stats: WriteBehindStats
  readonly #emit: <E extends keyof WriteBehindEvents>(name: E, event: WriteBehindEvents[E]) => void
  #checks = new Map<number, QueuedCheck[]>()
  /** Highest sequence this instance gave each key still being written. */
  readonly #localSeq = new Map<string, number>()
  /** The last cache update of each key still running. */
  readonly #chain = new Map<string, Promise<void>>()

  constructor(
    log: WriteLog,
    cache: WriteBehindCache,
    stats: WriteBehindStats,
    emit: <E extends keyof WriteBehindEvents>(name: E, event: WriteBehindEvents[E]) => void,
  ) {
    this.#log = log
    this.#cache = cache
    this.#stats = stats
    this.#emit = emit
  }

  /** The write of `key` got `seq` in the log: now the cache, after this process's earlier updates of the key. */
  async update(partition: number, key: string, op: 'set' | 'delete', value: unknown, seq: number) {
    // Cache updates of one key run one after the other, in log order: a later write of the key
    // in this process never lands in the cache before an earlier one.
    this.#localSeq.set(key, Math.max(seq, this.#localSeq.get(key) ?? 0))
    const previous = this.#chain.get(key)
    const update = (previous ?? Promise.resolve()).then(() =>
      this.#updateCache(partition, key, op, value, seq),
    )
    this.#chain.set(key, update)
    await update
    if (this.#chain.get(key) === update) this.#chain.delete(key)
  }

  /**
   * The write is in the log; now the cache. Two processes writing one key may update the cache in
   * the opposite order of their log entries; the later-sequenced write is what the database ends
   * with, so after its cache write a writer checks the key's sequence: if another process wrote
   * it since, it deletes the key from the cache (a miss is never wrong; an older value would be).
   * The set was appended with its sequence held (AppendOp.holdSequence), so a flush in between
   * does not erase what the check reads; the check releases the hold.
   */
  async #updateCache(partition: number, key: string, op: 'set' | 'delete', value: unknown, seq: number) {
    const cache = this.#cache
    try {
      if (op === 'delete') {
        await cache.delete(key)
        return
      }
      let written = true
      try {
        await cache.set(key, value)
      } catch (error) {
        written = false
        this.#emit('cache-error', { key, error })
      }
      // Released whether or not the set went through: a hold must not outlive its write.
      const current = await this.#release(partition, key, seq)
      if (!written) return
      const mine = this.#localSeq.get(key) ?? 0
      // A newer write from this process comes next (chained) and checks again; one from another
      // process may have reached the cache before ours: drop ours. No sequence at all: a newer
      // write replaced our hold and was flushed already: drop ours too.
      if (current === 0 || (current > seq && current > mine)) {
        this.#stats.cacheWithdrawn++
        await cache.delete(key)
      }
    } catch (error) {
      // The write is accepted (it is in the log and will be flushed): report, do not reject.
      this.#emit('cache-error', { key, error })
    } finally {
      if (this.#localSeq.get(key) === seq) this.#localSeq.delete(key)
    }
  }

  /** The key's last sequence, `seq`'s hold released; the checks of one tick share a round trip per partition. */
  #release(partition: number, key: string, seq: number): Promise<number> {
    return new Promise((resolve, reject) => {
      let queue = this.#checks.get(partition)
      if (queue === undefined) {
        queue = []
        this.#checks.set(partition, queue)
        process.nextTick(() => {
          const batch = this.#checks.get(partition) ?? []
          this.#checks.delete(partition)
          attempt(() => this.#log.releaseSequences(partition, batch)).then(
            (seqs) => {
              for (let i = 0; i < batch.length; i++) (batch[i] as QueuedCheck).resolve(seqs[i] ?? 0)
            },
            (error: unknown) => {
              for (const c of batch) c.reject(error)
            },
          )
        })
      }
      queue.push({ key, seq, resolve, reject })
    })
  }
}
