/**
 * The TCP proxy test helper (test/helpers/tcp-proxy.ts) in front of a real redis-server: it
 * forwards, black-holes without closing (and delivers what it held on resume), delays, severs,
 * per connection or all.
 */
import net from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { useRedisServer } from '../helpers/redis-server.js'
import { startTcpProxy, TcpProxy } from '../helpers/tcp-proxy.js'

const server = useRedisServer()
let proxy: TcpProxy | undefined
afterEach(async () => {
  await proxy?.close()
  proxy = undefined
})

/** A raw connection that sends PINGs and collects the PONGs (and whether it was closed). */
function rawClient(port: number): Promise<{ ping(): void; pongs(): number; closed(): boolean; end(): void }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    let text = ''
    let closed = false
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1')
    })
    socket.on('close', () => {
      closed = true
    })
    socket.once('error', reject)
    socket.once('connect', () =>
      resolve({
        ping: () => socket.write('*1\r\n$4\r\nPING\r\n'),
        pongs: () => text.split('+PONG\r\n').length - 1,
        closed: () => closed,
        end: () => socket.destroy(),
      }),
    )
  })
}

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (check()) return true
    await new Promise((r) => setTimeout(r, 5))
  }
  return check()
}

describe('the TCP proxy test helper', () => {
  it('forwards, black-holes without closing, delivers the held bytes on resume, delays, and severs', async () => {
    proxy = await startTcpProxy({ port: server().port })
    const a = await rawClient(proxy.port)
    const b = await rawClient(proxy.port)
    a.ping()
    b.ping()
    expect(await until(() => a.pongs() === 1 && b.pongs() === 1, 5000)).toBe(true)
    expect(proxy.links.length).toBe(2)

    // One connection black-holed: it answers nothing and stays open; the other still works.
    const [linkA] = proxy.links
    proxy.blackhole(linkA)
    a.ping()
    b.ping()
    expect(await until(() => b.pongs() === 2, 5000)).toBe(true)
    await new Promise((r) => setTimeout(r, 300))
    expect(a.pongs()).toBe(1)
    expect(a.closed()).toBe(false)
    proxy.resume(linkA)
    expect(await until(() => a.pongs() === 2, 5000)).toBe(true)

    // Only the server → client direction held: the command runs, its answer waits.
    proxy.blackhole((l) => l === linkA, 'down')
    a.ping()
    await new Promise((r) => setTimeout(r, 200))
    expect(a.pongs()).toBe(2)
    proxy.resume('all')
    expect(await until(() => a.pongs() === 3, 5000)).toBe(true)

    // Delay: the answer comes no sooner than the delay.
    proxy.delay(250)
    const started = Date.now()
    a.ping()
    expect(await until(() => a.pongs() === 4, 5000)).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(240)

    // A connection accepted while 'all' is black-holed starts black-holed.
    proxy.blackhole()
    const c = await rawClient(proxy.port)
    c.ping()
    await new Promise((r) => setTimeout(r, 200))
    expect(c.pongs()).toBe(0)
    proxy.resume()
    expect(await until(() => c.pongs() === 1, 5000)).toBe(true)
    expect(proxy.links.some((l) => l.sent.includes('PING'))).toBe(true)

    proxy.sever()
    expect(await until(() => a.closed() && b.closed() && c.closed(), 5000)).toBe(true)
  })

  it('delay with jitter: each chunk waits ms ± jitter (as drawn), and a chunk never overtakes the one before it', async () => {
    // Draws of 0 then ~1: the first PING is held 150 ms up, the second (sent right after) only
    // 50 ms — it must still arrive after the first.
    const draws = [1 - 1e-9, 0]
    let i = 0
    proxy = await TcpProxy.start({ target: { port: server().port }, random: () => draws[i++ % 2] as number })
    const a = await rawClient(proxy.port)
    proxy.delay(100, 'all', 'up', 50)
    const started = Date.now()
    a.ping()
    await new Promise((r) => setTimeout(r, 5))
    a.ping()
    // The first answer comes no sooner than the first chunk's 150 ms: the second chunk, due at
    // ~55 ms, was held behind it (overtaking, it would have been answered at ~55 ms).
    expect(await until(() => a.pongs() >= 1, 5000)).toBe(true)
    expect(Date.now() - started).toBeGreaterThanOrEqual(145)
    expect(await until(() => a.pongs() === 2, 5000)).toBe(true)
    expect(proxy.links[0]?.up.delivered).toBe(28)
    expect(() => proxy?.delay(100, 'all', 'both', -1)).toThrow(RangeError)
    a.end()
  })
})
