import { PER_REQUEST_STATUSES, type UncacheableReason } from './semantics.js'

/** How long a key stays passed after a response that could not be stored, unless one can be sooner. */
export const HIT_FOR_PASS_MS = 60_000
/** Most keys remembered; past it, the expired go, then the oldest. */
const MAX_KEYS = 10_000

/**
 * Why a response was not stored, when the route will most likely answer the next identical request
 * alike: what the response itself says (`private`, `no-store`, `no-cache`, a `Set-Cookie`, an
 * undeclared `Vary`, no freshness, its status, its size). Not a 5xx: coalescing keeps a failing
 * origin from being hit by every waiting request at once. Not what belongs to one request
 * (`no-store` in it, credentials, a 206/304/412/416 answering its range or conditions — once
 * taken for an unstorable page, so one Range request stopped plain GETs sharing a route run for
 * 60 s) or one moment (an invalidation, a cache error).
 */
export function passes(reason: UncacheableReason | 'too-large', status: number): boolean {
  switch (reason) {
    case 'status':
      return status < 500 && !PER_REQUEST_STATUSES.has(status)
    case 'no-store':
    case 'no-cache':
    case 'private':
    case 'set-cookie':
    case 'vary':
    case 'no-freshness':
    case 'too-large':
      return true
    default:
      return false
  }
}

/**
 * Keys whose last response could not be stored (hit-for-pass, as Varnish calls it). Their requests
 * go to the route each on its own: waiting for another identical request's response only to find
 * it unshareable would make each of them take two route runs. A storable response ends it at once
 * ({@link clear}); otherwise it lasts {@link HIT_FOR_PASS_MS} from the last unstorable one. Dated
 * by the HTTP cache's clock.
 */
export class HitForPass {
  readonly #until = new Map<string, number>()

  /** The route's response for `key` could not be stored (see {@link passes}). */
  mark(key: string, now: number): void {
    // Deleted first: the map stays in the order of the last mark, oldest first.
    this.#until.delete(key)
    this.#until.set(key, now + HIT_FOR_PASS_MS)
    if (this.#until.size <= MAX_KEYS) return
    for (const [k, until] of this.#until) if (until <= now) this.#until.delete(k)
    for (const k of this.#until.keys()) {
      if (this.#until.size <= MAX_KEYS) break
      this.#until.delete(k)
    }
  }

  /** A response for `key` was stored: its requests share one route call again. */
  clear(key: string): void {
    this.#until.delete(key)
  }

  /** Whether requests for `key` go to the route without waiting for an identical one. */
  has(key: string, now: number): boolean {
    const until = this.#until.get(key)
    if (until === undefined) return false
    if (now < until) return true
    this.#until.delete(key)
    return false
  }
}
