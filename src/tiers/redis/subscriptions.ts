/** One subscriber of a channel. */
export interface ChannelListener {
  onMessage(message: Buffer): void
  onState(state: 'up' | 'down'): void
}

/**
 * The listeners of an adapter's subscriber connection, by channel: SUBSCRIBE once per channel,
 * fan messages out, and tell every listener once when the connection drops and once when it is
 * subscribed again (messages published in between are lost: pub/sub is at-most-once).
 */
export class Subscriptions {
  readonly #channels = new Map<string, Set<ChannelListener>>()
  #down = false

  /**
   * Adds `listener` to `channel`, running `subscribe` for the channel's first listener. Resolves to
   * the function that removes it (running `unsubscribe` for the last one; its failure goes to `onError`).
   */
  async listen(
    channel: string,
    listener: ChannelListener,
    subscribe: () => Promise<unknown>,
    unsubscribe: () => Promise<unknown>,
    onError: (error: unknown) => void,
  ): Promise<() => Promise<void>> {
    const entry = { ...listener }
    let listeners = this.#channels.get(channel)
    if (listeners === undefined) {
      listeners = new Set([entry])
      this.#channels.set(channel, listeners)
      await subscribe()
    } else listeners.add(entry)
    return async () => {
      const set = this.#channels.get(channel)
      set?.delete(entry)
      if (set?.size === 0) {
        this.#channels.delete(channel)
        await unsubscribe().catch(onError)
      }
    }
  }

  /**
   * Runs in the client's socket handler: a listener that throws is reported as a process warning,
   * and the channel's other listeners still get the message (thrown there, the error skipped
   * them and escaped into the client).
   */
  deliver(channel: string, message: Buffer): void {
    for (const listener of this.#channels.get(channel) ?? []) {
      try {
        listener.onMessage(message)
      } catch (error) {
        const warning = new Error(
          `A listener of the bus channel ${JSON.stringify(channel)} threw: ${error instanceof Error ? error.message : String(error)}. Catch errors in bus listeners; the others still got the message.`,
          { cause: error },
        )
        warning.name = 'StratacacheWarning'
        process.emitWarning(warning)
      }
    }
  }

  get isDown(): boolean {
    return this.#down
  }

  /** The connection dropped: reported once per outage. */
  down(): void {
    if (this.#down) return
    this.#down = true
    for (const set of this.#channels.values()) for (const l of set) l.onState('down')
  }

  /** Subscribed again after an outage. */
  up(): void {
    if (!this.#down) return
    this.#down = false
    for (const set of this.#channels.values()) for (const l of set) l.onState('up')
  }

  channels(): string[] {
    return [...this.#channels.keys()]
  }

  clear(): void {
    this.#channels.clear()
  }
}
