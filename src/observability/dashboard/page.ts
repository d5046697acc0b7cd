/**
 * The dashboard page: one HTML document with uPlot and a small vanilla script inlined, so it
 * loads nothing from anywhere but the handler's own `api/snapshots`. Everything that comes from
 * the caches (names, key groups, alert messages) is written with `textContent`, never as HTML.
 */
import { createHash } from 'node:crypto'
import { UPLOT_CSS, UPLOT_JS } from './uplot.generated.js'

const STYLE = `
:root { --bg: #f6f7f9; --card: #fff; --ink: #1f2933; --muted: #65717e; --line: #e3e7ec;
  --ok: #2a9d8f; --warn: #e9a23b; --bad: #d1495b; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; align-items: center; gap: 16px; padding: 12px 20px; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header .meta { color: var(--muted); }
.badge { padding: 2px 10px; border-radius: 999px; color: #fff; font-weight: 600; text-transform: uppercase; font-size: 12px; }
.badge.healthy { background: var(--ok); } .badge.degraded { background: var(--warn); } .badge.unhealthy { background: var(--bad); } .badge.unknown { background: var(--muted); }
select { font: inherit; padding: 2px 6px; }
main { padding: 16px 20px; display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; min-width: 0; }
.card h2 { font-size: 14px; margin: 0 0 8px; color: var(--muted); font-weight: 600; }
.card.wide { grid-column: 1 / -1; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.critical td:first-child { border-left: 3px solid var(--bad); } tr.warning td:first-child { border-left: 3px solid var(--warn); }
.empty { color: var(--muted); font-style: italic; }
.error { color: var(--bad); }
`

