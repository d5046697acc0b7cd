/**
 * A TCP proxy in the test process, between a cache (in this process or a worker) and a real
 * redis-server, that imitates what networks do to a connection without closing it:
 *
 * - `forward` (the default): bytes pass as they arrive.
 * - `blackhole`: nothing passes in the chosen direction(s), and nothing is closed — a partition,
 *   a dropped NAT entry, a peer that stopped acknowledging. Bytes sent meanwhile are held (and the
 *   sender's socket paused, so the kernel's buffers fill as TCP's would) and delivered in order
 *   on `resume`, as TCP retransmission would once the path heals.
 * - `delay(ms)`: every chunk is delivered `ms` after it arrived, in order (a slow or congested path).
 *   `delay(ms, which, direction, jitter)`: each chunk's delay is drawn uniformly from
 *   `ms ± jitter`, still in order (a chunk never overtakes the one before it, as on one TCP stream).
 * - `sever`: both sockets destroyed (a reset).
 *
 * Each mode applies to all connections (present and future) or to the ones a selector picks:
 * a {@link ProxyLink}, or a predicate over links (e.g. the one whose client sent SUBSCRIBE, or
 * whose upstream port a `CLIENT LIST` line names), and to one direction or both.
 */
import net from 'node:net'

export type Direction = 'up' | 'down' | 'both'
type Mode = { kind: 'forward' } | { kind: 'blackhole' } | { kind: 'delay'; ms: number; jitter: number }
export type LinkSelector = ProxyLink | ((link: ProxyLink) => boolean) | 'all'

/** How many bytes a link remembers of what its client sent first (to tell connections apart). */
const SNIFF_BYTES = 4096

/** One direction of one connection: a queue of chunks, each delivered when its time comes. */
class Pipe {
  #mode: Mode = { kind: 'forward' }
  readonly #queue: { chunk: Buffer; due: number }[] = []
  #timer: NodeJS.Timeout | undefined
  /** Bytes delivered so far. */
  delivered = 0

  constructor(
    readonly from: net.Socket,
    readonly to: net.Socket,
    readonly random: () => number = Math.random,
  ) {
    from.on('data', (chunk: Buffer) => {
      this.#queue.push({ chunk, due: this.#dueOf(Date.now()) })
      this.#pump()
    })
  }

  /**
   * When a chunk that arrived at `now` is due under the current mode: 0 (at once) unless delayed.
   * A chunk drawn shorter than the one before it still waits for it: the queue is delivered in
   * order (#pump), as one TCP stream is.
   */
  #dueOf(now: number): number {
    const mode = this.#mode
    if (mode.kind !== 'delay') return 0
    return now + mode.ms + (mode.jitter === 0 ? 0 : (2 * this.random() - 1) * mode.jitter)
  }

  get held(): number {
    return this.#queue.reduce((n, q) => n + q.chunk.length, 0)
  }

  set(mode: Mode): void {
    const wasHolding = this.#mode.kind === 'blackhole'
    this.#mode = mode
    if (mode.kind === 'blackhole') {
      this.from.pause()
      return
    }
    if (wasHolding) this.from.resume()
    // What was held or delayed is due by the new mode's rule from now on.
    const due = mode.kind === 'delay' ? Date.now() + mode.ms : 0
    for (const q of this.#queue) q.due = q.due === 0 ? due : Math.min(q.due, due)
    this.#pump()
  }

  #pump(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer)
      this.#timer = undefined
    }
    if (this.#mode.kind === 'blackhole') return
    const now = Date.now()
    while (this.#queue.length > 0) {
      const head = this.#queue[0] as { chunk: Buffer; due: number }
      if (head.due > now) {
        this.#timer = setTimeout(() => this.#pump(), head.due - now)
        return
      }
      this.#queue.shift()
      if (this.to.destroyed) continue
      this.to.write(head.chunk)
      this.delivered += head.chunk.length
    }
  }

  destroy(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#queue.length = 0
  }
}

/** One proxied connection: the client's socket, the socket to the server, and what passes between. */
export class ProxyLink {
  /** Accept order, from 1. */
  readonly id: number
  readonly up: Pipe
  readonly down: Pipe
  /** The start of what the client sent (latin1), e.g. to find the SUBSCRIBE connection. */
  sent = ''
  closed = false

  constructor(
    id: number,
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    random: () => number = Math.random,
    onSent?: (chunk: Buffer, link: ProxyLink) => void,
  ) {
    this.id = id
    this.up = new Pipe(client, upstream, random)
    this.down = new Pipe(upstream, client, random)
    client.on('data', (chunk: Buffer) => {
      if (this.sent.length < SNIFF_BYTES) this.sent += chunk.toString('latin1', 0, SNIFF_BYTES)
      onSent?.(chunk, this)
    })
  }

  /** The local port of the socket to the server: what the server's CLIENT LIST shows as `addr`. */
  get upstreamPort(): number | undefined {
    return this.upstream.localPort
  }

