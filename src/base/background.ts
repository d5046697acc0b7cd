/**
 * A runtime's hook that keeps the process (or the isolate) alive until a promise settles: Vercel's
 * `waitUntil` from `@vercel/functions`, Cloudflare's `ctx.waitUntil`. Serverless runtimes freeze
 * or end a request's work once it answered; work the cache goes on with after answering (an early
 * refresh, a stale value's revalidation, a write-back, a bus message) is handed to it.
 */
export type WaitUntil = (promise: Promise<unknown>) => void

/**
 * Hands `work`, which nobody awaits, to `waitUntil` (when given). What is handed never rejects:
 * the runtime must not see an unhandled rejection for work whose failure the cache already
 * counted or reported. A hook that throws (called after the runtime ended the request) does not
 * fail the call that started the work: the work goes on as it would without the hook.
 */
export function handOff(waitUntil: WaitUntil | undefined, work: Promise<unknown>): void {
  if (waitUntil === undefined) return
  try {
    waitUntil(work.then(ignore, ignore))
  } catch {
    // See above: the hook's refusal changes nothing for the caller.
  }
}

function ignore(): void {}
