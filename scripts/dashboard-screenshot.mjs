// Takes docs/images/dashboard.png: the demo workload for ~50 s (warm-up, steady state, then a
// scan that sets off the low-hit-ratio alert), seen by headless chromium. Needs `npm run build`.
// Run: node scripts/dashboard-screenshot.mjs [output.png]
import { createServer } from 'node:http'
import { chromium } from 'playwright-core'
import { startDemo } from '../dist/observability/dashboard/demo.js'
import { createDashboardHandler } from '../dist/observability/dashboard/index.js'

const output = process.argv[2] ?? new URL('../docs/images/dashboard.png', import.meta.url).pathname
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const demo = startDemo({ scanEveryMs: 0, scanForMs: 12_000 })
const handler = createDashboardHandler({ caches: demo.caches, title: 'stratacache · demo' })
const server = createServer(handler)
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const url = `http://127.0.0.1:${server.address().port}/`
await sleep(34_000)
demo.scan()
await sleep(14_000)
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-quic',
    '--no-first-run',
    '--disable-component-update',
    '--disable-sync',
  ],
})
const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
await page.goto(url)
await page.waitForFunction(() => globalThis.__stratacache?.updates >= 2)
await page.screenshot({ path: output, fullPage: true })
await browser.close()
handler.close()
server.close()
await demo.stop()
console.log(`wrote ${output}`)
