import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../dist/cli/main.js'
import { rotateKeys } from '../../dist/security/rotate.js'
import { captureCli } from '../helpers/cli.js'
import { freePort } from '../helpers/redis-server.js'
import { silentServer } from './silent-redis.js'

// The commands that talk to a Redis (diagnose, dashboard --redis, rotate-keys) against the two
// Redis failures a terminal user meets: nothing listening, and a server that accepts the
// connection but never answers (a black hole: a firewall, a wrong port on a busy proxy).
// rotate-keys and writebehind from the command line: redis-deadlines.test.ts.

let blackHole: net.Server
let blackHoleUrl: string
let blackHolePort: number
let closedUrl: string
beforeAll(async () => {
  blackHole = net.createServer((socket) => {
    socket.on('data', () => {})
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
  blackHolePort = (blackHole.address() as net.AddressInfo).port
  blackHoleUrl = `redis://127.0.0.1:${blackHolePort}`
  closedUrl = `redis://127.0.0.1:${await freePort()}`
})
afterAll(() => {
  // Not awaited: close() would wait for the connections a client may still hold open.
  blackHole.close()
  blackHole.unref()
})

/** Runs the CLI, collecting the process warnings emitted meanwhile. */
async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const c = captureCli()
  const warnings: Error[] = []
  const onWarning = (warning: Error) => warnings.push(warning)
  process.on('warning', onWarning)
  try {
    const ctx = { ...c.ctx, env }
    const code = await main(argv, ctx)
    // A warning is emitted on the next tick: let any pending one arrive before judging.
    await new Promise((resolve) => setImmediate(resolve))
    return { code, stdout: c.stdout(), stderr: c.stderr(), warnings }
  } finally {
    process.off('warning', onWarning)
  }
}

describe.each(['diagnose', 'dashboard'])('stratacache %s --redis', (command) => {
  const args = (url: string) =>
    command === 'diagnose'
      ? [command, '--redis', url, '--namespace', 'shop']
      : [command, '--redis', url, '--port', '0']

  it('a server that never answers: one line naming host:port (never the URL credentials) and what to try, exit 1, within seconds', async () => {
    const started = performance.now()
    const result = await runCli(args(blackHoleUrl.replace('redis://', 'redis://watcher:s3cr3t@')))
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      new RegExp(
        `^Redis at 127\\.0\\.0\\.1:${blackHolePort} did not answer PING within 3 s: .*` +
          `Check the host and port in --redis and that redis-server is up and answering \\(redis-cli -h 127\\.0\\.0\\.1 -p ${blackHolePort} ping\\)\\.\n$`,
      ),
    )
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).not.toMatch(/watcher|s3cr3t|l2\.|E_L2/)
    expect(result.stdout).toBe('')
    expect(performance.now() - started).toBeLessThan(15_000)
  }, 30_000)

  it('after the deadline it drops the connection: no QUIT that would wait for an answer', async ({
    onTestFinished,
  }) => {
    const hole = await silentServer(onTestFinished)
    const result = await runCli(args(`redis://127.0.0.1:${hole.port}`))
    expect(result.code).toBe(1)
    await hole.allClosed()
    expect(hole.commands().length).toBeGreaterThan(0)
    expect(hole.commands()).not.toContain('QUIT')
  }, 30_000)

  it('nothing listening: one line (ECONNREFUSED, check the port in --redis), exit 1, and no Node warning before it', async () => {
    const result = await runCli(args(closedUrl))
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      /^Redis at 127\.0\.0\.1:\d+ refused the connection \(connect ECONNREFUSED [^)]*\): nothing listens there\. Check the port in --redis/,
    )
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).not.toMatch(/max retries|maxRetriesPerRequest|l2\.redis/)
    expect(result.warnings.map((w) => w.message)).toEqual([])
  }, 30_000)

  it('a malformed URL is bad usage (exit 2) naming --redis, not the library option', async () => {
    const result = await runCli(args('foo'))
    expect(result.code).toBe(2)
    // (The example URL in the message names Redis's default port; matched as any port here.)
    expect(result.stderr).toMatch(/--redis must be a URL like redis:\/\/127\.0\.0\.1:\d+; got 'foo'\./)
    expect(result.stderr).not.toContain('l2.redis')
  })
})

describe('a malformed --redis', () => {
  it('is named without the user and password it holds', async () => {
    const result = await runCli([
      'diagnose',
      '--redis',
      'redis//admin:hunter2@db.internal',
      '--namespace',
      'shop',
    ])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--redis must be a URL like redis://127.0.0.1:')
    expect(result.stderr).toContain("got 'redis//***@db.internal'.")
    expect(result.stderr).not.toMatch(/admin|hunter2/)
  })
})

describe('stratacache diagnose', () => {
  it('--wait longer than a Node timer can run (2^31 − 1 ms) is bad usage, not an instant return', async () => {
    const result = await runCli([
      'diagnose',
      '--redis',
      closedUrl,
      '--namespace',
      'shop',
      '--wait',
      '3000000s',
    ])
    expect(result.code).toBe(2)
    expect(result.stderr).toContain('--wait must be at most 2147483647 ms')
    expect(result.warnings.map((w) => w.name)).not.toContain('TimeoutOverflowWarning')
  })
})

describe('stratacache dashboard', () => {
  it('a port in use: says which, and how to get a free one (exit 1)', async () => {
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const port = (taken.address() as net.AddressInfo).port
    try {
      const result = await runCli(['dashboard', '--port', String(port), '--host', '127.0.0.1'])
      expect(result.code).toBe(1)
      expect(result.stderr).toBe(
        `stratacache dashboard: cannot listen on 127.0.0.1:${port}: port ${port} is in use (EADDRINUSE). Pick another --port, or --port 0 for a free one.\n`,
      )
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })
})

describe('rotate-keys against a Redis that never answers', () => {
  it('rotateKeys rejects with E_L2_TIMEOUT after l2.timeout, naming the command and what to do', async () => {
    const started = performance.now()
    const rotation = rotateKeys({
      l2: { redis: blackHoleUrl, timeout: '300ms' },
      namespace: 'shop',
      encryption: { keys: { k2: randomBytes(32) }, current: 'k2' },
    })
    await expect(rotation).rejects.toMatchObject({
      code: 'E_L2_TIMEOUT',
      message: expect.stringMatching(
        /Redis did not answer SCAN within 300 ms: check the Redis URL .* and that the server is up, then run the rotation again/,
      ),
    })
    expect(performance.now() - started).toBeLessThan(10_000)
  }, 30_000)
})
