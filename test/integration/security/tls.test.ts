import { describe, expect, it } from 'vitest'
import { createCache, InvalidOptionError } from '../../../dist/index.js'
import { createRedisTier } from '../../../dist/tiers/redis/index.js'
import { CLIENTS, closeAfterEach, pollUntil } from '../../helpers/fixtures.js'
import { useRedisServer } from '../../helpers/redis-server.js'

// A redis-server listening for TLS with a certificate signed by a CA openssl generated for this run.
const server = useRedisServer({ tls: true })

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
