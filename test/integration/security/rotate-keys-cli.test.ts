import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { main } from '../../../dist/cli/main.js'
import { createCache } from '../../../dist/index.js'
import { sealedKeyId } from '../../../dist/security/keyring.js'
import { useRedisServer } from '../../helpers/redis-server.js'

const server = useRedisServer()

function context(env: Record<string, string>) {
  const out = { stdout: '', stderr: '' }
  return {
    out,
    ctx: {
      stdout: {
        write: (s: string) => {
          out.stdout += s
          return true
        },
      },
      stderr: {
        write: (s: string) => {
          out.stderr += s
          return true
        },
      },
      env,
    },
  }
}

describe('stratacache rotate-keys', () => {
  it('re-encrypts a namespace with the key listed first in STRATACACHE_KEYS, and never prints a key', async () => {
    const k1 = randomBytes(32).toString('base64')
    const k2 = randomBytes(32).toString('base64')
    const cache = createCache({
      namespace: 'cli',
      encryption: { keys: { k1 }, current: 'k1' },
      l2: { redis: server().url },
    })
    try {
      for (let i = 0; i < 50; i++) await cache.set(`k${i}`, i)
    } finally {
      await cache.close()
    }
    const { out, ctx } = context({ STRATACACHE_KEYS: `k2=${k2},k1=${k1}` })
    const code = await main(
      ['rotate-keys', '--redis', server().url, '--namespace', 'cli', '--batch-size', '20', '--json'],
      ctx,
    )
    expect(out.stderr).toBe('')
    expect(code).toBe(0)
    expect(JSON.parse(out.stdout)).toMatchObject({ key: 'k2', scanned: 50, rotated: 50, unreadable: 0 })
    expect(`${out.stdout}${out.stderr}`).not.toContain(k1)
    expect(sealedKeyId((await server().commandBuffer('GET', 'cli:v1:k7')) as Buffer)).toBe('k2')
  })

  it('says what is missing: the URL, the namespace, or the keys variable (exit code 2 or 1)', async () => {
    const { out, ctx } = context({})
    expect(await main(['rotate-keys', '--namespace', 'x'], ctx)).toBe(2)
    expect(out.stderr).toMatch(/--redis is required/)
    expect(await main(['rotate-keys', '--redis', server().url, '--namespace', 'x'], ctx)).toBe(1)
    expect(out.stderr).toMatch(/STRATACACHE_KEYS is not set/)
  })
})
