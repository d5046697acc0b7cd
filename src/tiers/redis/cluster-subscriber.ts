import { timerMs } from '../../base/clock.js'
import { within } from '../../base/deadline.js'
import { ClosedError } from '../../errors.js'
import { reconnectDelay } from './client-modules.js'
import { Subscriptions } from './subscriptions.js'

/** One subscriber connection to one cluster node. It never reconnects by itself. */
export interface SubscriberLink {
  /** SUBSCRIBE; resolves once the server confirmed it. */
  subscribe(channel: string): Promise<void>
  unsubscribe(channel: string): Promise<void>
  /** PING on this connection (valid in subscriber mode); resolves on the node's answer, with no deadline of its own. */
  ping(): Promise<void>
  /** Drops the connection (no further `onEnd`). */
  close(): void
}

/** How a {@link ClusterSubscriber} finds nodes and connects to one, for one client library. */
export interface SubscriberSource<N> {
  /** The nodes a subscriber may use now (masters): classic PUBLISH reaches every node of the cluster. */
  nodes(): readonly N[]
  /** `host:port` of a node. */
  address(node: N): string
  /**
   * Opens a subscriber connection to `node` and resolves once it is connected. `onMessage` gets
   * every message; `onEnd` is called (at least once) when the connection is lost after that.
   */
  open(
    node: N,
    onMessage: (channel: string, message: Buffer) => void,
    onEnd: () => void,
  ): Promise<SubscriberLink>
}

interface Current {
  link: SubscriberLink | undefined
  /** `host:port` of its node. */
  address: string
  subscribed: Set<string>
  ended: boolean
  /** The PING loop that watches the node (see {@link ClusterSubscriber}). */
  watch: NodeJS.Timeout | undefined
}

/** How often the subscriber connection is PINGed. */
const SUBSCRIBER_PING_EVERY_MS = 500
/**
 * The least a PING may take before its node counts as frozen: a loaded process reads replies
 * late, and a false alarm costs a reconnect and the L1 (the cache resyncs).
 */
const MIN_SUBSCRIBER_PING_TIMEOUT_MS = 1000

export interface ClusterSubscriberOptions {
  onError: (error: unknown) => void
  /** How long opening a connection to a node, or subscribing on it, may take before the next node is tried. */
  openTimeoutMs: number
  /** The deadline of a command (`l2.timeout`): a PING of the subscriber connection gets this, at least 1 s. */
  commandTimeoutMs: number
}

/**
 * The invalidation bus's subscriber on a Redis Cluster: one connection, to one master at a time,
 * with classic SUBSCRIBE (a PUBLISH on any node is forwarded to every node by the cluster bus).
 *
 * The connection never reconnects by itself: when it is lost, every listener hears `'down'` (messages
 * may be lost from now on), and the subscriber connects to the next master of the current topology
 * (the lost node may be gone for good: failed over, removed; it is tried last), subscribes every
 * channel again, then reports `'up'`. Attempts back off from 50 ms to 2 s and go on until it
 * succeeds or is closed.
 *
 * A node that freezes (SIGSTOP, a black hole) closes nothing: its socket stays open and silent, and
 * the subscriber would hear nothing until it resumes, while the rest of the cluster goes on
 * publishing. So the connection is PINGed every {@link SUBSCRIBER_PING_EVERY_MS}; one PING not
 * answered within `l2.timeout` (at least {@link MIN_SUBSCRIBER_PING_TIMEOUT_MS}) counts as the
 * connection lost, as above: `'down'`, another master, `'up'` (the cache drops its L1 then).
 */
export class ClusterSubscriber<N> {
  readonly #source: SubscriberSource<N>
  readonly #onError: (error: unknown) => void
  readonly #openTimeoutMs: number
  readonly #pingTimeoutMs: number
  readonly #subscriptions = new Subscriptions()
  #current: Current | undefined
  #connecting: Promise<Current> | undefined
  /** Rotates over the nodes, from a random start so that instances spread over the masters. */
  #next = Math.floor(Math.random() * 1024)
  #closed = false
  #sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined
  /** The node whose connection was lost last: tried after the others. */
  #lostAddress: string | undefined

  constructor(source: SubscriberSource<N>, options: ClusterSubscriberOptions) {
    this.#source = source
    this.#onError = options.onError
    this.#openTimeoutMs = options.openTimeoutMs
    this.#pingTimeoutMs = Math.max(options.commandTimeoutMs, MIN_SUBSCRIBER_PING_TIMEOUT_MS)
  }

