import net from 'node:net'
import { Worker } from 'node:worker_threads'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { within } from '../../dist/base/deadline.js'

/** An echo server on its own thread (its own event loop): it answers while this thread is busy. */
const ECHO_SERVER = `
const net = require('node:net')
const { parentPort } = require('node:worker_threads')
const server = net.createServer((socket) => socket.on('data', (data) => socket.write(data)))
server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port))
`

let worker: Worker
let port: number

beforeAll(async () => {
  worker = new Worker(ECHO_SERVER, { eval: true })
  port = await new Promise<number>((resolve) => worker.once('message', resolve))
})

afterAll(async () => {
  await worker.terminate()
})

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(socket))
    socket.once('error', reject)
  })
}

/** Keeps this thread's event loop busy for `ms`, as a turn of a process at full CPU does. */
function busyFor(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {}
}

describe('within', () => {
  it('settles like the operation when it settles in time', async () => {
    await expect(within(Promise.resolve('value'), 1000, () => new Error('late'))).resolves.toBe('value')
    await expect(within(Promise.reject(new Error('inner')), 1000, () => new Error('late'))).rejects.toThrow(
      'inner',
    )
  })

  it('rejects with onTimeout() when the operation has not settled by the deadline', async () => {
    await expect(within(new Promise(() => {}), 20, () => new Error('late'))).rejects.toThrow('late')
  })

  it('an answer that arrived in time wins even when the event loop was busy past the deadline (issue 24)', async () => {
    const socket = await connect()
    try {
      const echoed = new Promise<string>((resolve) => socket.once('data', (data) => resolve(String(data))))
      const answer = within(echoed, 50, () => new Error('judged late: the reply waited in the socket'))
      socket.write('PING')
      // The echo comes back within a millisecond or so, but this turn lasts well past the
      // deadline: the timer fires before the loop reads the socket.
      busyFor(300)
      await expect(answer).resolves.toBe('PING')
    } finally {
      socket.destroy()
    }
  })
})
