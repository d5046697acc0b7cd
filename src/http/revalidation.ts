import { randomBytes, timingSafeEqual } from 'node:crypto'
import { handOff, type WaitUntil } from '../base/background.js'
import { timerMs } from '../base/clock.js'
import type { HttpRequest } from './types.js'

/** Header carrying this instance's secret on its own background revalidation requests. */
export const REVALIDATE_HEADER = 'x-stratacache-revalidate'

/** Request headers a background revalidation leaves out: it must get a full, fresh 200. */
const NOT_REPLAYED = new Set([
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
  'cache-control',
  'pragma',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'expect',
  'upgrade',
])

export interface RevalidationResult {
  readonly ok: boolean
  readonly status: number | undefined
}

/**
 * This instance's background revalidations (stale-while-revalidate): at most one per key, each a
 * replay of the request through the app, marked with a secret only this instance knows so the
 * route stores its response instead of serving it. One that never reaches the route (another
 * middleware answered it) ends after `waitMs`.
 */
export class BackgroundRevalidations {
  /** Secret of this instance's background revalidation requests (never sent to a client). */
  readonly #token = randomBytes(18).toString('base64url')
  readonly #pending = new Map<string, (result: RevalidationResult) => void>()
  readonly #waitMs: number
  readonly #onError: (error: unknown) => void
  readonly #onDone: (key: string, result: RevalidationResult) => void

  constructor(options: {
    waitMs: number
    onError: (error: unknown) => void
    onDone: (key: string, result: RevalidationResult) => void
  }) {
    this.#waitMs = options.waitMs
    this.#onError = options.onError
    this.#onDone = options.onDone
  }

  /** Whether `marker` (the {@link REVALIDATE_HEADER} of a request) is this instance's secret. */
  isOwn(marker: string | undefined): boolean {
    if (marker === undefined) return false
    const a = Buffer.from(marker)
    const b = Buffer.from(this.#token)
    return a.length === b.length && timingSafeEqual(a, b)
  }

  /** Starts one for `key` unless one is running; false when one was. */
  start(
    key: string,
    revalidate: (replay: HttpRequest) => Promise<unknown>,
    request: HttpRequest,
    waitUntil?: WaitUntil,
  ): boolean {
    if (this.#pending.has(key)) return false
    const headers: Record<string, string | readonly string[]> = {}
    for (const [name, value] of Object.entries(request.headers)) {
      if (value !== undefined && !NOT_REPLAYED.has(name)) headers[name] = value
    }
    headers[REVALIDATE_HEADER] = this.#token
    let timer: NodeJS.Timeout | undefined
    const done = new Promise<RevalidationResult>((resolve) => {
      this.#pending.set(key, resolve)
      timer = setTimeout(() => resolve({ ok: false, status: undefined }), timerMs(this.#waitMs))
      timer.unref()
    })
    revalidate({ method: 'GET', url: request.url, headers }).catch((error: unknown) => {
      this.#onError(error)
      this.settle(key, { ok: false, status: undefined })
    })
    // The stale response is sent before this ends: a serverless runtime must be told to wait.
    handOff(
      waitUntil,
      done.then((result) => {
        clearTimeout(timer)
        this.#pending.delete(key)
        this.#onDone(key, result)
      }),
    )
    return true
  }

  /** The replay for `key` reached the route and ended (`ok`: a new response was stored). */
  settle(key: string, result: RevalidationResult): void {
    this.#pending.get(key)?.(result)
  }
}
