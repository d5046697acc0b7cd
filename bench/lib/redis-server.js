// A private redis-server for the benchmark: a free loopback port, no persistence, killed at the end.
// (Never the machine's own one on the standard port: other work may be using it, and its contents are not ours.)
import { spawn } from 'node:child_process'
import net from 'node:net'

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function ping(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.setTimeout(500)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => {
      socket.destroy()
      resolve(data.toString().startsWith('+PONG'))
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

/** Starts redis-server as a child process; resolves to { url, port, pid, version, stop() }. */
export async function startRedis() {
  const port = await freePort()
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let log = ''
  child.stdout.on('data', (d) => {
    log += d
  })
  child.stderr.on('data', (d) => {
    log += d
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const deadline = Date.now() + 10_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited early:\n${log}`)
    if (await ping(port)) break
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`redis-server did not answer on port ${port}:\n${log}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const version = /version=([\d.]+)/.exec(log)?.[1] ?? 'unknown'
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    version,
    async stop() {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    },
    /** Synchronous last resort (process 'exit' handlers cannot await). */
    killNow() {
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

/** `INFO commandstats` as { get: calls, mget: calls, … } (lowercase command names). */
export function parseCommandStats(info) {
  const calls = {}
  for (const line of info.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
    if (m) calls[m[1]] = Number(m[2])
  }
  return calls
}
