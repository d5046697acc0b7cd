import { UPLOT_CSS, UPLOT_JS } from '../../observability/dashboard/uplot.generated.js'
import type { AnalysisReport } from '../report-model.js'
import { humanDuration } from '../ttl.js'
import { bytes, impossibleValuesText, int, outlierText, pct, points, timeOrderText } from './format.js'

const escapeHtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  )

/** JSON safe inside a <script> element. */
const scriptJson = (value: unknown): string =>
  JSON.stringify(value, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')

/**
 * A self-contained HTML page: the report's tables and three charts drawn by uPlot (inlined) —
 * the popularity curve, hit ratio vs cache size for every policy, and TTL vs change interval.
 */
export function formatHtml(report: AnalysisReport): string {
  // uPlot inlined (the copy the dashboard vendors, not a dependency), so that the report opens offline.
  const js = UPLOT_JS
  const css = UPLOT_CSS
  const cache = report.cache
  const chartData = {
    popularity: report.hotSet.popularity,
    policies: cache.policies,
    lru: { sizes: cache.lru.sizes, hitRatios: cache.lru.hitRatios },
    recommended: { size: cache.size, policy: cache.policy },
    ttl: report.signatures
      .filter((s) => s.recommendation !== null && s.recommendation.decision !== 'dont-cache')
      .map((s) => {
        const type = report.types.find((t) => t.type === s.type)
        const change = s.shape === 'list' ? type?.typeChangeIntervalMs : type?.entityChangeIntervalMs
        return {
          name: s.recommendation?.name ?? '',
          change: change ?? null,
          ttl: s.recommendation?.ttlMs ?? 0,
        }
      })
      .filter((p) => p.change !== null && Number.isFinite(p.change)),
  }
  const typeRows = report.types
    .map(
      (t) =>
        `<tr><td>${escapeHtml(t.type)}</td><td>${int(t.reads)}</td><td>${int(t.writes)}</td><td>${pct(t.readRatio)}</td>` +
        `<td>${int(t.distinctKeys)}</td><td>${t.entityChangeIntervalMs === null ? '—' : humanDuration(t.entityChangeIntervalMs)}</td>` +
        `<td>${t.medianReadInterArrivalMs === null ? '—' : humanDuration(t.medianReadInterArrivalMs)}</td><td>${bytes(t.meanValueBytes)}</td>` +
        `<td>${pct(t.mrc.maxHitRatio)}</td></tr>`,
    )
    .join('\n')
  const recRows = report.signatures
    .filter((s) => s.recommendation !== null)
    .slice(0, 200)
    .map((s) => {
      const r = s.recommendation as NonNullable<typeof s.recommendation>
      return (
        `<tr class="${r.decision}"><td>${s.hot ? '★' : ''}</td><td><code>${escapeHtml(s.signature)}</code></td><td>${pct(s.share)}</td>` +
        `<td>${r.decision}</td><td>${r.decision === 'dont-cache' ? '—' : r.ttl}</td><td>${r.pattern ?? '—'}</td><td>${r.invalidation ?? '—'}</td>` +
        `<td>${escapeHtml(r.reason)}</td></tr>`
      )
    })
    .join('\n')
  const malformed = report.lines.malformedSamples
    .map(
      (m) =>
        `<tr><td>${m.line}</td><td>${escapeHtml(m.reason)}</td><td><code>${escapeHtml(m.text)}</code></td></tr>`,
    )
    .join('\n')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>stratacache analyze — ${escapeHtml(report.source.file)}</title>
<style>${css}
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td:nth-child(n+2){font-variant-numeric:tabular-nums}tr.dont-cache{color:#888}code{font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:1.5em}.chart{border:1px solid #eee;padding:.5em}
.summary{background:#f6f8fa;padding:.8em 1em;border-radius:6px}
</style></head><body>
<h1>stratacache analyze</h1>
<p class="summary"><b>${escapeHtml(report.source.file)}</b> (${report.source.format}, ${bytes(report.source.bytes)}):
${int(report.lines.total)} lines, ${int(report.lines.reads)} reads, ${int(report.lines.writes)} writes, ${int(report.lines.malformed)} malformed
${report.timed ? `over ${humanDuration(report.spanMs)}` : '(no timestamps)'}.<br>
${report.timeOutliers.count > 0 ? `<span id="time-outliers">${escapeHtml(outlierText(report.timeOutliers))}</span><br>` : ''}
${report.timeOrder.backwardJumps > 0 ? `<span id="time-order">${escapeHtml(timeOrderText(report.timeOrder))}</span><br>` : ''}
${report.lines.impossibleValues > 0 ? `<span id="impossible-values">${escapeHtml(impossibleValuesText(report.lines.impossibleValues))}</span><br>` : ''}
Hot set: ${report.hotSet.signatureCount} of ${report.hotSet.totalSignatures} read signatures carry ${pct(report.hotSet.readShare)} of reads;
${pct(report.hotSet.keyShareFor80)} of keys receive 80% of reads.<br>
Recommended L1: <b>maxEntries ${int(cache.size)}</b>${cache.memoryBytes === null ? '' : ` (≈ ${bytes(cache.memoryBytes)})`}, policy <b>${cache.policy}</b>:
predicted hit ratio <b id="predicted">${pct(cache.predictedHitRatio)}</b> <span id="error-band">± ${points(cache.errorBand)} points</span> (TTLs, invalidations, size and policy replayed through the stratacache L1; capacity misses only <b id="capacity">${pct(cache.capacityHitRatio)}</b>; with a Redis L2 <b id="with-l2">${pct(cache.withL2HitRatio)}</b>).</p>
<div class="charts">
<div class="chart" id="chart-popularity"><h3>Popularity: share of reads by share of keys</h3></div>
<div class="chart" id="chart-mrc"><h3>Hit ratio vs cache size (entries)</h3></div>
<div class="chart" id="chart-ttl"><h3>TTL vs change interval</h3></div>
</div>
<h2>Data types</h2>
<table><tr><th>type</th><th>reads</th><th>writes</th><th>read %</th><th>keys</th><th>entity changes every</th><th>median re-read after</th><th>value</th><th>max hit ratio</th></tr>
${typeRows}</table>
<h2>Recommendations</h2>
<table><tr><th></th><th>signature</th><th>reads</th><th>decision</th><th>TTL</th><th>pattern</th><th>invalidation</th><th>why</th></tr>
${recRows}</table>
${malformed === '' ? '' : `<h2>Malformed lines (${int(report.lines.malformed)})</h2><table><tr><th>line</th><th>reason</th><th>text</th></tr>${malformed}</table>`}
<script>${js}</script>
<script>
const data = ${scriptJson(chartData)};
const W = 370, H = 260;
const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
const pctAxis = { values: (u, v) => v.map((x) => (x * 100).toFixed(0) + '%') };
function draw(id, opts, d) { window.__charts = (window.__charts || 0) + 1; new uPlot(Object.assign({ width: W, height: H }, opts), d, document.getElementById(id)); }
draw('chart-popularity', {
  scales: { x: { time: false }, y: { range: [0, 1] } },
  axes: [pctAxis, pctAxis],
  series: [{ label: 'keys' }, { label: 'reads', stroke: colors[0], width: 2 }],
}, [data.popularity.map((p) => p.keyShare), data.popularity.map((p) => p.readShare)]);
const sizes = data.policies.length ? data.policies[0].points.map((p) => p.size) : data.lru.sizes;
const lruAt = (s) => { let r = 0; data.lru.sizes.forEach((z, i) => { if (z <= s) r = data.lru.hitRatios[i]; }); return r; };
draw('chart-mrc', {
  scales: { x: { time: false, distr: 3 }, y: { range: [0, 1] } },
  axes: [{}, pctAxis],
  series: [{ label: 'entries' }].concat(data.policies.map((c, i) => ({ label: c.policy, stroke: colors[i], width: 2 })),
    [{ label: 'LRU, all reads (stack distances)', stroke: '#999', dash: [4, 4] }]),
}, [sizes].concat(data.policies.map((c) => c.points.map((p) => p.hitRatio)), [sizes.map(lruAt)]));
// Log axes: label the powers of ten only (1 s, 10 s, 1.7 min, 17 min, 2.8 h…), the rest stay ticks.
function fmt(ms) { const s = ms / 1000; return s < 60 ? s.toFixed(s < 10 ? 1 : 0) + ' s' : s < 3600 ? (s / 60).toFixed(s < 600 ? 1 : 0) + ' min' : s < 172800 ? (s / 3600).toFixed(1) + ' h' : (s / 86400).toFixed(1) + ' d'; }
function durationTicks(u, v) { return v.map((x) => Math.abs(Math.log10(x) - Math.round(Math.log10(x))) < 1e-6 ? fmt(x) : ''); }
const ttl = data.ttl.slice().sort((a, b) => a.change - b.change);
draw('chart-ttl', {
  scales: { x: { time: false, distr: 3 }, y: { distr: 3 } },
  axes: [{ values: durationTicks }, { values: durationTicks }],
  series: [{ label: 'change interval' }, { label: 'TTL', stroke: colors[2], width: 0, paths: () => null, points: { show: true, size: 8, fill: colors[2] } }],
}, [ttl.map((p) => p.change), ttl.map((p) => p.ttl)]);
</script>
</body></html>
`
}
