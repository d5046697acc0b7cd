import net from 'node:net'
import { describe, expect, it } from 'vitest'
import { startRedisServer } from '../helpers/redis-server.js'

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Whether a TCP connection to the port succeeds. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

describe('the redis-server test helper', () => {
  it('starts a server that answers raw commands, restarts it on the same port, and stops it for good', async () => {
    const server = await startRedisServer()
    try {
      expect(server.url).toBe(`redis://${server.host}:${server.port}`)
      expect(await server.command('PING')).toBe('PONG')
      expect(await server.command('SET', 'a', Buffer.from([0xc5, 0, 0xff]))).toBe('OK')
      expect(await server.commandBuffer('GET', 'a')).toEqual(Buffer.from([0xc5, 0, 0xff]))
      await expect(server.command('NOSUCHCOMMAND')).rejects.toThrow(/unknown command/i)
      if (!server.spawned) return

      const firstPid = server.pid as number
      expect(alive(firstPid)).toBe(true)
      await server.restart()
      expect(server.pid).not.toBe(firstPid)
      expect(alive(firstPid)).toBe(false)
      expect(await server.command('PING')).toBe('PONG')
      // --save '': the restarted server starts empty.
      expect(await server.command('DBSIZE')).toBe(0)
    } finally {
      const pid = server.pid
      await server.stop()
      if (server.spawned && pid !== undefined) expect(alive(pid)).toBe(false)
    }
    expect(server.spawned ? await accepts(server.port) : false).toBe(false)
  })

  it('pause() freezes the server until resume()', async () => {
    const server = await startRedisServer()
    if (!server.spawned) {
      expect(() => server.pause()).toThrow(/unset REDIS_URL/)
      return
    }
    try {
      server.pause()
      let answered = false
      const ping = server.command('PING').then((reply) => {
        answered = true
        return reply
      })
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(answered).toBe(false)
      server.resume()
      expect(await ping).toBe('PONG')
    } finally {
      await server.stop()
    }
  })

  it('fails with an install hint when redis-server is not on PATH', async () => {
    const saved = { PATH: process.env.PATH, REDIS_URL: process.env.REDIS_URL }
    process.env.PATH = '/nonexistent'
    delete process.env.REDIS_URL
    try {
      await expect(startRedisServer()).rejects.toThrow(
        'redis-server not found: install it with `apt-get install -y redis-server` (or set REDIS_URL to use an existing server)',
      )
    } finally {
      process.env.PATH = saved.PATH
      if (saved.REDIS_URL !== undefined) process.env.REDIS_URL = saved.REDIS_URL
    }
  })
})
