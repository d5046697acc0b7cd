import { timerMs } from '../../base/clock.js'
import { ClosedError } from '../../errors.js'
import { reconnectDelay } from './client-modules.js'
import { Subscriptions } from './subscriptions.js'

/** One subscriber connection to one cluster node. It never reconnects by itself. */
export interface SubscriberLink {
  /** SUBSCRIBE; resolves once the server confirmed it. */
  subscribe(channel: string): Promise<void>
  unsubscribe(channel: string): Promise<void>
  /** Drops the connection (no further `onEnd`). */
  close(): void
}

/** How a {@link ClusterSubscriber} finds nodes and connects to one, for one client library. */
export interface SubscriberSource<N> {
  /** The nodes a subscriber may use now (masters): classic PUBLISH reaches every node of the cluster. */
  nodes(): readonly N[]
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
  subscribed: Set<string>
  ended: boolean
}

/** Back-off between attempts, as for the command connections: 50 ms doubling to 2 s, forever. */

/**
 * The invalidation bus's subscriber on a Redis Cluster: one connection, to one master at a time,
 * with classic SUBSCRIBE (a PUBLISH on any node is forwarded to every node by the cluster bus).
 *
 * The connection never reconnects by itself: when it is lost, every listener hears `'down'` (messages
 * may be lost from now on), and the subscriber connects to the next master of the current topology
 * (the lost node may be gone for good: failed over, removed), subscribes every channel again, then
 * reports `'up'`. Attempts back off from 50 ms to 2 s and go on until it succeeds or is closed.
 */
export class ClusterSubscriber<N> {
  readonly #source: SubscriberSource<N>
  readonly #onError: (error: unknown) => void
  readonly #openTimeoutMs: number
  readonly #subscriptions = new Subscriptions()
  #current: Current | undefined
  #connecting: Promise<Current> | undefined
  /** Rotates over the nodes, from a random start so that instances spread over the masters. */
  #next = Math.floor(Math.random() * 1024)
  #closed = false
  #sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined

  constructor(
    source: SubscriberSource<N>,
    options: { onError: (error: unknown) => void; openTimeoutMs: number },
  ) {
    this.#source = source
    this.#onError = options.onError
    this.#openTimeoutMs = options.openTimeoutMs
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
        const current = await this.#connected()
        if (current.subscribed.has(channel)) return
        // A connection lost meanwhile is replaced by one that subscribes every channel, this one included.
        await current.link?.subscribe(channel)
        current.subscribed.add(channel)
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
    if (this.#current !== current || this.#closed) return
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
        const node = nodes[this.#next++ % nodes.length] as N
        const current: Current = { link: undefined, subscribed: new Set(), ended: false }
        try {
          current.link = await this.#open(node, current)
          for (const channel of this.#subscriptions.channels()) {
            await current.link.subscribe(channel)
            current.subscribed.add(channel)
          }
          if (this.#closed) throw new ClosedError('The Redis tier is closed.')
          if (current.ended) throw new Error('The subscriber connection was lost while subscribing.')
          this.#current = current
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