  subscribe(
    channel: string,
    onMessage: (message: Buffer) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>> {
    if (this.#closed) return Promise.reject(new ClosedError('The Redis tier is closed.'))
    return this.#subscriptions.listen(
      channel,
      { onMessage, onState },
      async () => {
        for (;;) {
          const current = await this.#connected()
          if (current.subscribed.has(channel)) return
          try {
            await current.link?.subscribe(channel)
            current.subscribed.add(channel)
            return
          } catch (error) {
            // A connection lost meanwhile (before or while this SUBSCRIBE went out: a frozen node
            // answers it only with its lost PING) is replaced by one that subscribes every
            // channel, this one included: wait for it.
            if (!current.ended || this.#closed) throw error
          }
        }
      },
      async () => {
        const current = this.#current
        if (current?.subscribed.delete(channel)) await current.link?.unsubscribe(channel)
      },
      this.#onError,
    )
  }

  close(): void {
    this.#closed = true
    this.#subscriptions.clear()
    if (this.#sleeping !== undefined) {
      clearTimeout(this.#sleeping.timer)
      this.#sleeping.wake()
    }
    clearInterval(this.#current?.watch)
    this.#current?.link?.close()
    this.#current = undefined
  }

  #connected(): Promise<Current> {
    if (this.#current !== undefined) return Promise.resolve(this.#current)
    if (this.#connecting === undefined) {
      this.#connecting = this.#connect().then(
        (current) => {
          this.#connecting = undefined
          this.#subscriptions.up()
          return current
        },
        (error: unknown) => {
          this.#connecting = undefined
          throw error
        },
      )
    }
    return this.#connecting
  }

  /** The connection of `current` is gone: report it, then connect elsewhere. */
  #lost(current: Current): void {
    if (current.ended) return
    current.ended = true
    clearInterval(current.watch)
    if (this.#current !== current || this.#closed) return
    this.#lostAddress = current.address
    this.#current = undefined
    current.link?.close()
    this.#subscriptions.down()
    this.#connected().catch(() => {}) // rejects only once closed
  }

  async #connect(): Promise<Current> {
    for (let attempt = 0; ; attempt++) {
      if (this.#closed) throw new ClosedError('The Redis tier is closed.')
      const nodes = this.#source.nodes()
      if (nodes.length > 0) {
        const node = this.#pick(nodes)
        const address = this.#source.address(node)
        const current: Current = {
          link: undefined,
          address,
          subscribed: new Set(),
          ended: false,
          watch: undefined,
        }
        try {
          const link = await this.#open(node, current)
          current.link = link
          for (const channel of this.#subscriptions.channels()) {
            await this.#bounded(link.subscribe(channel), `SUBSCRIBE on ${address}`)
            current.subscribed.add(channel)
          }
          if (this.#closed) throw new ClosedError('The Redis tier is closed.')
          if (current.ended) throw new Error('The subscriber connection was lost while subscribing.')
          this.#current = current
          this.#lostAddress = undefined
          this.#watch(current, link)
          return current
        } catch (error) {
          current.ended = true
          current.link?.close()
          if (this.#closed) throw new ClosedError('The Redis tier is closed.')
          this.#onError(error)
        }
      }
      await this.#sleep(reconnectDelay(attempt))
    }
  }

  /** The next node in turn, but not the one lost last while there is another. */
  #pick(nodes: readonly N[]): N {
    let node = nodes[this.#next++ % nodes.length] as N
    for (let i = 1; i < nodes.length && this.#source.address(node) === this.#lostAddress; i++) {
      node = nodes[this.#next++ % nodes.length] as N
    }
    return node
  }

  /** `step`, or a rejection once the connection's open deadline passed (a frozen node never answers). */
  #bounded<T>(step: Promise<T>, what: string): Promise<T> {
    const ms = this.#openTimeoutMs
    return within(step, ms, () => new Error(`The subscriber's ${what} was not answered within ${ms} ms.`))
  }

  /**
   * PINGs `current`'s connection every {@link SUBSCRIBER_PING_EVERY_MS}, one at a time: one not
   * answered in time means the node froze (or the network drops its packets), and the connection
   * is given up for another master's.
   */
  #watch(current: Current, link: SubscriberLink): void {
    const ms = this.#pingTimeoutMs
    let pinging = false
    const ping = () => {
      if (pinging || current.ended) return
      pinging = true
      within(link.ping(), ms, () => new PingTimeout(current.address, ms)).then(
        () => {
          pinging = false
        },
        (error: unknown) => {
          pinging = false
          if (current.ended || this.#closed) return
          // A connection that closed reports itself (onEnd); silence is reported here.
          if (error instanceof PingTimeout) this.#onError(error)
          this.#lost(current)
        },
      )
    }
    current.watch = setInterval(ping, timerMs(SUBSCRIBER_PING_EVERY_MS))
    current.watch.unref()
  }

  /** `source.open`, bounded: a connection that is not up in time is dropped and the next node tried. */
  #open(node: N, current: Current): Promise<SubscriberLink> {
    return new Promise((resolve, reject) => {
      let settled = false
      const timer = setTimeout(() => {
        settled = true
        reject(new Error(`The subscriber connection did not open within ${this.#openTimeoutMs} ms.`))
      }, timerMs(this.#openTimeoutMs))
      this.#source
        .open(
          node,
          (channel, message) => this.#subscriptions.deliver(channel, message),
          () => this.#lost(current),
        )
        .then(
          (link) => {
            clearTimeout(timer)
            if (settled) link.close()
            else resolve(link)
          },
          (error: unknown) => {
            clearTimeout(timer)
            if (!settled) reject(error)
          },
        )
    })
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        this.#sleeping = undefined
        resolve()
      }
      this.#sleeping = { timer: setTimeout(wake, ms), wake }
    })
  }
}

/** The subscriber's node did not answer a PING in time. */
class PingTimeout extends Error {
  constructor(address: string, ms: number) {
    super(
      `The Redis Cluster node ${address} did not answer the bus subscriber's PING within ${ms} ms (frozen, or its packets are dropped): subscribing on another master.`,
    )
  }
}
