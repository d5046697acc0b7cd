/**
 * Exponential backoff with jitter: `retryBase × 2^(attempt-1)`, at most `retryMax`, then a random
 * point in its upper half ("equal jitter": never less than half the step, so a retry never comes
 * back at once, and processes that failed together spread out).
 */
export function backoffDelay(
  attempt: number,
  settings: { retryBaseMs: number; retryMaxMs: number; random: () => number },
): number {
  const step = Math.min(settings.retryMaxMs, settings.retryBaseMs * 2 ** Math.max(0, attempt - 1))
  return step / 2 + (step / 2) * settings.random()
}
