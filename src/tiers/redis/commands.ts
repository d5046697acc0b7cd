import { attempt } from '../../base/attempt.js'
import type { TrackingListener } from '../../invalidation/tracking.js'
import { pxOf, type RedisAdapter } from './adapter.js'
import { afterFirstConnection, type FirstConnection } from './first-connection.js'
import { COMPARE_AND_DELETE, COMPARE_AND_EXPIRE, isNoScript, type LuaScript } from './scripts.js'

/** One SET of a pipeline, its TTL already as Redis's PX (undefined = no expiry). */
export interface PxEntry {
  key: string
  value: Buffer
  px: number | undefined
}

/**
 * What one client library (ioredis or node-redis), on one topology (a single Redis or a Cluster),
 * provides: each command as that library sends it, TTLs already as PX. Everything the libraries
 * have in common is {@link RedisCommands}'s, so an adapter differs from another only here.
 */
export interface ClientPrimitives
  extends Pick<Required<RedisAdapter>, 'get' | 'mget' | 'unlink' | 'scan' | 'ping' | 'subscribe'> {
  readonly client: 'redis' | 'ioredis'
  /** True when every command goes over one connection (see {@link RedisAdapter.ordered}). */
  readonly ordered: boolean
  /** For a client stratacache opened itself: commands wait (bounded) for its first connection. */
  readonly first: FirstConnection | undefined
  set(key: string, value: Buffer, px: number | undefined): Promise<void>
  /** SET NX [PX]; true when it stored the value. */
  setIfAbsent(key: string, value: string, px: number | undefined): Promise<boolean>
  setMany(entries: readonly PxEntry[]): Promise<void>
  /** See {@link RedisAdapter.together}. */
  together(send: () => void): void
  /** `lock`: the script is a lock's (compare-and-delete or -expire), harmless when sent late. */
  evalsha(sha: string, key: string, args: readonly (string | Buffer)[], lock?: boolean): Promise<unknown>
  eval(lua: string, key: string, args: readonly (string | Buffer)[], lock?: boolean): Promise<unknown>
  publish(channel: string, message: Buffer): Promise<void>
  /** A raw command; absent where the topology cannot route one (a Cluster). */
  command?(args: readonly (string | Buffer)[]): Promise<unknown>
  /** Client tracking (see {@link RedisAdapter.track}); absent on a Cluster. */
  track?(prefix: string, listener: TrackingListener): Promise<() => Promise<void>>
  /** Closes the subscriber connection(s), and the client if stratacache opened it. */
  close(force: boolean): Promise<void>
}

/**
 * The command layer every built-in adapter shares, over one client's {@link ClientPrimitives}:
 * TTLs to PX, commands held (bounded) until a client we opened has connected once, the lock
 * primitives and scripts with their EVALSHA → EVAL fallback, a synchronous throw turned into a
 * rejection. The deadline is the tier's ({@link RedisTier}), not this layer's.
 */
