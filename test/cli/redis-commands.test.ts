import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../dist/cli/main.js'
import { rotateKeys } from '../../dist/security/rotate.js'
import { captureCli } from '../helpers/cli.js'
import { freePort } from '../helpers/redis-server.js'

// The commands that talk to a Redis (diagnose, dashboard --redis, rotate-keys) against the two
// Redis failures a terminal user meets: nothing listening, and a server that accepts the
// connection but never answers (a black hole: a firewall, a wrong port on a busy proxy).

let blackHole: net.Server
let blackHoleUrl: string
let closedUrl: string
beforeAll(async () => {
  blackHole = net.createServer((socket) => {
    socket.on('data', () => {})
    socket.on('error', () => {})
  })
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve))
  blackHoleUrl = `redis://127.0.0.1:${(blackHole.address() as net.AddressInfo).port}`
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

  it('a server that never answers: one line naming the URL and what to check, exit 1, within seconds', async () => {
    const started = performance.now()
    const result = await runCli(args(blackHoleUrl))
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`^Redis at ${blackHoleUrl}/?: .*did not answer.*check --redis`))
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stdout).toBe('')
    expect(performance.now() - started).toBeLessThan(15_000)
  }, 30_000)

  it('nothing listening: one line (ECONNREFUSED, check --redis), exit 1, and no Node warning before it', async () => {
    const result = await runCli(args(closedUrl))
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      /^Redis at redis:\/\/127\.0\.0\.1:\d+\/?: .*ECONNREFUSED.*check the port in --redis/,
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
  const keys = `k2=${randomBytes(32).toString('base64')}`

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

  it('the CLI exits 1 with that message (default deadline: 5 s per call)', async () => {
    const result = await runCli(['rotate-keys', '--redis', blackHoleUrl, '--namespace', 'shop', '-q'], {
      STRATACACHE_KEYS: keys,
    })
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      /^stratacache rotate-keys: rotateKeys: Redis did not answer SCAN within 5000 ms/,
    )
  }, 40_000)
})
