import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { main } from '../../dist/cli/main.js'
import { captureCli } from '../helpers/cli.js'
import { freePort, useRedisServer } from '../helpers/redis-server.js'
import { silentServer } from './silent-redis.js'

// rotate-keys and writebehind against a Redis that does not answer: the user hears, within the
// command's stated deadline (5 s per call), which server (host:port, never the URL's user or
// password) did not answer what, and what to try — not the library's `l2.timeout` or
// `E_L2_TIMEOUT`. After the deadline the connection is dropped: a QUIT would wait for an answer
// that never comes (rotate-keys took 10 s to report its 5 s deadline).

const server = useRedisServer()

/** The deadline the commands state (5 s per Redis call), plus room for a loaded machine — not for a second deadline. */
const WITHIN_MS = 8_000

const keysEnv = { STRATACACHE_KEYS: `k2=${randomBytes(32).toString('base64')}` }

async function runCli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const c = captureCli()
  const started = performance.now()
  const code = await main(argv, { ...c.ctx, env })
  return { code, stdout: c.stdout(), stderr: c.stderr(), ms: performance.now() - started }
}

/** One line, naming the server as host:port and nothing of the library's vocabulary or the URL's credentials. */
function expectOneClearLine(stderr: string, secrets: readonly string[] = []): void {
  expect(stderr.trim().split('\n')).toHaveLength(1)
  expect(stderr).not.toMatch(/l2\.|E_L2|redis:\/\//)
  for (const secret of secrets) expect(stderr).not.toContain(secret)
}

describe.concurrent('stratacache rotate-keys against a Redis that does not answer', () => {
  it('a paused redis-server (SIGSTOP): host:port, what to try, exit 1, within the 5 s deadline', async () => {
    const { port } = server()
    server().pause()
    try {
      const result = await runCli(
        ['rotate-keys', '--redis', `redis://rotator:pa55w0rd@127.0.0.1:${port}`, '--namespace', 'shop', '-q'],
        keysEnv,
      )
      expect(result.code).toBe(1)
      expect(result.stderr).toMatch(
        new RegExp(
          `^stratacache rotate-keys: Redis at 127\\.0\\.0\\.1:${port} did not answer PING within 5 s: .*` +
            `Check the host and port in --redis and that redis-server is up and answering \\(redis-cli -h 127\\.0\\.0\\.1 -p ${port} ping\\)\\.`,
        ),
      )
      expectOneClearLine(result.stderr, ['rotator', 'pa55w0rd'])
      expect(result.stdout).toBe('')
      expect(result.ms).toBeLessThan(WITHIN_MS)
    } finally {
      server().resume()
    }
  }, 30_000)

  it('a Redis that answers PING, then stops: names the rotation commands, says to run it again, sends no QUIT', async ({
    onTestFinished,
  }) => {
    // Answers what a cache sends on connecting (its scripts) and PING; silent from the SCAN on.
    const stalls = await silentServer(onTestFinished, (command) =>
      command === 'PING' ? '+PONG\r\n' : command === 'EVAL' ? ':0\r\n' : undefined,
    )
    const result = await runCli(
      ['rotate-keys', '--redis', `redis://127.0.0.1:${stalls.port}`, '--namespace', 'shop', '-q'],
      keysEnv,
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      new RegExp(
        `^stratacache rotate-keys: Redis at 127\\.0\\.0\\.1:${stalls.port} did not answer the rotation's commands \\(SCAN, MGET, EVALSHA\\) within 5 s: .*` +
          'Then run rotate-keys again: entries already rotated are skipped\\.\n$',
      ),
    )
    expectOneClearLine(result.stderr)
    expect(result.ms).toBeLessThan(WITHIN_MS)
    await stalls.allClosed()
    expect(stalls.commands()).toContain('SCAN')
    expect(stalls.commands()).not.toContain('QUIT')
  }, 30_000)

  it('--client redis (node-redis) against a black hole: the same line, not "Not connected to Redis yet (l2.timeout)"', async ({
    onTestFinished,
  }) => {
    const hole = await silentServer(onTestFinished)
    const result = await runCli(
      [
        'rotate-keys',
        '--redis',
        `redis://127.0.0.1:${hole.port}`,
        '--namespace',
        'shop',
        '-q',
        '--client',
        'redis',
      ],
      keysEnv,
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      new RegExp(
        `^stratacache rotate-keys: Redis at 127\\.0\\.0\\.1:${hole.port} did not answer PING within 5 s: `,
      ),
    )
    expectOneClearLine(result.stderr)
    expect(result.ms).toBeLessThan(WITHIN_MS)
  }, 30_000)

  it('nothing listening: says the connection was refused and to check the port', async () => {
    const port = await freePort()
    const result = await runCli(
      ['rotate-keys', '--redis', `redis://:hunter2@127.0.0.1:${port}`, '--namespace', 'shop', '-q'],
      keysEnv,
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      new RegExp(
        `^stratacache rotate-keys: Redis at 127\\.0\\.0\\.1:${port} refused the connection \\(connect ECONNREFUSED [^)]*\\): nothing listens there\\. Check the port in --redis and that redis-server is running\\.\n$`,
      ),
    )
    expectOneClearLine(result.stderr, ['hunter2'])
  }, 30_000)
})

describe.concurrent('stratacache writebehind dlq against a Redis that does not answer', () => {
  it('a black hole: host:port and what to try within the 5 s deadline, no QUIT after it', async ({
    onTestFinished,
  }) => {
    const hole = await silentServer(onTestFinished)
    const result = await runCli([
      'writebehind',
      'dlq',
      'count',
      '--name',
      'orders',
      '--redis',
      `redis://admin:s3cr3t@127.0.0.1:${hole.port}`,
    ])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(
      new RegExp(
        `^stratacache writebehind: Redis at 127\\.0\\.0\\.1:${hole.port} did not answer PING within 5 s: .*redis-cli -h 127\\.0\\.0\\.1 -p ${hole.port} ping`,
      ),
    )
    expectOneClearLine(result.stderr, ['admin', 's3cr3t'])
    expect(result.ms).toBeLessThan(WITHIN_MS)
    await hole.allClosed()
    expect(hole.commands()).not.toContain('QUIT')
  }, 30_000)

  it('a malformed --redis is bad usage (exit 2) naming the flag', async () => {
    const result = await runCli(['writebehind', 'dlq', 'count', '--name', 'orders', '--redis', 'localhost'])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/--redis must be a URL like redis:\/\/127\.0\.0\.1:\d+; got 'localhost'\./)
  })
})