export class RedisCommands implements RedisAdapter {
  readonly client: 'redis' | 'ioredis'
  readonly ordered: boolean
  /** Present when the client can send a raw command (not on a Cluster). */
  declare readonly command?: (args: readonly (string | Buffer)[]) => Promise<unknown>
  /** A script over many keys as one raw EVALSHA (or EVAL); present with `command`. */
  declare readonly evalScriptKeys?: (
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | Buffer)[],
  ) => Promise<unknown>
  /** Present when the client can track keys (not on a Cluster). */
  declare readonly track?: (prefix: string, listener: TrackingListener) => Promise<() => Promise<void>>
  readonly #client: ClientPrimitives

  constructor(client: ClientPrimitives) {
    this.#client = client
    this.client = client.client
    this.ordered = client.ordered
    const { command, track } = client
    if (track !== undefined)
      (this as { track?: RedisCommands['track'] }).track = (prefix, listener) =>
        track.call(client, prefix, listener)
    if (command !== undefined) {
      ;(this as { command?: RedisCommands['command'] }).command = (args) =>
        this.#run(() => command.call(client, args))
      ;(this as { evalScriptKeys?: RedisCommands['evalScriptKeys'] }).evalScriptKeys = (
        script,
        keys,
        args,
      ) => {
        const tail = [String(keys.length), ...keys, ...args]
        return this.#run(() =>
          this.#evalWith({
            evalsha: () => command.call(client, ['EVALSHA', script.sha, ...tail]),
            eval: () => command.call(client, ['EVAL', script.lua, ...tail]),
          }),
        )
      }
    }
  }

  get(key: string): Promise<Buffer | null> {
    return this.#run(() => this.#client.get(key))
  }

  mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return this.#run(() => this.#client.mget(keys))
  }

  set(key: string, value: Buffer, ttlMs: number): Promise<void> {
    return this.#run(() => this.#client.set(key, value, pxOf(ttlMs, 'Redis SET')))
  }

  setMany(entries: readonly { key: string; value: Buffer; ttlMs: number }[]): Promise<void> {
    return this.#run(() =>
      this.#client.setMany(
        entries.map(({ key, value, ttlMs }) => ({ key, value, px: pxOf(ttlMs, 'Redis SET (setMany)') })),
      ),
    )
  }

  unlink(keys: readonly string[]): Promise<number> {
    return this.#run(() => this.#client.unlink(keys))
  }

  scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    return this.#run(() => this.#client.scan(cursor, match, count))
  }

  ping(): Promise<void> {
    return this.#run(() => this.#client.ping())
  }

  together(send: () => void): void {
    this.#client.together(send)
  }

  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    return this.#run(() => this.#client.setIfAbsent(key, value, pxOf(ttlMs, 'lock acquire (SET NX)')))
  }

  compareAndDelete(key: string, token: string): Promise<boolean> {
    return this.#run(async () => (await this.#eval(COMPARE_AND_DELETE, key, [token], true)) === 1)
  }

  compareAndExpire(key: string, token: string, ttlMs: number): Promise<boolean> {
    // In the run: a refused TTL rejects the renewal (which its caller catches), never throws.
    return this.#run(async () => {
      const px = pxOf(ttlMs, 'lock renewal')
      return (
        (await this.#eval(COMPARE_AND_EXPIRE, key, [token, px === undefined ? '' : String(px)], true)) === 1
      )
    })
  }

  evalScript(script: LuaScript, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#run(() => this.#eval(script, key, args))
  }

  publish(channel: string, message: Buffer): Promise<void> {
    return this.#run(() => this.#client.publish(channel, message))
  }

  subscribe(
    channel: string,
    onMessage: (message: Buffer) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>> {
    return this.#client.subscribe(channel, onMessage, onState)
  }

  async close(force: boolean): Promise<void> {
    // Commands still waiting for a first connection reject now instead of at their deadline.
    this.#client.first?.abort()
    await this.#client.close(force)
  }

  #run<T>(command: () => Promise<T>): Promise<T> {
    return afterFirstConnection(this.#client.first, () => attempt(command))
  }

  /**
   * EVALSHA, then EVAL if the server (each master, on a Cluster) does not have the script cached
   * (first use, restart, SCRIPT FLUSH).
   */
  #eval(script: LuaScript, key: string, args: readonly (string | Buffer)[], lock = false): Promise<unknown> {
    return this.#evalWith({
      evalsha: () => this.#client.evalsha(script.sha, key, args, lock),
      eval: () => this.#client.eval(script.lua, key, args, lock),
    })
  }

  async #evalWith(send: { evalsha: () => Promise<unknown>; eval: () => Promise<unknown> }): Promise<unknown> {
    try {
      return await send.evalsha()
    } catch (error) {
      if (!isNoScript(error)) throw error
      return await send.eval()
    }
  }
}
