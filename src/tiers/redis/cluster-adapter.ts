import { groupBySlot, keySlot } from './cluster-slot.js'
import { ClusterSubscriber, type SubscriberLink } from './cluster-subscriber.js'
import { type ClientPrimitives, type PxEntry, RedisCommands } from './commands.js'
import { afterFirstConnection, type FirstConnection } from './first-connection.js'

/** One command of a per-node pipeline; its keys all hash to one slot. */
export type PipelineCommand =
  | { kind: 'get'; key: string }
  | { kind: 'mget'; keys: readonly string[] }
  | { kind: 'set'; key: string; value: Buffer; px: number | undefined }
  | { kind: 'unlink'; keys: readonly string[] }

/**
 * What a {@link ClusterAdapter} needs from one Redis Cluster client library. Every keyed command
 * gets keys of ONE slot only (the adapter splits the others), so the library routes it to the
 * master that owns it and follows MOVED/ASK; per-node commands (SCAN, PING, the subscriber) go to
 * a master the driver lists. `publish` and `ping` go through the library's routing, for when no
 * master is known yet.
 */
export interface ClusterDriver<N>
  extends Pick<
    ClientPrimitives,
    'client' | 'first' | 'get' | 'set' | 'setIfAbsent' | 'evalsha' | 'eval' | 'publish' | 'ping'
  > {
  /** Whether the client was opened from URLs (closed with the adapter). */
  readonly owned: boolean
  /** What the client prepends to every key (a `keyPrefix` you configured): slots are computed with it. */
  readonly keyPrefix: string
  /** MGET of keys that all hash to one slot. */
  mget(keys: readonly string[]): Promise<(Buffer | null)[]>
  /** UNLINK of keys that all hash to one slot. */
  unlink(keys: readonly string[]): Promise<number>
  /** PUBLISH on that node's connection. */
  publishNode(node: N, channel: string, message: Buffer): Promise<void>
  /** `host:port` of the master that owns `slot` in the client's slot table; undefined if unknown. */
  slotOwner(slot: number): string | undefined
  /**
   * Sends `commands` (their slots all owned by one master, by {@link slotOwner}; `slot` is the
   * first one's) in one pipeline. Resolves to each command's reply or the Error the server answered
   * for it (MOVED included); to undefined when they could not go together because the topology
   * changed (the client refused them, or a node answered MOVED/ASK/TRYAGAIN without telling which
   * command): each is then sent again on its own, routed. Rejects when the pipeline failed otherwise.
   */
  pipeline(slot: number, commands: readonly PipelineCommand[]): Promise<unknown[] | undefined>
  /** `host:port` of the master of every slot in the client's slot table (repeats allowed). */
  slotOwners(): Iterable<string>
  /** The masters of the current topology (possibly empty before the first connection). */
  masters(): readonly N[]
  /** `host:port` of a node. */
  address(node: N): string
  scanNode(node: N, cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }>
  pingNode(node: N): Promise<void>
  /** One raw command on that node's connection (bulk strings as Buffers): write-behind's stream commands. */
  commandNode(node: N, args: readonly (string | Buffer)[]): Promise<unknown>
  /**
   * Asks the cluster for its slot table again (CLUSTER SLOTS), now: after a failover the promoted
   * replica is used as soon as this resolves, not at the client's next periodic refresh. Resolves
   * once done (or failed: the table is then unchanged), never rejects.
   */
  refreshTopology(): Promise<void>
  /**
   * Calls `listener` with a node's `host:port` each time its connection becomes ready (the first
   * connection and every reconnection): a master's breaker probes then, not a break later.
   */
  onNodeReady(listener: (address: string) => void): void
  /** Opens a subscriber connection to `node` that never reconnects by itself (see {@link ClusterSubscriber}). */
  openSubscriber(
    node: N,
    onMessage: (channel: string, message: Buffer) => void,
    onEnd: () => void,
  ): Promise<SubscriberLink>
  close(force: boolean): Promise<void>
}

export interface ClusterAdapterOptions {
  onError: (error: unknown) => void
  connectTimeoutMs: number
  /**
   * The deadline of a command (`l2.timeout`): a PUBLISH that the master it goes to has not
   * answered within half of it is sent to the next master as well (see `publish`).
   */
  commandTimeoutMs: number
}

/**
 * A {@link RedisAdapter} over a Redis Cluster client (ioredis `Cluster` or node-redis
 * `createCluster`): the shared command layer ({@link RedisCommands}) over {@link ClusterPrimitives}.
 */
