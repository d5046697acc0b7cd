/**
 * The dashboard in a real browser: headless Debian chromium (never downloaded) opens the page
 * while a workload runs, waits for live data through the page's own state, checks every chart has
 * data, sets off the low-hit-ratio alert and sees it on the page, and saves a screenshot under
 * test-output/.
 */
import { mkdirSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Cache, createCache, MemoryRemoteTier } from '../../dist/index.js'
import { createDashboardHandler, type DashboardHandler } from '../../dist/observability/dashboard/index.js'
import { launchChromium } from '../helpers/chromium.js'

/** Generous: two shared cores, other suites running. */
const WAIT_MS = 20_000

interface PageState {
  ready: boolean
  updates: number
  points: unknown[]
  alerts: string[]
  error: string | null
  series: Record<string, Record<string, number>>
}

/** The page's own state ((globalThis as unknown as PageGlobal).__stratacache); the tests type-check without the DOM lib. */
type PageGlobal = { __stratacache?: PageState }

let browser: Browser
let server: Server
let handler: DashboardHandler
let products: Cache
let base: string
let mode: 'hot' | 'scan' = 'hot'
let running = true
let workload: Promise<void>

beforeAll(async () => {
  products = createCache({
    namespace: 'products',
    l1: { maxEntries: 200 },
    l2: { tier: new MemoryRemoteTier() },
    // p99Above 1 s: latency is not this test's subject (a 1 ms factory can take 5 ms on busy cores)
    observability: { window: '2s', alerts: { hitRatioBelow: 0.5, minReads: 20, p99Above: 1 } },
  })
  handler = createDashboardHandler({
    caches: [products],
    intervalMs: 250,
    title: 'stratacache · browser test',
  })
  server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`
  // Hot: 50 keys read over and over (hit ratio near 1). Scan: every key new (hit ratio 0, evictions).
  workload = (async () => {
    let i = 0
    while (running) {
      i++
      const key = mode === 'hot' ? `product:${i % 50}` : `product:${1000 + i}`
      await products.getOrSet({
        key,
        factory: () => new Promise((resolve) => setTimeout(() => resolve({ id: i }), 1)),
      })
      if (i % 20 === 0) await new Promise((resolve) => setTimeout(resolve, 2))
    }
  })()
  browser = await launchChromium()
})

afterAll(async () => {
  running = false
  await workload
  await browser?.close()
  handler?.close()
  await new Promise((resolve) => server?.close(resolve))
  await products?.close()
})

describe('the dashboard page in headless chromium', () => {
  it('shows live, non-empty series on every chart, then the low-hit-ratio alert when a scan starts', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } })
    const problems: string[] = []
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`)
    })
    // Nothing may be fetched from anywhere but the dashboard itself.
    const foreign: string[] = []
    page.on('request', (request) => {
      if (!request.url().startsWith(base)) foreign.push(request.url())
    })

    await page.goto(base)
    await page.waitForFunction(
      () => {
        const s = (globalThis as unknown as PageGlobal).__stratacache
        return (
          s?.ready === true &&
          (s.series.hit?.['hit ratio'] ?? 0) >= 3 &&
          (s.series.ops?.l1 ?? 0) >= 3 &&
          (s.series.latency?.p99 ?? 0) >= 3 &&
          (s.series.memory?.L1 ?? 0) >= 3 &&
          (s.series.evictions?.['evictions/s'] ?? 0) >= 3 &&
          (s.series.breaker?.breaker ?? 0) >= 3
        )
      },
      undefined,
      { timeout: WAIT_MS },
    )
    // The charts drew their series (uPlot paints a canvas per chart and a legend row per series).
    expect(await page.locator('canvas').count()).toBe(6)
    expect(await page.locator('#chart-ops .u-legend .u-series').count()).toBe(6)
    expect(await page.locator('#hot td').first().textContent()).toBe('product:{n}')
    expect(await page.locator('#alerts').textContent()).toContain('No alert is firing.')

    mode = 'scan'
    await page.waitForFunction(
      () =>
        (globalThis as unknown as PageGlobal).__stratacache?.alerts.includes('products:low-hit-ratio') ===
        true,
      undefined,
      { timeout: WAIT_MS },
    )
    await expect
      .poll(() => page.locator('#alerts td').first().textContent(), { timeout: WAIT_MS })
      .toBe('low-hit-ratio')
    expect(await page.locator('#status').textContent()).toBe('degraded')
    const state = await page.evaluate(() => (globalThis as unknown as PageGlobal).__stratacache!)
    expect(state.error).toBeNull()
    expect(state.updates).toBeGreaterThan(3)

    mkdirSync('test-output', { recursive: true })
    await page.screenshot({ path: 'test-output/dashboard.png', fullPage: true })
    expect(problems).toEqual([])
    expect(foreign).toEqual([])
    await page.close()
  })
})
