/**
 * TTLs from change rates. Under changes arriving at random (Poisson) every `interval` on average,
 * an entry cached for T serves stale data on about T / (2 × interval) of its hits (for T ≪
 * interval). {@link TTL_FRACTION} = 0.2 keeps that near 10%: the seed's framework in numbers
 * (hourly changes → 12 min, daily → ~5 h, weekly → ~1.4 days), capped by the staleness you accept.
 */
export const TTL_FRACTION = 0.2

const NICE_MS: readonly number[] = [
  1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
  3_600_000, 7_200_000, 14_400_000, 21_600_000, 43_200_000, 86_400_000, 172_800_000, 604_800_000,
  2_592_000_000,
]

/** The largest "round" duration at or below `ms` (1s, 2s, 5s, 10s, 15s, 30s, 1m, 2m, 5m, …, 7d, 30d). */
export function roundDownTtl(ms: number): number {
  let best = 0
  for (const nice of NICE_MS) if (nice <= ms) best = nice
  return best === 0 ? Math.max(0, Math.floor(ms / 100) * 100) : best
}

/** `90000` → `'90s'`, `3600000` → `'1h'`: the string form stratacache's TTL options accept. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'Infinity'
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ]
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  return `${Math.round(ms)}ms`
}

/** Approximate, for prose: `3.2 h`, `45 s`, `12 min`, `2.1 days`. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '∞'
  const s = ms / 1000
  if (s < 1) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
  if (s < 120) return `${s.toFixed(s < 10 ? 1 : 0)} s`
  if (s < 7200) return `${(s / 60).toFixed(s < 600 ? 1 : 0)} min`
  if (s < 172_800) return `${(s / 3600).toFixed(1)} h`
  return `${(s / 86_400).toFixed(1)} days`
}

/** `'500ms' | '30s' | '5m' | '1h' | '7d'` or a number of ms → ms; NaN when malformed. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?$/.exec(text.trim())
  if (m === null) return Number.NaN
  const unit = m[2] ?? 'ms'
  const scale =
    unit === 'ms'
      ? 1
      : unit === 's'
        ? 1000
        : unit === 'm' || unit === 'min'
          ? 60_000
          : unit === 'h'
            ? 3_600_000
            : 86_400_000
  return Number(m[1]) * scale
}

/** The TTL for data that changes every `changeIntervalMs` (Infinity: never seen changing), capped by `maxStalenessMs`. */
export function ttlFor(changeIntervalMs: number, maxStalenessMs: number): number {
  const fromChanges = changeIntervalMs * TTL_FRACTION
  return roundDownTtl(Math.min(fromChanges, maxStalenessMs))
}
