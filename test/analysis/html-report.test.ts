import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { SHOP_WORKLOAD, writeWorkloadLog } from '../../dist/analysis/generate/index.js'
import { formatHtml } from '../../dist/analysis/report/html.js'
import { launchChromium } from '../helpers/chromium.js'
import { tempDir } from './helpers.js'

const OUT = new URL('../../test-output/analyze/', import.meta.url)
let tmp: Awaited<ReturnType<typeof tempDir>>
let htmlPath: string

beforeAll(async () => {
  tmp = await tempDir()
  await writeWorkloadLog(
    tmp.path('access.log'),
    { types: SHOP_WORKLOAD, readsPerSecond: 100, events: 20_000, seed: 4 },
    'combined',
  )
  const report = await analyzeFile(tmp.path('access.log'))
  await mkdir(OUT, { recursive: true })
  htmlPath = new URL('report.html', OUT).pathname
  await writeFile(htmlPath, formatHtml(report))
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('HTML report', () => {
  it('states the predicted hit ratio with its error band', async () => {
    const html = await readFile(htmlPath, 'utf8')
    expect(html).toMatch(/<b id="predicted">\d+\.\d%<\/b> <span id="error-band">± \d+\.\d points<\/span>/)
  })

  it('renders its three charts in headless chromium, offline, and is saved as a screenshot', async () => {
    const browser = await launchChromium()
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
      const requests: string[] = []
      page.on('request', (request) => {
        if (!request.url().startsWith('file:')) requests.push(request.url())
      })
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(error.message))
      await page.goto(`file://${htmlPath}`)
      // Page code as strings: the test project has no DOM types.
      await page.waitForFunction('window.__charts === 3', undefined, { timeout: 20_000 })
      expect(errors).toEqual([])
      expect(requests).toEqual([]) // nothing loaded from the network
      // Every chart has a canvas with drawn (non-blank) pixels and a legend per series.
      const charts = (await page.evaluate(`['chart-popularity', 'chart-mrc', 'chart-ttl'].map((id) => {
        const canvas = document.querySelector('#' + id + ' canvas')
        if (canvas === null) return { id, drawn: 0, legend: 0 }
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data
        let drawn = 0
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) drawn++
        return { id, drawn, legend: document.querySelectorAll('#' + id + ' .u-legend .u-series').length }
      })`)) as { id: string; drawn: number; legend: number }[]
      for (const chart of charts) expect(chart.drawn, chart.id).toBeGreaterThan(500)
      expect(charts.find((c) => c.id === 'chart-mrc')?.legend).toBe(6) // x + 4 policies + LRU curve
      expect(await page.textContent('#predicted')).toMatch(/^\d+\.\d%$/)
      expect(await page.textContent('#error-band')).toMatch(/^± \d+\.\d points$/)
      await page.screenshot({ path: new URL('report.png', OUT).pathname, fullPage: true })
    } finally {
      await browser.close()
    }
  }, 60_000)
})