const SCRIPT = `
(() => {
  'use strict'
  const RESULTS = ['l1', 'l2', 'origin', 'stale', 'miss']
  const base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/'
  const state = { ready: false, updates: 0, points: [], snapshots: [], group: '*', lastT: 0,
    intervalMs: 1000, historySeconds: 300, error: null, alerts: [], series: {} }
  window.__stratacache = state
  const $ = (id) => document.getElementById(id)
  function bytes(n) {
    if (n == null) return '--'
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
    let i = 0
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++ }
    return (i === 0 ? n.toFixed(0) : n.toFixed(1)) + ' ' + units[i]
  }
  const DEFS = [
    { id: 'hit', title: 'Hit ratio (%)', range: [0, 100], series: [
      ['hit ratio', '#2a9d8f', (p) => (p.hitRatio == null ? null : p.hitRatio * 100)]] },
    { id: 'ops', title: 'Reads per second, by the tier that answered', series: [
      ['l1', '#2a9d8f', (p) => p.ops.l1], ['l2', '#457b9d', (p) => p.ops.l2], ['origin', '#e9a23b', (p) => p.ops.origin],
      ['stale', '#9b5de5', (p) => p.ops.stale], ['miss', '#d1495b', (p) => p.ops.miss]] },
    { id: 'latency', title: 'Read latency (ms)', series: [
      ['p50', '#2a9d8f', (p) => p.p50], ['p95', '#e9a23b', (p) => p.p95], ['p99', '#d1495b', (p) => p.p99]] },
    { id: 'memory', title: 'Memory', unit: bytes, series: [
      ['L1', '#2a9d8f', (p) => p.l1Bytes], ['Redis used', '#457b9d', (p) => p.redisUsedBytes],
      ['Redis maxmemory', '#d1495b', (p) => (p.redisMaxBytes ? p.redisMaxBytes : null)]] },
    { id: 'evictions', title: 'Evictions per second (L1 + Redis)', series: [
      ['evictions/s', '#d1495b', (p) => p.evictionsPerSecond]] },
    { id: 'breaker', title: 'L2 circuit breaker (0 closed, 1 half-open, 2 open)', range: [0, 2], series: [
      ['breaker', '#6c757d', (p) => p.breaker]] },
  ]
  const charts = {}

  function el(tag, text, cls) {
    const node = document.createElement(tag)
    if (text != null) node.textContent = String(text)
    if (cls) node.className = cls
    return node
  }

  function fmt(n, digits) {
    if (n == null || Number.isNaN(n)) return '–'
    return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits ?? 2 })
  }

  function makeCharts() {
    const grid = $('charts')
    for (const def of DEFS) {
      const card = el('section', null, 'card')
      card.id = 'chart-' + def.id
      card.append(el('h2', def.title))
      const holder = el('div')
      card.append(holder)
      grid.append(card)
      const width = Math.max(300, holder.clientWidth || 440)
      const opts = {
        width, height: 200,
        scales: { x: { time: true }, y: def.range ? { range: def.range } : { auto: true } },
        series: [{}].concat(def.series.map(([label, stroke]) => ({ label, stroke, width: 2, spanGaps: false,
          ...(def.unit ? { value: (u, v) => def.unit(v) } : {}) }))),
        axes: [{}, { size: 70, ...(def.unit ? { values: (u, splits) => splits.map(def.unit) } : {}) }],
        legend: { live: true },
      }
      charts[def.id] = { def, plot: new uPlot(opts, [[]].concat(def.series.map(() => [])), holder) }
    }
    window.addEventListener('resize', () => {
      for (const { plot } of Object.values(charts)) {
        const w = plot.root.parentElement.clientWidth
        if (w > 0) plot.setSize({ width: w, height: 200 })
      }
    })
  }

  function renderCharts() {
    const xs = state.points.map((p) => p.t / 1000)
    for (const [id, { def, plot }] of Object.entries(charts)) {
      const ys = def.series.map(([, , pick]) =>
        state.points.map((p) => { const g = p.groups[state.group]; return g ? pick(g) : null }))
      state.series[id] = Object.fromEntries(def.series.map(([label], i) => [label, ys[i].filter((v) => v != null).length]))
      plot.setData([xs].concat(ys))
    }
  }

  function renderGroups() {
    const select = $('group')
    const names = new Set(['*'])
    for (const p of state.points) for (const name of Object.keys(p.groups)) names.add(name)
    if (select.options.length === names.size) return
    const current = state.group
    select.replaceChildren()
    for (const name of names) {
      const option = el('option', name === '*' ? 'all caches' : name)
      option.value = name
      if (name === current) option.selected = true
      select.append(option)
    }
  }

  function inGroup(s) { return state.group === '*' || s.cache === state.group }

  /** Instance ids are UUIDs: the first 8 characters tell them apart on one page. */
  const shortId = (id) => String(id).slice(0, 8)

  function table(target, headers, rows, empty) {
    const node = $(target)
    if (rows.length === 0) { node.replaceChildren(el('p', empty, 'empty')); return }
    const t = el('table')
    const head = el('tr')
    for (const h of headers) head.append(el('th', h))
    t.append(head)
    for (const row of rows) {
      const tr = el('tr', null, row.cls)
      for (const cell of row.cells) tr.append(el('td', cell.text, cell.num ? 'num' : null))
      t.append(tr)
    }
    node.replaceChildren(t)
  }

  function renderTables() {
    const snaps = state.snapshots.filter(inGroup)
    const alerts = []
    for (const s of snaps) for (const a of s.health.alerts) alerts.push({ cache: s.cache, instance: s.instance, alert: a })
    state.alerts = alerts.map((a) => a.cache + ':' + a.alert.name)
    table('alerts', ['alert', 'cache', 'instance', 'value', 'threshold', 'since', 'what to do'], alerts.map(({ cache, instance, alert }) => ({
      cls: alert.severity,
      cells: [{ text: alert.name }, { text: cache }, { text: shortId(instance) }, { text: fmt(alert.value, 4), num: true },
        { text: fmt(alert.threshold, 4), num: true }, { text: new Date(alert.since).toLocaleTimeString() }, { text: alert.message }],
    })), 'No alert is firing.')

    const groups = new Map()
    let total = 0
    for (const s of snaps) for (const g of s.hotKeyGroups) { groups.set(g.group, (groups.get(g.group) || 0) + g.count); total += g.count }
    const hot = [...groups].sort((a, b) => b[1] - a[1]).slice(0, 20)
    table('hot', ['key group', 'reads (recent)', 'share'], hot.map(([group, count]) => ({
      cells: [{ text: group }, { text: fmt(count, 0), num: true }, { text: fmt((100 * count) / (total || 1), 1) + ' %', num: true }],
    })), 'No reads sampled yet.')

    table('instances', ['cache', 'instance', 'status', 'hit ratio (window)', 'ops/s (window)', 'p99 (ms)', 'L1 entries', 'breaker', 'warnings'],
      snaps.map((s) => ({ cells: [{ text: s.cache }, { text: shortId(s.instance) }, { text: s.health.status },
        { text: fmt(s.health.window.hitRatio * 100, 1) + ' %', num: true }, { text: fmt(s.health.window.opsPerSecond, 1), num: true },
        { text: fmt(s.health.window.p99 * 1000, 3), num: true }, { text: fmt(s.stats.l1Entries, 0), num: true },
        { text: s.health.l2 ? s.health.l2.breaker : '–' }, { text: s.health.warnings.join(' ') }] })),
      'No cache is reporting yet.')

    const order = { healthy: 0, degraded: 1, unhealthy: 2 }
    let worst = null
    for (const s of snaps) if (worst === null || order[s.health.status] > order[worst]) worst = s.health.status
    const badge = $('status')
    badge.textContent = worst ?? 'unknown'
    badge.className = 'badge ' + (worst ?? 'unknown')
  }

  async function poll() {
    try {
      const response = await fetch(base + 'api/snapshots?since=' + state.lastT, { cache: 'no-store' })
      if (!response.ok) throw new Error('HTTP ' + response.status)
      const body = await response.json()
      state.intervalMs = body.intervalMs
      state.historySeconds = body.historySeconds
      for (const p of body.history) if (p.t > state.lastT) state.points.push(p)
      if (state.points.length > 0) state.lastT = state.points[state.points.length - 1].t
      const oldest = body.now - body.historySeconds * 1000
      while (state.points.length > 0 && state.points[0].t < oldest) state.points.shift()
      state.snapshots = body.snapshots
      $('meta').textContent = body.mode === 'published'
        ? body.snapshots.length + ' instance(s) publishing · updated ' + new Date(body.now).toLocaleTimeString()
        : 'this process · updated ' + new Date(body.now).toLocaleTimeString()
      $('error').textContent = ''
      state.error = null
      renderGroups()
      renderCharts()
      renderTables()
      state.updates++
      state.ready = true
    } catch (error) {
      state.error = String(error)
      $('error').textContent = 'Cannot reach the dashboard server: ' + state.error
    } finally {
      setTimeout(poll, state.intervalMs)
    }
  }

  $('group').addEventListener('change', (event) => {
    state.group = event.target.value
    renderCharts()
    renderTables()
  })
  makeCharts()
  poll()
})()
`

