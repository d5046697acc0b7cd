import { InvalidOptionError } from '../index.js'
import type { ResolvedPolicy } from './policy.js'
import type { CapturedResponse, OutgoingResponse, RequestSource, StoredResponse } from './types.js'

/** Either a response to send now, or the route must run and its output be given to `exchange.finish`. */
export type Step =
  | { readonly kind: 'respond'; readonly response: OutgoingResponse }
  | { readonly kind: 'origin'; readonly exchange: Exchange }

/** A stored response past freshness that may stand in for a failed origin until `until`. */
export interface Fallback {
  readonly entry: StoredResponse
  readonly until: number
}

/**
 * The response an origin request is producing for identical GETs waiting on it (held in the HTTP
 * cache's single-flight): resolved with what was stored, or undefined (the waiters then go to the
 * origin themselves).
 */
export interface Flight {
  readonly promise: Promise<StoredResponse | undefined>
  readonly resolve: (entry: StoredResponse | undefined) => void
}

/** Everything an exchange carries between `begin` and `finish`. */
export interface ExchangeState {
  readonly policy: ResolvedPolicy<unknown>
  readonly source: RequestSource<unknown>
  readonly method: string
  readonly key: string | undefined
  readonly outcome: 'miss' | 'bypass' | 'revalidate'
  readonly fallback: Fallback | undefined
  readonly flight: Flight | undefined
  readonly perUser: boolean
  /** The request carried Authorization or Cookie. */
  readonly credentials: boolean
  readonly startedAt: number
}

/** What an {@link Exchange} hands its route's output (or its abandonment) to: the `HttpCache`. */
export interface ExchangeOwner {
  finish(state: ExchangeState, captured: CapturedResponse): Promise<OutgoingResponse>
  abandon(state: ExchangeState): void
}

/** One request on its way through the route: finish it with the route's output, or abandon it. Idempotent. */
export class Exchange {
  readonly #owner: ExchangeOwner
  readonly #state: ExchangeState
  #settled = false

  constructor(owner: ExchangeOwner, state: ExchangeState) {
    this.#owner = owner
    this.#state = state
  }

  /** Whether this request is this instance's own background revalidation (its response goes nowhere). */
  get revalidation(): boolean {
    return this.#state.outcome === 'revalidate'
  }

  finish(captured: CapturedResponse): Promise<OutgoingResponse> {
    if (this.#settled) throw new InvalidOptionError('This exchange was already finished or abandoned.')
    this.#settled = true
    return this.#owner.finish(this.#state, captured).catch((error: unknown) => {
      this.#owner.abandon(this.#state)
      throw error
    })
  }

  abandon(): void {
    if (this.#settled) return
    this.#settled = true
    this.#owner.abandon(this.#state)
  }
}

/** A new {@link Flight}: the promise, and the function that settles it. */
export function newFlight(): Flight {
  let resolve!: (entry: StoredResponse | undefined) => void
  const promise = new Promise<StoredResponse | undefined>((r) => {
    resolve = r
  })
  return { promise, resolve }
}
