import type { RedisAdapter } from './adapter.js'
import { Packer } from './pack.js'
import { BUMP_MARKER, type LuaScript, SET_LOADED, TOUCH_MARKER, WRITE_ALONE, WRITE_BATCH } from './scripts.js'

/** One write of {@link WRITE_BATCH}: its letter, its keys (none for `p`, two for `w`), its arguments. */
export type WriteOp = 's' | 'l' | 'v' | 't' | 'b' | 'p' | 'w'

interface QueuedWrite {
  op: WriteOp
  keys: readonly string[]
  args: readonly (string | Buffer)[]
  resolve: (reply: number) => void
  reject: (error: unknown) => void
  /** For a `w`: where its marker bump's failure goes (the write itself still resolves). */
  bumpFailed: ((error: unknown) => void) | undefined
}

/**
 * The script of a keyed write that is alone in its tick: the one-key script with the same
 * arguments and reply as its {@link WRITE_BATCH} letter (`l`/`v` add the letter as ARGV[4]).
 * Redis runs it without building WRITE_BATCH's dispatch tables (19–20 µs of Redis time per call
 * against 26.8–31.6 µs for a one-write WRITE_BATCH; see docs/redis.md).
 */
const ALONE: Partial<Record<WriteOp, LuaScript>> = {
  l: SET_LOADED,
  v: SET_LOADED,
  t: TOUCH_MARKER,
  b: BUMP_MARKER,
}

/**
 * Writes per script call: the 16th write of a tick sends the 16 at once, and the tick goes on.
 * Redis then runs each call while this process prepares the next, as it does for a raw client
 * that writes every command at once. One call for the whole tick left this process idle while
 * the server ran the script (64 `set`s in flight: 30% of the time idle, 27–28 k/s; in calls of 16,
 * 42–45 k/s at the same CPU per write; in calls of 8, the extra calls cost more CPU than the
 * overlap saved — docs/redis.md, "Batching").
 *
 * The tick's bus message (`p`) is queued last, so it leaves in the last call, behind every write
 * it announces. Its script skips it when every change of *its* call was refused; a refused write
 * sent in an earlier call is announced anyway — a needless drop of another instance's copy (a
 * miss there), never a missed one.
 */
const WRITES_PER_CALL = 16

/** A write of a batch that failed on the server while the others ran (the script caught its error). */
export class BatchedWriteError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ReplyError'
  }
}

/**
 * The writes of one tick, sent as {@link WRITE_BATCH} script calls of up to 16 writes, pipelined
 * (the tick's writes share one round trip), in the order they were issued, over the adapter's one
 * connection — the PUBLISH of a bus message among them, so it reaches the others after the writes
 * it announces. Each write
 * settles on its own: a write the server refused rejects alone; a call that failed (connection
 * lost, deadline passed) rejects all of its writes. A lone write goes out as its plain command, or
 * its one-key script (fenced as in the batch).
 *
 * Only for an adapter that sends everything over one connection (`ordered`) and runs a script
 * over many keys (`evalScriptKeys`): on a Cluster the keys of one tick live on different nodes.
 */
