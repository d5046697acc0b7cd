import { timerMs } from '../../base/clock.js'
import { L2Error } from '../../errors.js'

/**
 * What the Redis connection last said about itself. The clients report socket and handshake
 * errors (a refused port, an unknown host, a wrong password) only as 'error' events, and keep
 * reconnecting: without this, a wrong URL would be silent — every command would merely time out.
 * The tier feeds it the clients' errors and its own successful round trips; `ready()`, `health()`
 * and `diagnose()` read the cause from it, and the first failure is announced once.
 */
export class ConnectionReport {
  #cause: Error | undefined
  #announced = false
  #closed = false
  #onFirstFailure: (error: Error) => void = () => {}
  readonly #onReady = new Set<() => void>()

  /** True once the tier closed: its connections' errors from then on are the closing itself. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * The tier is closing: nothing its connections report from now on is a failure to record or
   * announce (destroying a connection with a command pending makes node-redis report
   * "Disconnects client").
   */
  close(): void {
    this.#closed = true
  }

  /** A connection-level error from the client (it reconnects by itself). */
  failed(error: unknown): void {
    if (this.#closed) return
    const cause = asError(error)
    // A refused AUTH (WRONGPASS) is followed by NOAUTH answers to the commands sent behind it on
    // the same connection (the subscriber's SUBSCRIBE, a PING): the refusal is the cause to name.
    const consequence =
      connectionErrorCode(cause) === 'NOAUTH' && connectionErrorCode(this.#cause) === 'WRONGPASS'
    if (!consequence) this.#cause = cause
    if (this.#announced) return
    this.#announced = true
    this.#onFirstFailure(this.#cause ?? cause)
  }

  /** Redis answered a command: whatever failed before is over. */
  answered(): void {
    this.#cause = undefined
  }

  /** The last connection error since Redis last answered, if any. */
  get cause(): Error | undefined {
    return this.#cause
  }

  /**
   * The client (re)connected and is ready for commands. Tells whoever waits for Redis to come back
   * (the breaker's probe) at once: a reconnect is an event, and waiting for a timer instead costs
   * up to a whole break — on a busy event loop, several of its turns (issue 24).
   */
  ready(): void {
    for (const listener of this.#onReady) {
      try {
        listener()
      } catch {}
    }
  }

  /** Calls `listener` on every (re)connection; returns what removes it. */
  onReady(listener: () => void): () => void {
    this.#onReady.add(listener)
    return () => this.#onReady.delete(listener)
  }

  /** Called once, with the first connection error of the connection's lifetime (later ones are only recorded). */
  onFirstFailure(listener: (error: Error) => void): void {
    this.#onFirstFailure = listener
  }
}

/**
 * The short name of a connection error: the socket's code (`ECONNREFUSED`, `ENOTFOUND`,
 * `ETIMEDOUT`…) or the server's error word (`WRONGPASS`, `NOAUTH`, `NOPERM`), else undefined.
 */
export function connectionErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code
  if (typeof code === 'string' && code !== '') return code
  const word = /^([A-Z][A-Z_]{2,})\b/.exec(error instanceof Error ? error.message : String(error))
  return word?.[1]
}

/** `connect ECONNREFUSED 127.0.0.1:1` — the error's own words, with its code when the message lacks it. */
export function describeConnectionError(error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).replace(/\.+$/, '')
  const code = connectionErrorCode(error)
  return code === undefined || message.includes(code) ? message : `${message} (${code})`
}

/** What to check for a given cause. */
function advice(code: string | undefined): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'nothing listens there: check the port in l2.redis and that redis-server is running'
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve: check the host in l2.redis'
    case 'WRONGPASS':
      return 'the server refused the user name or password in l2.redis'
    case 'NOAUTH':
      return 'the server requires a password: put it in l2.redis (redis://:password@host:port)'
    default:
      return 'check l2.redis (host, port, password, TLS) and that the server is up'
  }
}

