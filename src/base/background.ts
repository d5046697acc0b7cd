import { InvalidOptionError } from '../errors.js'

/**
 * A runtime's hook that keeps the process (or the isolate) alive until a promise settles: Vercel's
 * `waitUntil` from `@vercel/functions`, Cloudflare's `ctx.waitUntil`. Serverless runtimes freeze
 * or end a request's work once it answered; work the cache goes on with after answering (an early
 * refresh, a stale value's revalidation, a write-back, a bus message) is handed to it.
 */
export type WaitUntil = (promise: Promise<unknown>) => void

/** `value` as a {@link WaitUntil}, or an {@link InvalidOptionError} saying what to pass. */
export function resolveWaitUntil(value: unknown): WaitUntil {
  if (typeof value !== 'function') {
    throw new InvalidOptionError(
      `waitUntil must be a function that keeps the runtime alive until a promise settles (Vercel's waitUntil, ctx.waitUntil.bind(ctx) on Cloudflare); got ${typeof value}.`,
    )
  }
  return value as WaitUntil
}

/**
 * Lets `work` go on unawaited: its rejection is handled here (the cache counted or reported the
 * failure already), and, when `waitUntil` is given, the settled promise is handed to it, so it
 * never rejects in the runtime either. A hook that throws (called after the runtime ended the
 * request) does not fail the call that started the work: the work goes on as without the hook.
 */
export function handOff(waitUntil: WaitUntil | undefined, work: Promise<unknown>): void {
  const settled = work.then(ignore, ignore)
  if (waitUntil === undefined) return
  try {
    waitUntil(settled)
  } catch {
    // See above: the hook's refusal changes nothing for the caller.
  }
}

function ignore(): void {}
