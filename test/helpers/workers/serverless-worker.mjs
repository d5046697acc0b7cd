/**
 * A serverless runtime in one child process, for test/integration/wait-until.test.ts: it runs one
 * request's handler, writes the response (synchronously, to stdout), and then ends the work at
 * once — `process.exit` in the same tick, as a frozen Lambda or an ended Worker — unless the
 * handler handed it promises through `waitUntil`, which it awaits first (and those handed while
 * it waits), as Vercel's `waitUntil` and Cloudflare's `ctx.waitUntil` do.
 *
 * argv[2]: JSON `{ url, namespace, key, waitUntil: boolean, factory: 'fresh' | 'fails' }`.
 * stdout, one JSON line each: `{ answered, handed }` when the response is sent, then (with
 * handed promises) `{ settled: ['fulfilled' | 'rejected', …], faults }` before exiting.
 */
import { writeSync } from 'node:fs'
import { createCache } from '../../../dist/index.js'

const config = JSON.parse(process.argv[2])
const faults = []
process.on('unhandledRejection', (reason) => faults.push(String(reason)))

const handed = []
const cache = createCache({
  namespace: config.namespace,
  l2: { redis: config.url },
  ttl: '1m',
  grace: '1h',
  jitter: 0,
  ...(config.waitUntil ? { waitUntil: (promise) => handed.push(promise) } : {}),
})
await cache.ready()

// The request's handler.
const answered = await cache.getOrSet({
  key: config.key,
  factory: () => (config.factory === 'fails' ? Promise.reject(new Error('origin down')) : 'fresh'),
})

// The response is sent…
writeSync(1, `${JSON.stringify({ answered, handed: handed.length })}\n`)
// …and the runtime stops the work, unless it was handed some.
if (handed.length === 0) process.exit(0)
const settled = []
for (let done = 0; done < handed.length; ) {
  const batch = handed.slice(done)
  done = handed.length
  for (const result of await Promise.allSettled(batch)) settled.push(result.status)
}
writeSync(1, `${JSON.stringify({ settled, faults })}\n`)
process.exit(0)