export class WriteQueue {
  readonly #adapter: RedisAdapter
  readonly #evalKeys: (
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ) => Promise<unknown>
  readonly #deadline: <T>(operation: Promise<T>, what: string) => Promise<T>
  #pending: QueuedWrite[] = []

  constructor(
    adapter: RedisAdapter,
    evalKeys: (
      script: LuaScript,
      keys: readonly string[],
      args: readonly (string | Buffer)[],
    ) => Promise<unknown>,
    deadline: <T>(operation: Promise<T>, what: string) => Promise<T>,
  ) {
    this.#adapter = adapter
    this.#evalKeys = evalKeys
    this.#deadline = deadline
  }

  get size(): number {
    return this.#pending.length
  }

  /** Queues one write; `schedule` is called when it is the first of its tick. */
  push(
    op: WriteOp,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
    schedule: () => void,
    bumpFailed?: (error: unknown) => void,
  ): Promise<number> {
    return new Promise((resolve, reject) => {
      const queued = this.#pending.push({ op, keys, args, resolve, reject, bumpFailed })
      if (queued === 1) schedule()
      else if (queued === WRITES_PER_CALL) this.flush()
    })
  }

  /** Sends what is queued (synchronously: the commands are on the connection when this returns). */
  flush(): void {
    const batch = this.#pending
    if (batch.length === 0) return
    this.#pending = []
    if (batch.length === 1) {
      this.#alone(batch[0] as QueuedWrite)
      return
    }
    // A lone set or delete with its bus message: the usual tick of one write.
    if (batch.length === 2 && (batch[0] as QueuedWrite).op === 'w' && (batch[1] as QueuedWrite).op === 'p') {
      this.#writeAlone(batch)
      return
    }
    this.#send(batch)
  }

  #alone(write: QueuedWrite): void {
    const { op, args } = write
    const key = write.keys[0]
    let reply: Promise<number>
    if (op === 's') {
      const [value, px] = args as [Buffer, string]
      reply = this.#deadline(
        this.#adapter.set(key as string, value, px === '' ? Number.POSITIVE_INFINITY : Number(px)),
        'SET',
      ).then(() => 1)
    } else if (op === 'p') {
      const publish = this.#adapter.publish
      const [channel, message] = args as [string, Buffer]
      reply = this.#deadline(
        publish === undefined ? Promise.resolve() : publish.call(this.#adapter, channel, message),
        'PUBLISH',
      ).then(() => 1)
    } else if (op === 'w') {
      this.#writeAlone([write])
      return
    } else {
      const script = ALONE[op]
      const evalScript = this.#adapter.evalScript
      if (script === undefined || evalScript === undefined || key === undefined) {
        this.#send([write])
        return
      }
      const scriptArgs = op === 'l' || op === 'v' ? [...args, op] : args
      reply = this.#deadline(
        evalScript.call(this.#adapter, script, key, scriptArgs),
        'EVALSHA',
      ) as Promise<number>
    }
    reply.then(write.resolve, write.reject)
  }

  /** A `w`, or a `w` and its `p`, as {@link WRITE_ALONE}: the same replies as WRITE_BATCH's. */
  #writeAlone(batch: QueuedWrite[]): void {
    const write = batch[0] as QueuedWrite
    const args = batch.length === 1 ? write.args : [...write.args, ...(batch[1] as QueuedWrite).args]
    this.#settle(batch, this.#evalKeys(WRITE_ALONE, write.keys, args), `EVALSHA (${batch.length} writes)`)
  }

  #send(batch: QueuedWrite[]): void {
    let ops = ''
    const keys: string[] = []
    const args = new Packer()
    for (const write of batch) {
      ops += write.op
      for (const key of write.keys) keys.push(key)
      for (const arg of write.args) args.add(arg)
    }
    this.#settle(
      batch,
      this.#evalKeys(WRITE_BATCH, keys, [ops, args.finish()]),
      `EVALSHA (${batch.length} writes)`,
    )
  }

  /** Settles each write of `batch` with its element of the script's `replies` (see {@link WRITE_BATCH}). */
  #settle(batch: QueuedWrite[], replies: Promise<unknown>, what: string): void {
    this.#deadline(replies, what).then(
      (replies) => {
        const list = Array.isArray(replies) ? (replies as unknown[]) : []
        for (let i = 0; i < batch.length; i++) {
          const write = batch[i] as QueuedWrite
          const reply = list[i]
          if (typeof reply === 'number') write.resolve(reply)
          else if (write.op === 'w' && String(reply).startsWith('B')) {
            // Written (or refused) as the digit says; only the marker bump after it failed.
            const text = String(reply)
            write.resolve(Number(text[1]))
            write.bumpFailed?.(new BatchedWriteError(text.slice(2)))
          } else if (reply === undefined)
            write.reject(new Error(`Redis answered no reply for write ${i + 1} of ${what}.`))
          else write.reject(new BatchedWriteError(String(reply).slice(1)))
        }
      },
      (error: unknown) => {
        for (const write of batch) write.reject(error)
      },
    )
  }
}
