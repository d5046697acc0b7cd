// Raw Redis clients as a user would open them (library defaults), values as Buffers.

export async function ioredisClient(url) {
  const { Redis } = await import('ioredis')
  const client = new Redis(url, { lazyConnect: true })
  await client.connect()
  return {
    name: 'ioredis',
    native: client,
    get: (key) => client.getBuffer(key),
    async setMany(entries) {
      const pipeline = client.pipeline()
      for (const [key, value] of entries) pipeline.set(key, value, 'PX', 3_600_000)
      await pipeline.exec()
    },
    /** One explicit pipeline of GETs: one write, one round trip. */
    async pipelineGet(keys) {
      const pipeline = client.pipeline()
      for (const key of keys) pipeline.getBuffer(key)
      const results = await pipeline.exec()
      return results.map(([error, value]) => {
        if (error) throw error
        return value
      })
    },
    info: (section) => client.info(section),
    close: () => client.quit(),
  }
}

/** `commandTimeout: 0` turns off node-redis's per-command timeout (default 5 s, an AbortSignal per command). */
export async function nodeRedisClient(url, { commandTimeout } = {}) {
  const { createClient, RESP_TYPES } = await import('redis')
  const raw = createClient(
    commandTimeout === undefined ? { url } : { url, commandOptions: { timeout: commandTimeout } },
  )
  raw.on('error', (error) => console.error('node-redis:', error.message))
  await raw.connect()
  const client = raw.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer })
  return {
    name: 'redis',
    native: raw,
    get: (key) => client.get(key),
    async setMany(entries) {
      const multi = client.multi()
      for (const [key, value] of entries) multi.set(key, value, { PX: 3_600_000 })
      await multi.execAsPipeline()
    },
    async pipelineGet(keys) {
      const multi = client.multi()
      for (const key of keys) multi.get(key)
      return multi.execAsPipeline()
    },
    info: async (section) => String(await raw.info(section)),
    close: () => raw.close(),
  }
}

export function openClient(name, url) {
  if (name === 'ioredis') return ioredisClient(url)
  if (name === 'redis') return nodeRedisClient(url)
  if (name === 'redis-notimeout') return nodeRedisClient(url, { commandTimeout: 0 })
  throw new Error(`unknown client ${name}`)
}