/** The error `ready()` rejects with when Redis has not answered in time, naming the connection's cause. */
export function notAnsweringError(timeoutMs: number, cause: unknown): L2Error {
  if (cause === undefined) {
    return new L2Error(
      `Redis did not answer within ${timeoutMs} ms, and its client reported no error: check l2.redis (host, port, TLS), the network, or raise ready({ timeout }).`,
    )
  }
  const code = connectionErrorCode(cause)
  return new L2Error(
    `Redis did not answer within ${timeoutMs} ms: ${describeConnectionError(cause)} — ${advice(code)}.`,
    { cause },
  )
}

/** The warning announcing the first connection failure (the cache keeps serving its L1 and the origin meanwhile). */
export function unreachableWarning(cause: Error): L2Error {
  const code = connectionErrorCode(cause)
  return new L2Error(
    `Cannot connect to Redis: ${describeConnectionError(cause)} — ${advice(code)}. The cache serves its L1 and the origin meanwhile, and keeps reconnecting; this is reported once.`,
    { cause },
  )
}

/**
 * Resolves once `ping` succeeds (tried again with a short back-off) and `subscribed` (the bus)
 * resolves true; rejects with {@link notAnsweringError} after `timeoutMs`, naming the
 * connection's last error or else the last failure seen.
 */
export async function untilAnswering(options: {
  ping: () => Promise<void>
  subscribed: Promise<{ ok: true } | { ok: false; error: unknown }>
  report: ConnectionReport
  timeoutMs: number
}): Promise<void> {
  const { ping, report, timeoutMs } = options
  const started = performance.now()
  const left = () => timeoutMs - (performance.now() - started)
  let last: unknown
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), timerMs(timeoutMs))
  })
  try {
    for (let attempt = 0; ; attempt++) {
      const outcome = await Promise.race([
        ping().then(
          () => 'answered' as const,
          (error: unknown) => {
            last = error
            return 'failed' as const
          },
        ),
        expired,
      ])
      if (outcome === 'answered') break
      if (outcome === 'expired' || left() <= 0) throw notAnsweringError(timeoutMs, report.cause ?? last)
      const pause = Math.min(RETRY_MS * 2 ** attempt, MAX_RETRY_MS, left())
      await new Promise((resolve) => setTimeout(resolve, pause))
    }
    const bus = await Promise.race([options.subscribed, expired])
    if (bus === 'expired') throw notAnsweringError(timeoutMs, report.cause)
    if (!bus.ok) throw notAnsweringError(timeoutMs, report.cause ?? bus.error)
  } finally {
    clearTimeout(timer)
  }
}

const RETRY_MS = 25
const MAX_RETRY_MS = 250

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}

/** The tier's connection report, or one that hears nothing for a tier that has none (a user's own RemoteTier). */
export function connectionOf(tier: object): ConnectionReport {
  const connection = (tier as { connection?: unknown }).connection
  return connection instanceof ConnectionReport ? connection : new ConnectionReport()
}

/**
 * Keeps an 'error' listener on `socket` for its whole life. Both clients listen for a socket's
 * errors with `once` (ioredis: lib/Redis.js and its connector; node-redis: `events.once` during the
 * TLS handshake), but a TLS socket can emit more than one: a certificate refused (the socket is
 * destroyed), then a record read in the same chunk (a server's alert) is reported as a second
 * error. With no listener left, Node throws it — an uncaught exception that ended the host
 * process (`ERR_SSL_TLSV1_ALERT_DECODE_ERROR` in CI). This listener stays quiet while the client
 * still listens itself, and hands `onLateError` the errors nobody else hears.
 */
export function keepErrorListener(
  socket: {
    on(event: 'error', listener: (error: Error) => void): unknown
    listenerCount(event: 'error'): number
  },
  onLateError: (error: Error) => void,
): void {
  socket.on('error', (error) => {
    if (socket.listenerCount('error') === 1) onLateError(error)
  })
}
