/**
 * The invalidation bus: how instances tell each other what changed, so each drops its L1 copy.
 * At-most-once (Redis pub/sub loses what is published while a subscriber is disconnected), so the
 * subscriber reports its connection state and the cache drops its L1 whenever it was down.
 */
export interface Bus {
  /**
   * True when a message published after a write of the same tier is sent after it over the same
   * connection, so that Redis applies the write before anyone hears the message (one Redis; not a
   * Cluster, where they may go to different nodes). The cache then publishes a change without
   * waiting for the write's reply; otherwise it waits.
   */
  readonly orderedWithWrites?: boolean
  publish(channel: string, message: Uint8Array): Promise<void>
  /**
   * Delivers every message on `channel` to `onMessage` (own messages included; the cache ignores
   * them by source id) and reports `'down'` when the subscription may have missed messages and
   * `'up'` when it is receiving again. Resolves once subscribed, to the function that unsubscribes.
   */
  subscribe(
    channel: string,
    onMessage: (message: Uint8Array) => void,
    onState: (state: 'up' | 'down') => void,
  ): Promise<() => Promise<void>>
  /** Closes what the bus opened (its subscriber connection). */
  close(): Promise<void>
}