export class ClusterAdapter<N> extends RedisCommands {
  readonly #primitives: ClusterPrimitives<N>
  readonly #onNodeReady = new Set<(address: string) => void>()

  constructor(driver: ClusterDriver<N>, options: ClusterAdapterOptions) {
    const primitives = new ClusterPrimitives(driver, options)
    super(primitives)
    this.#primitives = primitives
    driver.onNodeReady((address) => {
      for (const listener of this.#onNodeReady) {
        try {
          listener(address)
        } catch {}
      }
    })
  }

  /** Calls `listener` with `host:port` whenever a node's connection becomes ready (every reconnection); returns what removes it. */
  onNodeReady(listener: (address: string) => void): () => void {
    this.#onNodeReady.add(listener)
    return () => this.#onNodeReady.delete(listener)
  }

  /** `host:port` of the master that owns `key`'s slot in the client's slot table; undefined if unknown. */
  ownerOf(key: string): string | undefined {
    return this.#primitives.ownerOf(key)
  }

  /** `host:port` of every master owning slots in the client's slot table, sorted. */
  masterAddresses(): string[] {
    return this.#primitives.masterAddresses()
  }

  /** SCAN on the master at `address` only (its own cursor); rejects if it is not connected. */
  scanMaster(
    address: string,
    cursor: string,
    match: string,
    count: number,
  ): Promise<{ cursor: string; keys: string[] }> {
    return this.#primitives.scanMaster(address, cursor, match, count)
  }

  /** PING on the master at `address` only (a per-master breaker's probe). */
  pingMaster(address: string): Promise<void> {
    return this.#primitives.pingMaster(address)
  }

  /** See {@link ClusterDriver.refreshTopology}. */
  refreshTopology(): Promise<void> {
    return this.#primitives.refreshTopology()
  }

  /**
   * False until a cluster client we opened has first connected: its slot table is empty until
   * then, and no key's master is known. Always true for a client you passed (it is not waited for).
   */
  get connectedOnce(): boolean {
    return this.#primitives.first?.connected ?? true
  }

  /** `run` once the client has first connected (at most the deadline: then an L2TimeoutError), as every command waits. */
  afterFirstConnection<T>(run: () => Promise<T>): Promise<T> {
    return afterFirstConnection(this.#primitives.first, run)
  }

  /**
   * One raw command on the connection of the master that owns `key`'s slot (every key of `args`
   * must share that slot): commands sent this way for one slot run in order on one connection, so
   * a WAIT after a write counts that write. MOVED/ASK/TRYAGAIN, or no known master: the slot
   * table is asked again and the command sent again (twice at most).
   */
  commandFor(key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    // As every command of a cluster stratacache opened: sent once it first connected (bounded).
    const first = this.#primitives.first
    return afterFirstConnection(first, () => this.#commandFor(key, args))
  }

  async #commandFor(key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const address = this.#primitives.ownerOf(key)
      try {
        if (address === undefined)
          throw new Error(`no Redis Cluster master is known for the slot of '${key}'`)
        return await this.#primitives.commandMaster(address, args)
      } catch (error) {
        const retry =
          address === undefined ||
          isRedirection(error) ||
          /is not connected|Not connected/.test(String(error))
        if (attempt >= 2 || !retry) throw error
        await this.#primitives.refreshTopology()
      }
    }
  }
}

/**
 * The commands of a Redis Cluster, over one library's {@link ClusterDriver}. Single-key commands
 * go through the library's routing. Multi-key commands are split so that none ever spans two slots
 * (no CROSSSLOT): keys are grouped by slot (one MGET or UNLINK per slot; keys without a shared
 * `{hash tag}` almost never share one), and the commands for the slots of one master go to it in
 * one pipeline, all masters at once. SETs of `setMany` likewise. A command the pipeline's node
 * answers with MOVED/ASK/TRYAGAIN (topology changing) is sent again on its own, routed by the
 * library. SCAN walks every master in turn behind one cursor; PING succeeds when any master
 * answers; the bus subscribes on one master at a time and moves to another when it loses it.
 */
class ClusterPrimitives<N> implements ClientPrimitives {
  readonly client: 'redis' | 'ioredis'
  /** Commands go to several masters' connections: no order across them. */
  readonly ordered = false
  readonly first: FirstConnection | undefined
  readonly #driver: ClusterDriver<N>
  readonly #subscriber: ClusterSubscriber<N>
  /** How long a PUBLISH waits for its master before the next one is tried too. */
  readonly #publishHedgeMs: number
  #publishAt = Math.floor(Math.random() * 1024)

