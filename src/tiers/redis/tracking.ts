import { randomUUID } from 'node:crypto'
import type { TrackingListener } from '../../invalidation/tracking.js'

/** The channel Redis publishes tracking invalidations on, to a RESP2 connection they are redirected to. */
export const INVALIDATE_CHANNEL = '__redis__:invalidate'

/** What {@link ServerTracking} needs from an adapter's two connections. */
export interface TrackingConnections {
  /** The CLIENT ID of the connection invalidations are redirected to (the subscriber), once it can receive them. */
  redirectId(): Promise<string>
  /** A command on the connection that writes (it carries the tracking, with NOLOOP). */
  command(args: string[]): Promise<unknown>
}

/**
 * Client tracking for one adapter: `CLIENT TRACKING ON REDIRECT <subscriber> BCAST PREFIX … NOLOOP`
 * on the command connection, so Redis reports every change of a key under a tracked prefix to the
 * subscriber connection, except the changes this connection makes itself (this instance already
 * knows them). The tracking lives as long as both connections: the adapter calls {@link down}
 * when either drops and {@link enable} when either is back (a reconnected subscriber has a new
 * id), and every listener hears `'up'` each time the tracking is in place again.
 */
export class ServerTracking {
  readonly #connections: TrackingConnections
  readonly #prefixes = new Map<string, Set<TrackingListener>>()
  /** Bumped by every enable: only the latest one reports 'up'. */
  #generation = 0
  #down = false
  /** What the server tracks while it is up: the redirect and the prefixes. */
  #enabled: { id: string; prefixes: Set<string> } | undefined

  constructor(connections: TrackingConnections) {
    this.#connections = connections
  }

  get active(): boolean {
    return this.#prefixes.size > 0
  }

  /**
   * Adds `listener` for `prefix` and has Redis track it; resolves once it is in place. While the
   * tracking is up, a new prefix is added to it (Redis accepts more prefixes on a tracking
   * connection) and only the new listener hears 'up': the others lose nothing. When that fails
   * (Redis unreachable, or refusing it) the promise rejects, but the listener stays: the tracking
   * is issued again when a connection comes back.
   */
  async track(prefix: string, listener: TrackingListener): Promise<() => Promise<void>> {
    const entry = { ...listener }
    let listeners = this.#prefixes.get(prefix)
    if (listeners === undefined) {
      listeners = new Set()
      this.#prefixes.set(prefix, listeners)
    }
    listeners.add(entry)
    const enabled = this.#enabled
    if (enabled === undefined || [...enabled.prefixes].some((q) => q !== prefix && q.startsWith(prefix)))
      await this.enable()
    else {
      if (![...enabled.prefixes].some((q) => prefix.startsWith(q))) {
        await this.#connections.command([
          'CLIENT',
          'TRACKING',
          'ON',
          'REDIRECT',
          enabled.id,
          'BCAST',
          'PREFIX',
          prefix,
          'NOLOOP',
        ])
        enabled.prefixes.add(prefix)
      }
      entry.onState('up')
    }
    return async () => {
      this.#remove(prefix, entry)
      // The server may keep tracking the prefix (its reports find no listener) until the next
      // enable: issuing it again now would make every other listener drop its L1.
      if (this.#prefixes.size === 0) await this.enable().catch(() => {})
    }
  }

  /**
   * Issues the tracking for every prefix (OFF first: Redis refuses a prefix the connection already
   * tracks). Rejects when Redis refuses it or a connection is not there; the adapter calls it
   * again when the connection comes back.
   */
  async enable(): Promise<void> {
    const generation = ++this.#generation
    this.#enabled = undefined
    if (this.#prefixes.size === 0) {
      await this.#connections.command(['CLIENT', 'TRACKING', 'OFF'])
      return
    }
    const id = await this.#connections.redirectId()
    const prefixes = outermost([...this.#prefixes.keys()])
    await Promise.all([
      this.#connections.command(['CLIENT', 'TRACKING', 'OFF']),
      this.#connections.command([
        'CLIENT',
        'TRACKING',
        'ON',
        'REDIRECT',
        id,
        'BCAST',
        ...prefixes.flatMap((p) => ['PREFIX', p]),
        'NOLOOP',
      ]),
    ])
    if (generation !== this.#generation) return
    this.#down = false
    this.#enabled = { id, prefixes: new Set(prefixes) }
    for (const set of [...this.#prefixes.values()]) for (const l of [...set]) l.onState('up')
  }

  /** A connection the tracking needs dropped: changes may be missed until {@link enable} succeeds. */
  down(): void {
    this.#enabled = undefined
    if (this.#down || this.#prefixes.size === 0) return
    this.#down = true
    for (const set of this.#prefixes.values()) for (const l of set) l.onState('down')
  }

  /**
   * An invalidation message: the keys (Buffers or strings, as the client decoded them), or null
   * when Redis flushed everything. Anything else is ignored.
   */
  deliver(payload: unknown): void {
    if (payload === null || payload === undefined) {
      for (const set of this.#prefixes.values()) for (const l of set) l.onKeys(null)
      return
    }
    const keys = (Array.isArray(payload) ? payload : [payload]).map(String)
    for (const [prefix, set] of this.#prefixes) {
      const mine = keys.filter((key) => key.startsWith(prefix))
      if (mine.length > 0) for (const l of set) l.onKeys(mine)
    }
  }

  clear(): void {
    this.#prefixes.clear()
  }

  #remove(prefix: string, entry: TrackingListener): void {
    const set = this.#prefixes.get(prefix)
    set?.delete(entry)
    if (set?.size === 0) this.#prefixes.delete(prefix)
  }
}

/** The prefixes none of the others starts with (Redis refuses overlapping prefixes on one connection). */
function outermost(prefixes: readonly string[]): string[] {
  return prefixes.filter((p) => !prefixes.some((q) => q !== p && p.startsWith(q)))
}

/** A subscriber connection's CLIENT SETNAME, unique to it (CLIENT LIST then names its id). */
export function subscriberName(): string {
  return `stratacache:invalidations:${randomUUID()}`
}

/** The id of the connection named `name` in a CLIENT LIST reply. */
export function trackingIdOf(list: string, name: string | undefined): string {
  for (const line of list.split('\n')) {
    const id = /^id=(\d+) /.exec(line)?.[1]
    if (id !== undefined && name !== undefined && line.includes(` name=${name} `)) return id
  }
  throw new Error('The subscriber connection that receives tracking invalidations is not connected yet.')
}
