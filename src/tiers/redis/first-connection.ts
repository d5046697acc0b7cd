import { timerMs } from '../../base/clock.js'
import { L2TimeoutError } from '../../errors.js'

/**
 * The first connection of a client stratacache opened itself. Such a client runs without an
 * offline queue, so a command sent before it has ever connected would fail at once; instead it
 * waits here, at most `timeoutMs` (the tier's deadline), and is sent only if the connection came
 * in time. Nothing is queued inside the client, so nothing can be sent after its caller gave up.
 * After the first connection, commands fail fast whenever the client is disconnected.
 */
export class FirstConnection {
  readonly #timeoutMs: number
  readonly #waiters = new Set<(error?: Error) => void>()
  #connected = false

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs
  }

  /** True once the client has been ready at least once. */
  get connected(): boolean {
    return this.#connected
  }

  /** Call on the client's first 'ready': lets the waiting commands go. */
  ready(): void {
    if (this.#connected) return
    this.#connected = true
    for (const waiter of this.#waiters) waiter()
    this.#waiters.clear()
  }

  /** Call when the adapter closes: the waiting commands reject now instead of at their deadline. */
  abort(): void {
    const error = new Error('The Redis connection was closed before it was ever established.')
    for (const waiter of this.#waiters) waiter(error)
    this.#waiters.clear()
  }

  /** Runs `command` now if the client has connected once, else after its first connection (bounded). */
  run<T>(command: () => Promise<T>): Promise<T> {
    if (this.#connected) return command()
    return new Promise<void>((resolve, reject) => {
      const ms = this.#timeoutMs
      const waiter = (error?: Error) => {
        clearTimeout(timer)
        this.#waiters.delete(waiter)
        if (error === undefined) resolve()
        else reject(error)
      }
      const timer = setTimeout(
        () =>
          waiter(
            new L2TimeoutError(`Not connected to Redis yet: no connection within ${ms} ms (l2.timeout).`),
          ),
        timerMs(ms),
      )
      this.#waiters.add(waiter)
    }).then(command)
  }
}

/**
 * Runs `command` after the first connection of a client stratacache opened (see
 * {@link FirstConnection.run}); at once for a client the user passed in (`first` undefined).
 */
export function afterFirstConnection<T>(
  first: FirstConnection | undefined,
  command: () => Promise<T>,
): Promise<T> {
  return first === undefined ? command() : first.run(command)
}
