import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createCache, KeyRing, type RotationReport, rotateKeys } from '../../../dist/index.js'
import { sealedKeyId } from '../../../dist/security/keyring.js'
import { encodeEnvelope, TaggedJsonSerializer } from '../../../dist/serialization/index.js'
import { IoRedisAdapter } from '../../../dist/tiers/redis/index.js'
import { useRedisServer } from '../../helpers/redis-server.js'

const server = useRedisServer()
const ENTRIES = 100_000
const K1 = randomBytes(32)
const K2 = randomBytes(32)

/** Writes `ENTRIES` entries sealed with k1, as caches would have (pipelined SETs as the ACL user). */
async function seed(url: string): Promise<void> {
  const ring = KeyRing.from({ keys: { k1: K1 }, current: 'k1' })
  const json = new TaggedJsonSerializer()
  const adapter = new IoRedisAdapter(url, {
    commandTimeoutMs: 10_000,
    connectTimeoutMs: 2000,
    onError: () => {},
  })
  try {
    const now = Date.now()
    for (let start = 0; start < ENTRIES; start += 5000) {
      const batch = []
      for (let i = start; i < Math.min(ENTRIES, start + 5000); i++) {
        const key = `rot:v1:item:${i}`
        const envelope = encodeEnvelope({
          createdAt: now,
          expiresAt: now + 3_600_000,
          tags: [],
          payload: json.encode({ i }),
        })
        batch.push({ key, value: ring.seal(envelope, key), ttlMs: 3_600_000 })
      }
      await adapter.setMany(batch)
    }
  } finally {
    await adapter.close(false)
  }
}

describe('key rotation', () => {
  it(`re-encrypts ${ENTRIES.toLocaleString('en')} entries in batches while reads and writes keep working`, async () => {
    await seed(server().url)
    const during = { keys: { k2: K2, k1: K1 }, current: 'k2' }
    const reader = createCache({
      namespace: 'rot',
      l1: false,
      encryption: during,
      l2: { redis: server().url, client: 'ioredis', timeout: '5s' },
    })
    try {
      let done = false
      let reads = 0
      let wrong = 0
      let written = 0
      const readLoop = (async () => {
        while (!done) {
          const i = Math.floor(Math.random() * ENTRIES)
          const value = await reader.get<{ i: number }>(`item:${i}`)
          reads++
          // Every read during the rotation returns the right value (old key or new), never a miss.
          if (value?.i !== i && !(i < 100 && value !== undefined)) wrong++
        }
      })()
      const writeLoop = (async () => {
        // Caches keep writing the first 100 entries meanwhile: a rotation must never overwrite them.
        while (!done && written < 5000) {
          await reader.set(`item:${written % 100}`, { i: written % 100, rewritten: true })
          written++
        }
      })()
      const progress: RotationReport[] = []
      const report = await rotateKeys({
        l2: { redis: server().url, client: 'ioredis' },
        namespace: 'rot',
        encryption: during,
        batchSize: 1000,
        onProgress: (p) => progress.push(p),
      })
      done = true
      await Promise.all([readLoop, writeLoop])
      expect(wrong).toBe(0)
      expect(reads).toBeGreaterThan(100)
      expect(progress.length).toBeGreaterThan(10)
      expect(report.scanned).toBe(ENTRIES)
      expect(report.rotated + report.current + report.changed).toBe(ENTRIES)
      expect(report.rotated).toBeGreaterThan(ENTRIES - 200)
      expect(report.unreadable).toBe(0)
      expect(reader.stats().securityEvents).toBe(0)

      // Every entry is now under k2: a cache that no longer holds k1 reads them all.
      const after = createCache({
        namespace: 'rot',
        l1: false,
        encryption: { keys: { k2: K2 }, current: 'k2' },
        l2: { redis: server().url, client: 'ioredis', timeout: '5s' },
      })
      try {
        const sample = Array.from({ length: 500 }, (_, n) => `item:${100 + n * 199}`)
        const values = await after.getMany<{ i: number }>(sample)
        expect(values.map((v) => v?.i)).toEqual(sample.map((k) => Number(k.slice(5))))
        expect(after.stats().unknownKeyIds).toBe(0)
      } finally {
        await after.close()
      }
      const last = (await server().commandBuffer('GET', `rot:v1:item:${ENTRIES - 1}`)) as Buffer
      expect(sealedKeyId(last)).toBe('k2')
      // A second pass finds nothing left to do.
      const again = await rotateKeys({
        l2: { redis: server().url, client: 'ioredis' },
        namespace: 'rot',
        encryption: during,
        batchSize: 5000,
      })
      expect(again.rotated).toBe(0)
      expect(again.current).toBe(ENTRIES)
    } finally {
      await reader.close()
    }
  }, 120_000)
})