  pipes(direction: Direction): Pipe[] {
    return direction === 'up' ? [this.up] : direction === 'down' ? [this.down] : [this.up, this.down]
  }

  sever(): void {
    this.closed = true
    this.up.destroy()
    this.down.destroy()
    this.client.destroy()
    this.upstream.destroy()
  }
}

export interface TcpProxyOptions {
  /** The server to forward to. */
  target: { host?: string; port: number }
  /** Draws the jitter of `delay` (uniform in [0, 1)); default Math.random. A seeded one replays a run. */
  random?: () => number
  /**
   * Sees every chunk a client sends, as it arrives (before any delay): e.g. to count the commands
   * a cache sends, which the server's INFO commandstats mixes with the calls its scripts make.
   */
  onSent?: (chunk: Buffer, link: ProxyLink) => void
}

/** A proxy on a free loopback port; see the file header. Close it in afterAll/afterEach. */
export class TcpProxy {
  readonly #server: net.Server
  readonly #target: { host: string; port: number }
  readonly #random: () => number
  readonly #onSent: ((chunk: Buffer, link: ProxyLink) => void) | undefined
  readonly #links: ProxyLink[] = []
  /** The mode new connections start in (set by the 'all' selector), per direction. */
  #defaults: { up: Mode; down: Mode } = { up: { kind: 'forward' }, down: { kind: 'forward' } }
  #nextId = 1
  port = 0

  private constructor(options: TcpProxyOptions) {
    this.#target = { host: options.target.host ?? '127.0.0.1', port: options.target.port }
    this.#random = options.random ?? Math.random
    this.#onSent = options.onSent
    this.#server = net.createServer((client) => this.#accept(client))
  }

  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const proxy = new TcpProxy(options)
    await new Promise<void>((resolve, reject) => {
      proxy.#server.once('error', reject)
      proxy.#server.listen(0, '127.0.0.1', () => resolve())
    })
    proxy.port = (proxy.#server.address() as net.AddressInfo).port
    return proxy
  }

  /** `redis://127.0.0.1:<proxy port>` with the user and password of `url` (the server's URL). */
  url(serverUrl: string): string {
    const u = new URL(serverUrl)
    u.hostname = '127.0.0.1'
    u.port = String(this.port)
    return u.toString().replace(/\/$/, '')
  }

  /** Every connection accepted so far that is still open. */
  get links(): readonly ProxyLink[] {
    return this.#links.filter((l) => !l.closed)
  }

  /** Stops forwarding (nothing closed; bytes held until resume). */
  blackhole(which: LinkSelector = 'all', direction: Direction = 'both'): void {
    this.#apply(which, direction, { kind: 'blackhole' })
  }

  /** Delivers every chunk `ms` (± `jitter`, uniformly, order kept) after it arrived. */
  delay(ms: number, which: LinkSelector = 'all', direction: Direction = 'both', jitter = 0): void {
    if (!(jitter >= 0)) throw new RangeError(`delay: jitter must be ≥ 0 ms, got ${jitter}`)
    this.#apply(which, direction, { kind: 'delay', ms, jitter })
  }

  /** Forwards again, delivering what was held first. */
  resume(which: LinkSelector = 'all', direction: Direction = 'both'): void {
    this.#apply(which, direction, { kind: 'forward' })
  }

  /** Resets the selected connections (both sockets destroyed). */
  sever(which: LinkSelector = 'all'): void {
    for (const link of this.#select(which)) link.sever()
  }

  async close(): Promise<void> {
    for (const link of this.#links) link.sever()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  #apply(which: LinkSelector, direction: Direction, mode: Mode): void {
    if (which === 'all') {
      if (direction !== 'down') this.#defaults.up = mode
      if (direction !== 'up') this.#defaults.down = mode
    }
    for (const link of this.#select(which)) for (const pipe of link.pipes(direction)) pipe.set(mode)
  }

  #select(which: LinkSelector): ProxyLink[] {
    if (which === 'all') return this.links.slice()
    if (which instanceof ProxyLink) return [which]
    return this.links.filter(which)
  }

  #accept(client: net.Socket): void {
    client.pause()
    const upstream = net.connect(this.#target.port, this.#target.host)
    const link = new ProxyLink(this.#nextId++, client, upstream, this.#random, this.#onSent)
    this.#links.push(link)
    const end = () => link.sever()
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
    client.setNoDelay(true)
    upstream.setNoDelay(true)
    upstream.once('connect', () => {
      link.up.set(this.#defaults.up)
      link.down.set(this.#defaults.down)
      if (this.#defaults.up.kind !== 'blackhole') client.resume()
    })
  }
}

/** Starts a proxy to `target`; the caller closes it. */
export function startTcpProxy(target: { host?: string; port: number }): Promise<TcpProxy> {
  return TcpProxy.start({ target })
}
