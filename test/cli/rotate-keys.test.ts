import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { main } from '../../src/cli/main.js'
import { createCache } from '../../src/index.js'
import { isSealed, sealedKeyId } from '../../src/security/keyring.js'
import { useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

function context(env: Record<string, string>) {
  const out = { stdout: '', stderr: '' }
  const stream = (name: 'stdout' | 'stderr') => ({
    write: (s: string) => {
      out[name] += s
      return true
    },
  })
  return { out, ctx: { stdout: stream('stdout'), stderr: stream('stderr'), env } }
}

async function seedPlain(namespace: string, count: number): Promise<void> {
  const cache = createCache({ namespace, l1: false, l2: { redis: server().url, client: 'ioredis' } })
  try {
    for (let i = 0; i < count; i++) await cache.set(`k${i}`, i)
  } finally {
    await cache.close()
  }
}

describe('stratacache rotate-keys --encrypt-plaintext', () => {
  it('seals plaintext entries, counts them and warns on stderr even with --json; never prints a key', async () => {
    await seedPlain('cliplain', 7)
    const k1 = randomBytes(32).toString('base64')
    const { out, ctx } = context({ STRATACACHE_KEYS: `k1=${k1}` })
    const code = await main(
      ['rotate-keys', '--redis', server().url, '--namespace', 'cliplain', '--encrypt-plaintext', '--json'],
      ctx,
    )
    expect(code).toBe(0)
    expect(JSON.parse(out.stdout)).toMatchObject({ key: 'k1', plaintext: 7, plaintextSealed: 7 })
    expect(out.stderr).toMatch(/warning: 7 plaintext entries sealed with key 'k1'/)
    expect(`${out.stdout}${out.stderr}`).not.toContain(k1)
    expect(sealedKeyId((await server().commandBuffer('GET', 'cliplain:v1:k3')) as Buffer)).toBe('k1')
  })

  it('without the flag, leaves plaintext alone and says so in the summary', async () => {
    await seedPlain('clikeep', 3)
    const { out, ctx } = context({ STRATACACHE_KEYS: `k1=${randomBytes(32).toString('base64')}` })
    const code = await main(['rotate-keys', '--redis', server().url, '--namespace', 'clikeep', '-q'], ctx)
    expect(code).toBe(0)
    expect(out.stdout).toMatch(/3 plaintext \(0 sealed\)/)
    expect(out.stderr).toBe('')
    expect(isSealed((await server().commandBuffer('GET', 'clikeep:v1:k0')) as Buffer)).toBe(false)
  })
})
