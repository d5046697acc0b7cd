// `npm run bench:http` (= build, then `node bench/http.js`): requests/s of one product route three
// ways, in one run, with autocannon:
//   uncached          the route as is: every request renders the page
//   stratacache       the same route with stratacache/http/fastify (response cache in the L1)
//   @fastify/caching  the same route with @fastify/caching (Cache-Control, ETags, 304 from its ETag store)
// and two request kinds: plain GETs, and conditional GETs carrying the current ETag (a browser or
// CDN revalidating). Ratios are against the uncached route.
//
// Options: --duration=S (per measurement, default 3)  --rounds=N (default 3)  --connections=N (default 32)
//          --render-us=N (CPU time of one origin render, default 300)  --paths=N (distinct products, default 100)
//
// Method: the three routes live in one Fastify app in a child process (so autocannon, in this
// process, does not share its event loop); each measurement is preceded by a short warm-up; rounds
// rotate the order (A B C, B C A, C A B) so slow drift of a shared machine cancels out; req/s are
// medians over rounds, ratios are medians of the per-round ratios.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const [k, v = 'true'] = a.replace(/^--/, '').split('=')
    return [k, v]
  }),
)
const DURATION = Number(args.duration ?? 3)
const ROUNDS = Number(args.rounds ?? 3)
const CONNECTIONS = Number(args.connections ?? 32)
const RENDER_US = Number(args['render-us'] ?? 300)
const PATHS = Number(args.paths ?? 100)

/** The origin: a product page that costs RENDER_US of CPU (a template render, a query's decoding). */
function render(id) {
  const until = performance.now() + RENDER_US / 1000
  let spin = 0
  while (performance.now() < until) spin++
  const items = Array.from({ length: 20 }, (_, i) => `<li>related ${id}-${i}</li>`).join('')
  return `<!doctype html><h1>Product ${id}</h1><p>${spin > 0 ? 'in stock' : ''}</p><ul>${items}</ul>`
}

async function serve() {
  const { default: Fastify } = await import('fastify')
  const { default: caching } = await import('@fastify/caching')
  const { createCache } = await import('../dist/index.js')
  const { fastifyHttpCache } = await import('../dist/http/fastify.js')
  const app = Fastify({ logger: false })
  const page = (request, reply) => {
    reply.type('text/html; charset=utf-8')
    return render(request.params.id)
  }
  app.get('/uncached/:id', page)
  await app.register(async (scope) => {
    const cache = createCache({ namespace: 'bench-http', l1: { maxEntries: 10_000 } })
    await scope.register(fastifyHttpCache, { cache })
    scope.get('/strata/:id', { config: { httpCache: { maxAge: '60s', sMaxAge: '5m' } } }, page)
  })
  await app.register(async (scope) => {
    await scope.register(caching, { privacy: caching.privacy.PUBLIC, expiresIn: 60, serverExpiresIn: 300 })
    scope.get('/fastify-caching/:id', (request, reply) => {
      const body = page(request, reply)
      // @fastify/caching stores the ETag you give it and answers a matching If-None-Match with 304.
      reply.etag(`"${createHash('sha1').update(body).digest('base64url')}"`)
      return body
    })
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  process.stdout.write(`${JSON.stringify({ port: app.server.address().port })}\n`)
}

function startServer() {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    child.stdout.once('data', (data) => resolve({ child, port: JSON.parse(String(data)).port }))
  })
}

function run(url, requests, duration) {
  return new Promise((resolve, reject) => {
    autocannon({ url, connections: CONNECTIONS, duration, requests }, (error, result) =>
      error ? reject(error) : resolve(result),
    )
  })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function main() {
  const { child, port } = await startServer()
  const base = `http://127.0.0.1:${port}`
  try {
    const routes = [
      { name: 'uncached', prefix: '/uncached' },
      { name: 'stratacache', prefix: '/strata' },
      { name: '@fastify/caching', prefix: '/fastify-caching' },
    ]
    // The ETag each route gives each product (for the conditional requests).
    for (const route of routes) {
      route.etags = []
      for (let id = 0; id < PATHS; id++) {
        const response = await fetch(`${base}${route.prefix}/${id}`)
        await response.text()
        route.etags.push(response.headers.get('etag'))
      }
    }
    const kinds = [
      {
        name: 'GET',
        requests: (r) => Array.from({ length: PATHS }, (_, id) => ({ path: `${r.prefix}/${id}` })),
      },
      {
        name: 'GET If-None-Match',
        requests: (r) =>
          Array.from({ length: PATHS }, (_, id) => ({
            path: `${r.prefix}/${id}`,
            headers: r.etags[id] ? { 'if-none-match': r.etags[id] } : {},
          })),
      },
    ]
    console.log(
      `HTTP bench: ${CONNECTIONS} connections, ${DURATION} s per measurement, ${ROUNDS} rounds, ` +
        `${PATHS} products, origin render ${RENDER_US} us (Fastify ${(await import('fastify/package.json', { with: { type: 'json' } })).default.version}, Node ${process.version})`,
    )
    const summary = []
    for (const kind of kinds) {
      const rps = new Map(routes.map((r) => [r.name, []]))
      const statuses = new Map(routes.map((r) => [r.name, new Set()]))
      for (let round = 0; round < ROUNDS; round++) {
        const order = routes.map((_, i) => routes[(i + round) % routes.length])
        for (const route of order) {
          const requests = kind.requests(route)
          await run(base, requests, 1) // warm-up
          const result = await run(base, requests, DURATION)
          if (result.errors > 0 || (result.non2xx > 0 && kind.name === 'GET')) {
            throw new Error(`${route.name}: ${result.errors} errors, ${result.non2xx} non-2xx responses`)
          }
          rps.get(route.name).push(result.requests.average)
          for (const code of Object.keys(result.statusCodeStats ?? {})) statuses.get(route.name).add(code)
        }
      }
      const baseline = rps.get('uncached')
      console.log(`\n${kind.name}`)
      console.log(`${'route'.padEnd(18)} ${'req/s'.padStart(9)}  ${'vs uncached'.padStart(11)}  statuses`)
      for (const route of routes) {
        const own = rps.get(route.name)
        const ratio = median(own.map((v, i) => v / baseline[i]))
        const line = {
          kind: kind.name,
          route: route.name,
          rps: Math.round(median(own)),
          ratio: Number(ratio.toFixed(2)),
        }
        summary.push(line)
        console.log(
          `${route.name.padEnd(18)} ${line.rps.toLocaleString('en-US').padStart(9)}  ${`${ratio.toFixed(2)}x`.padStart(11)}  ${[...statuses.get(route.name)].join(',')}`,
        )
      }
      const strata = median(rps.get('stratacache').map((v, i) => v / rps.get('@fastify/caching')[i]))
      console.log(`stratacache vs @fastify/caching: ${strata.toFixed(2)}x`)
    }
    if (args.json === 'true') console.log(JSON.stringify(summary))
  } finally {
    child.kill()
  }
}

if (args.serve === 'true') await serve()
else await main()