  constructor(driver: ClusterDriver<N>, options: ClusterAdapterOptions) {
    this.#driver = driver
    this.client = driver.client
    this.first = driver.first
    this.#publishHedgeMs = Math.max(1, Math.floor(options.commandTimeoutMs / 2))
    this.#subscriber = new ClusterSubscriber<N>(
      {
        nodes: () => driver.masters(),
        address: (node) => driver.address(node),
        open: (node, onMessage, onEnd) => driver.openSubscriber(node, onMessage, onEnd),
      },
      {
        onError: options.onError,
        openTimeoutMs: options.connectTimeoutMs * 2,
        commandTimeoutMs: options.commandTimeoutMs,
      },
    )
  }

  get(key: string): Promise<Buffer | null> {
    return this.#driver.get(key)
  }

  async mget(keys: readonly string[]): Promise<(Buffer | null)[]> {
    if (keys.length === 1) return [await this.#driver.get(keys[0] as string)]
    const groups = groupBySlot(keys, this.#driver.keyPrefix)
    const replies = await this.#batch(
      groups.map(({ slot, indexes }) => ({
        slot,
        command:
          indexes.length === 1
            ? { kind: 'get', key: keys[indexes[0] as number] as string }
            : { kind: 'mget', keys: indexes.map((i) => keys[i] as string) },
      })),
    )
    const out: (Buffer | null)[] = new Array(keys.length).fill(null)
    for (let g = 0; g < groups.length; g++) {
      const { indexes } = groups[g] as { indexes: number[] }
      const reply = replies[g]
      if (indexes.length === 1) out[indexes[0] as number] = (reply as Buffer | null) ?? null
      else {
        const values = reply as (Buffer | null)[] | undefined
        for (let j = 0; j < indexes.length; j++) out[indexes[j] as number] = values?.[j] ?? null
      }
    }
    return out
  }

  set(key: string, value: Buffer, px: number | undefined): Promise<void> {
    return this.#driver.set(key, value, px)
  }

  setIfAbsent(key: string, value: string, px: number | undefined): Promise<boolean> {
    return this.#driver.setIfAbsent(key, value, px)
  }

  /** A tick's commands go to several masters: each client sends its own as it does. */
  together(send: () => void): void {
    send()
  }

  /** One SET per entry, pipelined per master, all masters at once (not a transaction, as on one Redis). */
  async setMany(entries: readonly PxEntry[]): Promise<void> {
    await this.#batch(
      entries.map(({ key, value, px }) => ({
        slot: keySlot(this.#driver.keyPrefix + key),
        command: { kind: 'set', key, value, px },
      })),
    )
  }

  async unlink(keys: readonly string[]): Promise<number> {
    const counts = await this.#batch(
      groupBySlot(keys, this.#driver.keyPrefix).map(({ slot, indexes }) => ({
        slot,
        command: { kind: 'unlink', keys: indexes.map((i) => keys[i] as string) },
      })),
    )
    return counts.reduce((sum: number, n) => sum + Number(n), 0)
  }

  ownerOf(key: string): string | undefined {
    return this.#driver.slotOwner(keySlot(this.#driver.keyPrefix + key))
  }

  masterAddresses(): string[] {
    return [...new Set(this.#driver.slotOwners())].sort()
  }

  #master(address: string, what: string): N {
    const node = this.#driver.masters().find((m) => this.#driver.address(m) === address)
    if (node === undefined) {
      throw new Error(`Redis Cluster master ${address} is not connected: cannot ${what}.`)
    }
    return node
  }

  async scanMaster(
    address: string,
    cursor: string,
    match: string,
    count: number,
  ): Promise<{ cursor: string; keys: string[] }> {
    return this.#driver.scanNode(this.#master(address, 'SCAN its keys'), cursor, match, count)
  }

  async pingMaster(address: string): Promise<void> {
    await this.#driver.pingNode(this.#master(address, 'PING it'))
  }

  async commandMaster(address: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#driver.commandNode(this.#master(address, `send ${String(args[0])}`), args)
  }

  refreshTopology(): Promise<void> {
    return this.#driver.refreshTopology()
  }

  /**
   * SCAN over every master in turn, behind one cursor: `<host:port>#<that node's cursor>`, '0' once
   * the last master (by address) is done. The masters are those owning slots in the client's slot
   * table; one that is not connected (down) fails the scan, so that `clear()` and `deleteMatching()`
   * never report success with keys left behind. A master that left the topology mid-scan (failover)
   * is skipped: like SCAN during a resharding, keys may then be missed.
   */
  async scan(cursor: string, match: string, count: number): Promise<{ cursor: string; keys: string[] }> {
    const owners = [...new Set(this.#driver.slotOwners())].sort()
    if (owners.length === 0)
      throw new Error('No Redis Cluster master is known: the cluster is not connected.')
    let address: string | undefined = owners[0]
    let nodeCursor = '0'
    if (cursor !== '0') {
      const at = cursor.lastIndexOf('#')
      const previous = cursor.slice(0, at)
      nodeCursor = cursor.slice(at + 1)
      address = owners.includes(previous) ? previous : owners.find((a) => a > previous)
      if (address !== previous) nodeCursor = '0'
      if (address === undefined) return { cursor: '0', keys: [] }
    }
    const node = this.#driver.masters().find((m) => this.#driver.address(m) === address)
    if (node === undefined) {
      throw new Error(`Redis Cluster master ${address} is not connected: cannot SCAN its keys.`)
    }
    const page = await this.#driver.scanNode(node, nodeCursor, match, count)
    if (page.cursor !== '0') return { cursor: `${address}#${page.cursor}`, keys: page.keys }
    const following = owners.find((a) => a > (address as string))
    return { cursor: following === undefined ? '0' : `${following}#0`, keys: page.keys }
  }

  /** Succeeds when any master answers (the breaker's probe: the cluster is reachable). */
  async ping(): Promise<void> {
    const masters = this.#driver.masters()
    if (masters.length === 0) return this.#driver.ping()
    try {
      await Promise.any(masters.map((node) => this.#driver.pingNode(node)))
    } catch (error) {
      throw error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error
    }
  }

  evalsha(sha: string, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#driver.evalsha(sha, key, args)
  }

  eval(lua: string, key: string, args: readonly (string | Buffer)[]): Promise<unknown> {
    return this.#driver.eval(lua, key, args)
  }

  /**
   * Classic PUBLISH: the cluster forwards it to every node, so a subscriber on any master hears it.
   * Sent to the same master while it answers, so one sender's messages arrive in the order it sent
   * them (the cluster forwards each node's messages in order, not across nodes). A master that
   * fails it (down) is skipped at once; one that has not answered within half the deadline
   * (frozen: a black hole, whose socket stays open) is not waited for: the message goes to the
   * next master too, within the deadline. The master that answered first is used from then on,
   * so the bus keeps working while one master is down or frozen. A message may then arrive twice
   * (the receiver drops the copy as a replay), or after a later one once the frozen master
   * resumes: receivers apply each change by its own time, so a late one costs a miss at most.
   */
  publish(channel: string, message: Buffer): Promise<void> {
    const masters = this.#driver.masters()
    if (masters.length === 0) return this.#driver.publish(channel, message)
    const start = this.#publishAt
    return new Promise<void>((resolve, reject) => {
      let tried = 0
      let pending = 0
      let done = false
      let firstError: unknown
      let hedge: NodeJS.Timeout | undefined
      const attempt = () => {
        clearTimeout(hedge)
        if (done) return
        if (tried === masters.length) {
          if (pending === 0) {
            done = true
            reject(firstError)
          }
          return
        }
        const index = (start + tried++) % masters.length
        pending++
        hedge = setTimeout(attempt, this.#publishHedgeMs)
        hedge.unref()
        this.#driver.publishNode(masters[index] as N, channel, message).then(
          () => {
            pending--
            if (done) return
            done = true
            clearTimeout(hedge)
            this.#publishAt = index
            resolve()
          },
          (error: unknown) => {
            pending--
            firstError ??= error
            attempt()
          },
        )
      }
      attempt()
    })
  }

  subscribe(
    channel: string,
    onMessage: (message: Buffer) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>> {
    return this.#subscriber.subscribe(channel, onMessage, onState)
  }

  async close(force: boolean): Promise<void> {
    this.#subscriber.close()
    if (!this.#driver.owned) return
    await this.#driver.close(force)
  }

  /**
   * Runs single-slot commands: those whose slots one master owns go to it in one pipeline (a lone
   * command is sent as is), every master at once. Resolves to the replies, in order (a CROSSSLOT is
   * impossible: no command spans two slots). When a command fails, rejects with its error once
   * every command has settled, reads included: a read that one master failed is a failed read,
   * counted as such by whoever called (not a miss, nor a connection error). The cluster tier
   * sends each master's keys on their own (see cluster-tier.ts), so one master down fails only
   * its own keys' reads.
   */
  async #batch(items: readonly { slot: number; command: PipelineCommand }[]): Promise<unknown[]> {
    const replies: unknown[] = new Array(items.length)
    const failures: unknown[] = []
    const byOwner = new Map<string, number[]>()
    const alone: number[] = []
    for (let i = 0; i < items.length; i++) {
      const owner = this.#driver.slotOwner((items[i] as { slot: number }).slot)
      if (owner === undefined) alone.push(i)
      else {
        const list = byOwner.get(owner)
        if (list === undefined) byOwner.set(owner, [i])
        else list.push(i)
      }
    }
    const direct = async (i: number) => {
      try {
        const { slot, command } = items[i] as { slot: number; command: PipelineCommand }
        replies[i] = await this.#direct(slot, command)
      } catch (error) {
        failures.push(error)
      }
    }
    // An MGET answered MOVED/ASK/TRYAGAIN: its slot is moving, its keys may be split between two
    // nodes (TRYAGAIN until the move ends): each key on its own, routed, never waits for the move.
    const redirected = async (i: number) => {
      const { command } = items[i] as { command: PipelineCommand }
      if (command.kind !== 'mget') return direct(i)
      try {
        replies[i] = await this.#getEach(command.keys)
      } catch (error) {
        failures.push(error)
      }
    }
    const runs: Promise<unknown>[] = []
    for (const indexes of byOwner.values()) {
      if (indexes.length === 1) {
        alone.push(indexes[0] as number)
        continue
      }
      const commands = indexes.map((i) => (items[i] as { command: PipelineCommand }).command)
      const slot = (items[indexes[0] as number] as { slot: number }).slot
      runs.push(
        this.#driver.pipeline(slot, commands).then(
          (results) => {
            // Not sent together (the topology changed): each on its own, routed.
            if (results === undefined) return Promise.all(indexes.map(direct))
            return Promise.all(
              indexes.map((i, j) => {
                const result = results[j]
                if (isRedirection(result)) return redirected(i)
                if (result instanceof Error) failures.push(result)
                else replies[i] = result
                return undefined
              }),
            )
          },
          (error: unknown) => {
            for (let k = 0; k < indexes.length; k++) failures.push(error)
          },
        ),
      )
    }
    for (const i of alone) runs.push(direct(i))
    await Promise.all(runs)
    if (failures.length > 0) throw failures[0]
    return replies
  }

  /** One command on its own, routed (and redirected) by the client library. */
  #direct(slot: number, command: PipelineCommand): Promise<unknown> {
    switch (command.kind) {
      case 'get':
        return this.#driver.get(command.key)
      case 'mget':
        return this.#mgetSlot(slot, command.keys)
      case 'set':
        return this.#driver.set(command.key, command.value, command.px)
      case 'unlink':
        return this.#driver.unlink(command.keys)
    }
  }

  /**
   * MGET of keys of one slot, on the connection of the slot's master (the driver's pipeline): a
   * slot being migrated answers TRYAGAIN while its keys are split between two nodes, and ioredis
   * would retry that every 100 ms until the migration ends (long past the deadline), never
   * telling us. Any redirection (MOVED, ASK, TRYAGAIN) falls back to one GET per key, routed and
   * redirected by the client (a single key is never split). Routed by the client when the
   * pipeline could not be used; a TRYAGAIN from that also falls back to GETs.
   */
  async #mgetSlot(slot: number, keys: readonly string[]): Promise<(Buffer | null)[]> {
    const replies = await this.#driver.pipeline(slot, [{ kind: 'mget', keys }])
    if (replies !== undefined) {
      const reply = replies[0]
      if (isRedirection(reply)) return this.#getEach(keys)
      if (reply instanceof Error) throw reply
      return reply as (Buffer | null)[]
    }
    try {
      return await this.#driver.mget(keys)
    } catch (error) {
      if (!isTryAgain(error)) throw error
      return this.#getEach(keys)
    }
  }

  #getEach(keys: readonly string[]): Promise<(Buffer | null)[]> {
    return Promise.all(keys.map((key) => this.#driver.get(key)))
  }
}

/** A reply saying the command did not run on that node and may be sent again, routed: MOVED, ASK, TRYAGAIN. */
export function isRedirection(reply: unknown): boolean {
  return reply instanceof Error && /^(MOVED|ASK|TRYAGAIN) /.test(reply.message)
}

function isTryAgain(error: unknown): boolean {
  const message = (error as { message?: unknown } | null)?.message
  return typeof message === 'string' && message.startsWith('TRYAGAIN')
}
