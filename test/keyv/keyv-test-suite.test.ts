// Keyv's own published contract (@keyv/test-suite, pinned in devDependencies), run unmodified
// against stratacache/keyv: L1 only, and L1 + a real redis-server L2 through both clients.
import keyvTestSuite from '@keyv/test-suite'
import Keyv from 'keyv'
import * as vitest from 'vitest'
import { afterAll, beforeAll, describe } from 'vitest'
import { type Cache, createCache } from '../../dist/index.js'
import { KeyvStratacache } from '../../dist/keyv/index.js'
import { uniqueNamespace, useRedisServer } from '../helpers/redis-server.js'

/** One cache per block (the suite builds many adapters per test: they must see the same data). */
function suiteOver(open: () => Cache): void {
  let cache: Cache | undefined
  beforeAll(() => {
    cache = open()
  })
  afterAll(async () => {
    await cache?.close()
  })
  keyvTestSuite(vitest, Keyv, () => {
    if (cache === undefined) throw new Error('the cache of this block is not open')
    return new KeyvStratacache(cache)
  })
}

describe('@keyv/test-suite over an L1-only cache', () => {
  suiteOver(() => createCache({ namespace: uniqueNamespace('keyv-l1') }))
})

describe('@keyv/test-suite over L1 + redis-server L2', () => {
  const server = useRedisServer()
  for (const client of ['ioredis', 'redis'] as const) {
    describe(client, () => {
      suiteOver(() =>
        createCache({ namespace: uniqueNamespace(`keyv-${client}`), l2: { redis: server().url, client } }),
      )
    })
  }
})
