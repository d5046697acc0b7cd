// `npm run bench:propagation`: how long an invalidation made in one process takes to reach
// another's L1, on loopback, on a private redis-server. A (this process) deletes a key or
// invalidates a tag; B (a child process, the same script with --child) stamps the moment its
// cache emits the 'invalidate' event (origin 'remote': the change is applied, its L1 copy gone)
// and sends the stamp back. Both stamp with performance.timeOrigin + performance.now() (epoch ms,
// sub-ms, one machine), so the delay is B's stamp − A's stamp just before the call: the call (L2
// write, PUBLISH) plus delivery. p50/p99/max per kind and mode, with the load average.
//
// Modes (`l2.invalidation`): `bus` (stratacache's own messages, the default) and `tracking` (the
// bus plus Redis client tracking). Kinds: `key` (A's delete), `tag` (A's invalidateTags: the bus
// in both modes) and, in tracking mode, `ext` (a plain SET of the key's storage key on a raw
// connection, as another program or redis-cli would send it: only tracking reports it). In
// tracking mode a key change reaches B twice (tracking and bus); the first to arrive counts.
// Options: --ops=N invalidations per kind (default 2000)  --client=ioredis|redis  --quick (300)
//          --modes=bus,tracking
import { fork } from 'node:child_process'
import net from 'node:net'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { createCache } from '../dist/index.js'
import { startRedis } from './lib/redis-server.js'

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=')
    return [k, v ?? 'true']
  }),
)
const now = () => performance.timeOrigin + performance.now()

if (args.has('child')) {
  // B: a cache on the same namespace; reports each remote invalidation's arrival.
  const cache = createCache({
    namespace: args.get('namespace'),
    l2: { redis: args.get('url'), client: args.get('client'), invalidation: args.get('mode') },
  })
  await cache.ready()
  cache.on('invalidate', (event) => {
    if (event.origin !== 'remote') return
    const at = now()
    const names = event.kind === 'keys' ? event.keys : event.kind === 'tags' ? event.tags : []
    process.send?.({ at, names, mode: args.get('mode') })
  })
  process.on('message', async (message) => {
    if (message === 'close') {
      await cache.close()
      process.exit(0)
    }
  })
  process.on('disconnect', () => process.exit(0))
  process.send?.({ ready: true })
} else {
  const quick = args.has('quick')
  const ops = Number(args.get('ops') ?? (quick ? 300 : 2000))
  const client = args.get('client') ?? 'ioredis'
  const modes = (args.get('modes') ?? 'bus,tracking').split(',')
  const redis = await startRedis()
  const raw = await rawConnection(redis.port)
  const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  console.log(
    `propagation A → B on loopback, ${ops} invalidations per kind, client ${client}, node ${process.version}, ${os.cpus().length} cores`,
  )
  console.log('mode      kind     p50 ms   p99 ms   max ms   loadavg (1/5/15 min)')
  for (const mode of modes) {
    const namespace = `prop-${mode}-${process.pid}`
    const child = fork(
      fileURLToPath(import.meta.url),
      ['--child', `--url=${redis.url}`, `--namespace=${namespace}`, `--client=${client}`, `--mode=${mode}`],
      { stdio: 'inherit' },
    )
    const arrivals = new Map()
    const waiters = new Map()
    await new Promise((resolve) =>
      child.on('message', (message) => {
        if (message.ready) return resolve()
        for (const name of message.names) {
          // The first report counts (in tracking mode a key change arrives by both paths).
          if (arrivals.has(name)) continue
          arrivals.set(name, message.at)
          waiters.get(name)?.()
        }
      }),
    )
    const a = createCache({ namespace, l2: { redis: redis.url, client, invalidation: mode } })
    await a.ready()
    const arrived = (name) =>
      arrivals.has(name)
        ? Promise.resolve()
        : new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${name} never arrived (${mode})`)), 5000)
            waiters.set(name, () => {
              clearTimeout(timer)
              waiters.delete(name)
              resolve()
            })
          })
    const change = (kind, name) =>
      kind === 'key'
        ? a.delete(name)
        : kind === 'tag'
          ? a.invalidateTags([name])
          : raw.set(`${namespace}:v1:${name}`, 'written by another program')

    for (const kind of mode === 'tracking' ? ['key', 'tag', 'ext'] : ['key', 'tag']) {
      // Warm-up: connections, scripts, JIT.
      for (let i = 0; i < 50; i++) {
        const name = `warm-${kind}-${i}`
        await change(kind, name)
        await arrived(name)
      }
      const delays = []
      for (let i = 0; i < ops; i++) {
        const name = `${kind}-${i}`
        const start = now()
        await change(kind, name)
        await arrived(name)
        delays.push(arrivals.get(name) - start)
      }
      delays.sort((x, y) => x - y)
      const load = os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')
      console.log(
        `${mode.padEnd(9)} ${kind.padEnd(5)} ${quantile(delays, 0.5).toFixed(3).padStart(8)} ${quantile(delays, 0.99).toFixed(3).padStart(8)} ${delays[delays.length - 1].toFixed(3).padStart(8)}   ${load}`,
      )
    }
    child.send('close')
    await a.close()
  }
  raw.close()
  await redis.stop()
}

/** A plain RESP connection (no client library): SET key value, one at a time, as redis-cli sends it. */
async function rawConnection(port) {
  const socket = net.connect(port, '127.0.0.1')
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  let answered = () => {}
  socket.on('data', () => answered())
  return {
    set: (key, value) =>
      new Promise((resolve) => {
        answered = resolve
        const parts = ['SET', key, value]
        socket.write(
          `*${parts.length}\r\n${parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join('')}`,
        )
      }),
    close: () => socket.destroy(),
  }
}