function hash(source: string): string {
  return `'sha256-${createHash('sha256').update(source).digest('base64')}'`
}

export interface Page {
  readonly html: string
  /** A Content-Security-Policy that allows exactly the two inlined scripts, inline styles, and requests to the page's own origin. */
  readonly csp: string
}

/** Builds the page once; `title` is escaped. */
export function buildPage(title: string): Page {
  const escaped = title.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
  // uPlot and our script contain no "</script" (checked by the tests), but never let one through.
  const safe = (js: string) => js.replace(/<\/(script)/gi, '<\\/$1')
  const uplot = safe(UPLOT_JS)
  const script = safe(SCRIPT)
  const css = `${UPLOT_CSS}\n${STYLE}`
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escaped}</title>
<link rel="icon" href="data:,">
<style>${css}</style>
</head>
<body>
<header>
  <h1>${escaped}</h1>
  <span id="status" class="badge unknown">unknown</span>
  <label>cache <select id="group"><option value="*">all caches</option></select></label>
  <span id="meta" class="meta">loading…</span>
  <span id="error" class="error"></span>
</header>
<main id="charts">
  <section class="card wide"><h2>Alerts</h2><div id="alerts"><p class="empty">Loading…</p></div></section>
</main>
<main>
  <section class="card"><h2>Hottest key groups</h2><div id="hot"><p class="empty">Loading…</p></div></section>
  <section class="card"><h2>Instances</h2><div id="instances"><p class="empty">Loading…</p></div></section>
</main>
<script>${uplot}</script>
<script>${script}</script>
</body>
</html>
`
  const csp = [
    "default-src 'none'",
    `script-src ${hash(uplot)} ${hash(script)}`,
    // uPlot styles its elements inline; a hash here would switch 'unsafe-inline' off.
    "style-src 'unsafe-inline'",
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
  return { html, csp }
}
