import type { AnalysisReport } from '../report-model.js'
import { humanDuration } from '../ttl.js'
import {
  bytes,
  clip,
  impossibleValuesText,
  int,
  outlierText,
  pct,
  points,
  printable,
  table,
  timeOrderText,
} from './format.js'

const DECISION: Readonly<Record<string, string>> = {
  cache: 'cache',
  'short-ttl': 'short TTL',
  'dont-cache': "don't cache",
}

/** The report as text tables for a terminal (docs/analyze.md explains every number). */
export function formatTerminal(report: AnalysisReport): string {
  const out: string[] = []
  const { lines } = report
  out.push(
    `stratacache analyze — ${printable(report.source.file)} (${report.source.format}, ${bytes(report.source.bytes)})`,
  )
  out.push(
    `${int(lines.total)} lines in ${(report.elapsedMs / 1000).toFixed(1)} s: ${int(lines.events)} accesses ` +
      `(${int(lines.reads)} reads, ${int(lines.writes)} writes), ${int(lines.other)} other statements, ` +
      `${int(lines.skipped)} lines without an access, ${int(lines.malformed)} malformed`,
  )
  out.push(
    report.timed
      ? `Time span: ${humanDuration(report.spanMs)}`
      : 'No timestamps: change rates and intervals are unknown.',
  )
  const outliers = report.timeOutliers
  if (outliers.count > 0) out.push(outlierText(outliers))
  if (report.timeOrder.backwardJumps > 0) out.push(timeOrderText(report.timeOrder))
  if (lines.impossibleValues > 0) out.push(impossibleValuesText(lines.impossibleValues))
  if (lines.malformed > 0) {
    out.push('')
    out.push(
      `Malformed lines: ${Object.entries(lines.malformedByReason)
        .map(([r, n]) => `${int(n)} ${printable(r)}`)
        .join(', ')}`,
    )
    for (const sample of lines.malformedSamples.slice(0, 10))
      out.push(`  line ${sample.line}: ${printable(sample.reason)}: ${clip(sample.text, 80)}`)
  }

  const hot = report.hotSet
  out.push('')
  out.push(
    `Hot set: ${hot.signatureCount} of ${hot.totalSignatures} read signatures carry ${pct(hot.readShare)} of reads; ` +
      `${pct(hot.keyShareFor80)} of keys receive 80% of reads.`,
  )
  if (hot.topKeys.length > 0) {
    out.push(
      `Hottest keys: ${hot.topKeys
        .slice(0, 5)
        .map((k) => `${clip(k.key.split('\u0001').join(' | '), 40)} (${pct(k.share)})`)
        .join(', ')}`,
    )
  }

  out.push('')
  out.push('Data types')
  out.push(
    table(
      [
        'type',
        'reads',
        'writes',
        'read %',
        'keys',
        'entity changes every',
        'median re-read after',
        'value',
        'origin time',
      ],
      report.types.map((t) => [
        clip(t.type, 28),
        int(t.reads),
        int(t.writes),
        pct(t.readRatio),
        int(t.distinctKeys),
        t.entityChangeIntervalMs === null ? '—' : humanDuration(t.entityChangeIntervalMs),
        t.medianReadInterArrivalMs === null ? '—' : humanDuration(t.medianReadInterArrivalMs),
        bytes(t.meanValueBytes),
        t.originTimeMs === null ? '—' : humanDuration(t.originTimeMs),
      ]),
      new Set([1, 2, 3, 4, 5, 6, 7, 8]),
    ),
  )

  out.push('')
  out.push('Recommendations (read signatures, most read first; * = hot set)')
  const reads = report.signatures.filter((s) => s.recommendation !== null)
  out.push(
    table(
      ['', 'signature', 'reads', 'decision', 'TTL', 'pattern', 'invalidation', 'why'],
      reads.slice(0, 25).map((s) => {
        const r = s.recommendation as NonNullable<typeof s.recommendation>
        return [
          s.hot ? '*' : '',
          clip(s.signature, 48),
          pct(s.share),
          DECISION[r.decision] ?? r.decision,
          r.decision === 'dont-cache' ? '—' : r.ttl,
          r.pattern ?? '—',
          r.invalidation ?? '—',
          clip(r.reason, 90),
        ]
      }),
      new Set([2]),
    ),
  )
  if (reads.length > 25) out.push(`… and ${reads.length - 25} more (see --json or --html)`)

  const cache = report.cache
  out.push('')
  out.push('Cache size')
  if (cache.size === 0) out.push(`  ${printable(cache.reason)}`)
  else {
    const ladder = cache.policies[0]?.points ?? []
    out.push(
      `Hit ratio of the cached signatures' reads (${int(cache.reads)} reads: ${cache.types.map((t) => clip(t, 24)).join(', ')}) by cache size, capacity misses only` +
        (cache.rate < 1 ? ` — sampled at ${pct(cache.rate, 2)} of keys (SHARDS)` : ''),
    )
    const shown = ladder.filter(
      (_, i) => ladder.length <= 10 || i % Math.ceil(ladder.length / 10) === 0 || i === ladder.length - 1,
    )
    out.push(
      table(
        ['policy', ...shown.map((p) => int(p.size))],
        cache.policies.map((curve) => [
          curve.policy,
          ...shown.map((p) => pct(curve.points.find((q) => q.size === p.size)?.hitRatio ?? 0)),
        ]),
        new Set(shown.map((_, i) => i + 1)),
      ),
    )
    out.push('')
    out.push(
      `Recommended L1: maxEntries ${int(cache.size)}${cache.memoryBytes === null ? '' : ` (≈ ${bytes(cache.memoryBytes)})`}, policy ${cache.policy}` +
        ` — ${printable(cache.reason)}.`,
    )
    out.push(
      `Predicted hit ratio: ${pct(cache.predictedHitRatio)} ± ${points(cache.errorBand)} points of the cached signatures' reads ` +
        `(${pct(cache.overallHitRatio)} of all reads): the log replayed through the stratacache L1 with these TTLs, ` +
        'the invalidations its writes cause, this size and policy.',
    )
    out.push(
      `Capacity misses only: ${pct(cache.capacityHitRatio)}. With a Redis L2 behind the L1: ` +
        `${pct(cache.withL2HitRatio)} of those reads never reach the origin.`,
    )
  }
  out.push('')
  out.push(
    `Accuracy: distinct-key counts ±${pct(report.accuracy.distinctKeysRelativeError)} (HyperLogLog); miss-ratio curve ` +
      (report.accuracy.samplingRate >= 1
        ? 'exact.'
        : `sampled at ${pct(report.accuracy.samplingRate, 2)} of keys (SHARDS, typically < 1.5 points off).`) +
      (cache.size === 0
        ? ''
        : ` Prediction ± ${points(cache.errorBand)} points (${report.accuracy.samplingRate >= 1 && cache.rate >= 1 ? 'exact replay: jitter and timing only' : 'replay of a key sample: two standard errors plus jitter and timing'}).`),
  )
  return `${out.join('\n')}\n`
}
