/**
 * The subscriber connection when Redis refuses its reconnection (`maxclients` reached: the server
 * accepts the connection, then answers every command with an error and closes it). Nothing may
 * reject unhandled meanwhile — ioredis's own resubscription did (`SUBSCRIBE` answered "ERR max
 * number of clients reached" with nobody to catch it), and Node ends a process on an unhandled
 * rejection — and once Redis lets it in again, the bus delivers again.
 */
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { createCache } from '../../dist/index.js'
import { CLIENTS, closeAfterEach } from '../helpers/fixtures.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

// No ACL: the admin connection below must stay open (a fresh one would be refused too).
const server = useRedisServer({ acl: false })
const track = closeAfterEach()
const unhandled: unknown[] = []
const record = (reason: unknown) => void unhandled.push(reason)
let admin: Socket | undefined
afterEach(async () => {
  process.off('unhandledRejection', record)
  admin?.destroy()
  await server().command('CONFIG', 'SET', 'maxclients', '10000')
})

/** One command on the open admin connection; resolves to its reply line. */
function send(socket: Socket, ...args: string[]): Promise<string> {
  return new Promise((resolve) => {
    socket.once('data', (reply: Buffer) => resolve(reply.toString()))
    socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`)
  })
}

const waitFor = async (done: () => boolean, ms: number) => {
  const until = Date.now() + ms
  while (!done() && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
}

describe.each(CLIENTS)('the subscriber when Redis refuses its reconnection (%s)', (client) => {
  it('rejects nothing unhandled, and the bus delivers once Redis lets it in', async () => {
    unhandled.length = 0
    process.on('unhandledRejection', record)
    const namespace = uniqueNamespace('resub')
    const bus = { heartbeat: '250ms', maxSilence: '1s' } as const
    const a = track(createCache({ namespace, bus, l2: { redis: server().url, client } }))
    const b = track(createCache({ namespace, bus, l2: { redis: server().url, client } }))
    await Promise.all([a.ready(), b.ready()])
    await b.set('k', 'v1')
    expect(await a.get('k')).toBe('v1')

    admin = connect(server().port, '127.0.0.1')
    await new Promise((resolve) => admin?.once('connect', resolve))
    const connected = Number(/connected_clients:(\d+)/.exec(await send(admin, 'INFO', 'clients'))?.[1])
    // Room for who is connected but the two subscribers (A's and B's): killed, neither gets back in.
    expect(await send(admin, 'CONFIG', 'SET', 'maxclients', String(connected - 2))).toMatch(/^\+OK/)
    expect(await send(admin, 'CLIENT', 'KILL', 'TYPE', 'pubsub')).toMatch(/^:2/)
    await waitFor(() => a.stats().busSilences > 0, 10_000)
    expect(a.stats().busSilences).toBeGreaterThanOrEqual(1)
    // Several refused reconnections (ioredis retries within ~50–2000 ms).
    await new Promise((r) => setTimeout(r, 2000))
    expect(await send(admin, 'CONFIG', 'SET', 'maxclients', '10000')).toMatch(/^\+OK/)

    await waitFor(() => a.stats().busResyncs > 0, 15_000)
    expect(a.stats().busResyncs).toBeGreaterThanOrEqual(1)
    const heard = a.stats().busMessages
    await b.set('k', 'v2')
    await waitFor(() => a.stats().busMessages > heard, 5000)
    expect(await a.get('k')).toBe('v2')
    expect(unhandled).toEqual([])
  }, 40_000)
})
