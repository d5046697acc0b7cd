// Measures bytes allocated per call on the L1 hit path. Run with --expose-gc --trace-gc and a
// young generation large enough that no scavenge happens during a measurement: heapUsed after −
// before is then the bytes allocated. Each measurement is printed between `measure:` lines, so
// the test can see (from --trace-gc's lines) whether a collection happened inside one.
import { tracingChannel } from 'node:diagnostics_channel'
import { createCache } from '../../../dist/index.js'

const N = 20_000

async function measure(name, run) {
  for (let i = 0; i < 10_000; i++) await run() // warm up: V8 allocates feedback while it optimises
  // The least of three: what is left of JIT noise only ever adds.
  let least = Number.POSITIVE_INFINITY
  for (let round = 0; round < 3; round++) {
    globalThis.gc()
    process.stdout.write(`measure-start ${name}\n`)
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < N; i++) await run()
    const after = process.memoryUsage().heapUsed
    process.stdout.write(`measure-end ${name}#${round}\n`)
    least = Math.min(least, (after - before) / N)
  }
  process.stdout.write(`result ${name} ${least}\n`)
}

const map = new Map([['k', { v: 1 }]])
const options = { key: 'k', factory: () => ({ v: 1 }) }
// What any async read costs: the promise of an async function.
const baseline = async (o) => map.get(o.key)
await measure('baseline', () => baseline(options))

for (const [name, observability] of [
  ['off', false],
  ['on', {}],
]) {
  const cache = createCache({ l1: { maxEntries: 100 }, observability })
  await cache.getOrSet(options)
  await measure(`getOrSet-${name}`, () => cache.getOrSet(options))
  await measure(`get-${name}`, () => cache.get('k'))
  await measure(`peek-${name}`, () => cache.peek('k'))
  await cache.close()
}

// A subscriber to the tracing channel makes every call allocate its context: the measurement must see it.
const handlers = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }
tracingChannel('stratacache:operation').subscribe(handlers)
const traced = createCache({ l1: { maxEntries: 100 } })
await traced.getOrSet(options)
await measure('getOrSet-traced', () => traced.getOrSet(options))
tracingChannel('stratacache:operation').unsubscribe(handlers)
await traced.close()
