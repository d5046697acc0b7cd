import { execFile } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createCache, InvalidOptionError } from '../../../dist/index.js'
import { createRedisTier } from '../../../dist/tiers/redis/index.js'
import { CLIENTS, closeAfterEach, pollUntil } from '../../helpers/fixtures.js'
import { useRedisServer } from '../../helpers/redis-server.js'

// A redis-server listening for TLS with a certificate signed by a CA openssl generated for this run.
const server = useRedisServer({ tls: true })

/** A fatal TLS alert record (decode_error), as a server sends one after a handshake goes wrong. */
const ALERT = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32])

/**
 * A TCP proxy in front of the TLS port that delivers the server's whole first flight (certificate
 * included) in one write followed by an alert record. A client that refuses the certificate
 * destroys its socket while handling that read, and the alert in the same read is reported as a
 * second error on the destroyed socket: the double TLS error once seen in CI, every time.
 */
function alertAfterFirstFlight(upstreamPort: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>()
  const proxy = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1')
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => {
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', (chunk) => upstream.write(chunk))
    let held: Buffer[] | undefined
    upstream.on('data', (chunk: Buffer) => {
      if (held !== undefined) return void held.push(chunk)
      held = [chunk]
      // The rest of the flight arrives within milliseconds on loopback.
      setTimeout(() => client.write(Buffer.concat([...(held ?? []), ALERT])), 100)
    })
  })
  return new Promise((resolve) => {
    proxy.listen(0, '127.0.0.1', () => {
      resolve({
        port: (proxy.address() as net.AddressInfo).port,
        close: () => {
          for (const socket of sockets) socket.destroy()
          proxy.close()
        },
      })
    })
  })
}

const DIST_REDIS = fileURLToPath(new URL('../../../dist/tiers/redis/index.js', import.meta.url))

/**
 * Opens a Redis tier on `url` with `client` in a child process (the host), without the CA, for
 * `ms`, and reports how it ended: exit code, the connection errors the tier reported, stderr.
 * In a child, so an uncaught exception ends that process, as it would a service, and not the
 * test runner.
 */
function hostOpening(
  redis: string | { cluster: string[] },
  client: string,
  ms: number,
): Promise<{ code: number | null; errors: string[]; stderr: string }> {
  const script = `
    import { createRedisTier } from ${JSON.stringify(DIST_REDIS)}
    const errors = []
    const tier = createRedisTier(
      { redis: ${JSON.stringify(redis)}, client: ${JSON.stringify(client)} },
      { timeoutMs: 300, batchSize: 10, onError: (e) => errors.push(String(e?.code) + ' ' + String(e?.message).split('\\n')[0]) },
    )
    setTimeout(async () => {
      await tier.close()
      process.stdout.write(JSON.stringify(errors))
      process.exit(0)
    }, ${ms})
  `
  return new Promise((resolve) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], (error, stdout, stderr) => {
      let errors: string[] = []
      try {
        errors = JSON.parse(stdout) as string[]
      } catch {}
      resolve({ code: error === null ? 0 : ((error as { code?: number }).code ?? null), errors, stderr })
    })
  })
}

describe.each(CLIENTS)('TLS to Redis (client %s)', (client) => {
  const track = closeAfterEach()

  it('connects over rediss:// when given the CA, and the cache works end to end', async () => {
    const url = server().url
    expect(url).toMatch(/^rediss:\/\//)
    const cache = track(
      createCache({
        namespace: 'tls',
        l1: false,
        l2: { redis: url, client, tls: { ca: server().certificates?.ca as string }, timeout: '2s' },
      }),
    )
    await cache.set('k', { over: 'tls' })
    expect(await cache.get('k')).toEqual({ over: 'tls' })
    expect(cache.stats()).toMatchObject({ l2Hits: 1, l2Errors: 0, l2ConnectionErrors: 0 })
    expect(await server().command('EXISTS', 'tls:v1:k')).toBe(1)
  })

  it('refuses the server’s certificate without the CA (verification is on by default), and never sends a command', async () => {
    const errors: unknown[] = []
    const tier = createRedisTier(
      { redis: server().url, client },
      { timeoutMs: 300, batchSize: 10, onError: (error) => errors.push(error) },
    )
    try {
      await pollUntil(() => errors.length > 0, 10_000)
      const messages = errors.map((e) =>
        e instanceof Error ? `${e.message} ${String((e as { code?: unknown }).code)}` : String(e),
      )
      expect(messages.join('\n')).toMatch(/self[- ]signed|unable to verify|certificate/i)
      await expect(tier.set('tls:v1:x', Buffer.from('x'), 1000)).rejects.toThrow()
      expect(await server().command('EXISTS', 'tls:v1:x')).toBe(0)
    } finally {
      await tier.close()
    }
  })

  it.each([
    ['a URL', (port: number) => `rediss://127.0.0.1:${port}`],
    [
      'a cluster: its discovery and node connections',
      (port: number) => ({ cluster: [`rediss://127.0.0.1:${port}`] }),
    ],
  ] as const)(
    'a TLS handshake that fails twice (certificate refused, then the server’s alert in the same read) never crashes the host (%s): both errors are reported',
    async (_, redis) => {
      const tlsPort = server().tlsPort
      expect(tlsPort).toBeDefined()
      const proxy = await alertAfterFirstFlight(tlsPort as number)
      try {
        const host = await hostOpening(redis(proxy.port), client, 2_000)
        expect(host.stderr).not.toMatch(/Unhandled 'error' event|ERR_SSL|uncaught/i)
        expect(host.code, host.stderr).toBe(0)
        const reported = host.errors.join('\n')
        // The first error of each attempt (the refused certificate), and at least one second error
        // (what the alert caused) that neither client listened for any more.
        expect(reported).toMatch(/self[- ]signed|unable to verify|certificate/i)
        expect(reported).toMatch(/ERR_SSL|alert|record/i)
      } finally {
        proxy.close()
      }
    },
    30_000,
  )

  it('l2.tls cannot turn verification off, and needs rediss://', () => {
    const url = server().url
    expect(() =>
      createCache({ l2: { redis: url, client, tls: { rejectUnauthorized: false } as never } }),
    ).toThrow(InvalidOptionError)
    expect(() =>
      createCache({ l2: { redis: url.replace('rediss:', 'redis:'), client, tls: { ca: 'x' } } }),
    ).toThrow(/rediss:\/\//)
  })
})
