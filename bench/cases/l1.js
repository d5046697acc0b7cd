// Goal 1: the L1 hit path. `node bench/cases/l1.js <impl>`; every implementation holds the same
// 10,000 products (all resident) and reads them in the same seeded pseudo-random order.
import { KEY_COUNT, makeKeys, makeSequence, products, SEQ_MASK, serve, strataModule } from '../lib/common.js'

const impl = process.argv[2]
// `strata-get@sieve` etc.: the same case with another L1 eviction policy (informational rows).
const [base, policy] = impl.split('@')
const keys = makeKeys()
const values = products(KEY_COUNT, 'medium')
const seq = makeSequence()

/** Each returns { describe, loop(ops) → misses } with the op inlined in its own loop. */
const IMPLS = {
  // The floor: a bare Map-backed LRU behind one async function call and one await.
  async floor() {
    const { LRUCache } = await import('lru-cache')
    const lru = new LRUCache({ max: KEY_COUNT })
    for (let i = 0; i < KEY_COUNT; i++) lru.set(keys[i], values[i])
    return {
      describe: 'await (async () => lru.get(k))() — lru-cache 11',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) {
          const k = keys[seq[i & SEQ_MASK]]
          if ((await (async () => lru.get(k))()) === undefined) misses++
        }
        return misses
      },
    }
  },
  async 'lru-sync'() {
    const { LRUCache } = await import('lru-cache')
    const lru = new LRUCache({ max: KEY_COUNT })
    for (let i = 0; i < KEY_COUNT; i++) lru.set(keys[i], values[i])
    return {
      describe: 'lru.get(k), sync — lru-cache 11',
      loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) if (lru.get(keys[seq[i & SEQ_MASK]]) === undefined) misses++
        return misses
      },
    }
  },
  async 'strata-get'() {
    const cache = await strata(policy)
    return {
      describe: 'await cache.get(k) — createCache({ l1: { maxEntries: 10000 }, l2: false })',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) if ((await cache.get(keys[seq[i & SEQ_MASK]])) === undefined) misses++
        return misses
      },
    }
  },
  async 'strata-getOrSet'() {
    const cache = await strata(policy)
    const factory = () => {
      throw new Error('factory called on a hit')
    }
    return {
      describe: 'await cache.getOrSet({ key, factory }) hit',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) {
          if ((await cache.getOrSet({ key: keys[seq[i & SEQ_MASK]], factory })) === undefined) misses++
        }
        return misses
      },
    }
  },
  // Issue 4's goal: the getOrSet hit path with every resilience feature on vs all of them off.
  async 'strata-getOrSet-resilient'() {
    return getOrSetCase(
      await strata(policy, RESILIENT),
      'getOrSet hit — grace 6h, failSafeBackoff, timeout { soft 100ms, hard 2s }, earlyRefresh β=1, entries loaded by a factory',
    )
  },
  async 'strata-getOrSet-plain'() {
    return getOrSetCase(
      await strata(policy, PLAIN),
      'getOrSet hit — grace off, earlyRefresh off, no timeouts, entries loaded by a factory',
    )
  },
  // Issue 7's goal: the getOrSet hit path with metrics on (the default: counters, sampled latency
  // histograms, the recent-reads ring) vs off (observability: false; counters only).
  async 'strata-getOrSet-metrics-on'() {
    return getOrSetCase(
      await strata(policy, { observability: {} }),
      'getOrSet hit — observability on (default): counters, latency sampled 1/64, recent reads',
    )
  },
  async 'strata-getOrSet-metrics-off'() {
    return getOrSetCase(
      await strata(policy, { observability: false }),
      'getOrSet hit — observability: false (counters only)',
    )
  },
  async 'strata-peek'() {
    const cache = await strata(policy)
    return {
      describe: 'cache.peek(k), sync',
      loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) if (cache.peek(keys[seq[i & SEQ_MASK]]) === undefined) misses++
        return misses
      },
    }
  },
  async 'bento-get'() {
    const bento = await bentoCache(true)
    return {
      describe: 'await bento.get({ key }) — memoryDriver({ maxItems: 10000 }) (default serialize: true)',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++)
          if ((await bento.get({ key: keys[seq[i & SEQ_MASK]] })) === undefined) misses++
        return misses
      },
    }
  },
  async 'bento-getOrSet'() {
    const bento = await bentoCache(true)
    const factory = () => {
      throw new Error('factory called on a hit')
    }
    return {
      describe: 'await bento.getOrSet({ key, factory }) hit — memoryDriver (default serialize: true)',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) {
          if ((await bento.getOrSet({ key: keys[seq[i & SEQ_MASK]], factory })) === undefined) misses++
        }
        return misses
      },
    }
  },
  async 'bento-get-noser'() {
    const bento = await bentoCache(false)
    return {
      describe: 'await bento.get({ key }) — memoryDriver({ maxItems: 10000, serialize: false })',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++)
          if ((await bento.get({ key: keys[seq[i & SEQ_MASK]] })) === undefined) misses++
        return misses
      },
    }
  },
  async 'bento-getOrSet-noser'() {
    const bento = await bentoCache(false)
    const factory = () => {
      throw new Error('factory called on a hit')
    }
    return {
      describe: 'await bento.getOrSet({ key, factory }) hit — memoryDriver({ serialize: false })',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) {
          if ((await bento.getOrSet({ key: keys[seq[i & SEQ_MASK]], factory })) === undefined) misses++
        }
        return misses
      },
    }
  },
  async 'cache-manager'() {
    const { createCache } = await import('cache-manager')
    const cm = createCache()
    for (let i = 0; i < KEY_COUNT; i++) await cm.set(keys[i], values[i])
    return {
      describe: `await cm.get(k) — cache-manager 7 createCache() default store (Keyv over a ${cm.stores[0].store.constructor.name})`,
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) if ((await cm.get(keys[seq[i & SEQ_MASK]])) == null) misses++
        return misses
      },
    }
  },
  async 'cache-manager-cacheablememory'() {
    const { createCache } = await import('cache-manager')
    const { createKeyv } = await import('cacheable')
    const cm = createCache({ stores: [createKeyv({ lruSize: KEY_COUNT })] })
    for (let i = 0; i < KEY_COUNT; i++) await cm.set(keys[i], values[i])
    return {
      describe:
        'await cm.get(k) — cache-manager 7 with Keyv over CacheableMemory (createKeyv from cacheable)',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) if ((await cm.get(keys[seq[i & SEQ_MASK]])) == null) misses++
        return misses
      },
    }
  },
  async cacheable() {
    const { Cacheable } = await import('cacheable')
    const c = new Cacheable()
    for (let i = 0; i < KEY_COUNT; i++) await c.set(keys[i], values[i])
    return {
      describe: 'await c.get(k) — cacheable 2, new Cacheable() (primary: Keyv over CacheableMemory)',
      async loop(ops) {
        let misses = 0
        for (let i = 0; i < ops; i++) if ((await c.get(keys[seq[i & SEQ_MASK]])) === undefined) misses++
        return misses
      },
    }
  },
}

const RESILIENT = {
  grace: '6h',
  failSafeBackoff: '30s',
  timeout: { soft: '100ms', hard: '2s' },
  earlyRefresh: 1,
  load: true,
}
const PLAIN = { grace: false, earlyRefresh: false, load: true }

function getOrSetCase(cache, describe) {
  const factory = () => {
    throw new Error('factory called on a hit')
  }
  return {
    describe,
    async loop(ops) {
      let misses = 0
      for (let i = 0; i < ops; i++) {
        if ((await cache.getOrSet({ key: keys[seq[i & SEQ_MASK]], factory })) === undefined) misses++
      }
      return misses
    },
  }
}

async function strata(policy, { load = false, ...options } = {}) {
  const { createCache } = await strataModule()
  const cache = createCache({
    l1: policy ? { maxEntries: KEY_COUNT, policy } : { maxEntries: KEY_COUNT },
    l2: false,
    ...options,
  })
  for (let i = 0; i < KEY_COUNT; i++) {
    // `load`: filled through getOrSet with a factory that takes a little time, so every entry
    // records a factory duration and carries an early-refresh window (the resilient shape).
    if (load)
      await cache.getOrSet({
        key: keys[i],
        factory: () => new Promise((r) => setImmediate(() => r(values[i]))),
      })
    else await cache.set(keys[i], values[i])
  }
  const stats = cache.stats()
  if (stats.l1Entries !== KEY_COUNT) throw new Error(`only ${stats.l1Entries} keys resident`)
  return cache
}

async function bentoCache(serialize) {
  const { BentoCache, bentostore } = await import('bentocache')
  const { memoryDriver } = await import('bentocache/drivers/memory')
  const bento = new BentoCache({
    default: 'memory',
    ttl: '1h',
    stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: KEY_COUNT, serialize })) },
  })
  for (let i = 0; i < KEY_COUNT; i++) await bento.set({ key: keys[i], value: values[i] })
  return bento
}

serve(async () => {
  const make = IMPLS[base]
  if (make === undefined) throw new Error(`unknown impl ${impl}; one of ${Object.keys(IMPLS).join(', ')}`)
  const { describe, loop } = await make()
  let misses = 0
  const run = async (ops) => {
    misses += await loop(ops)
  }
  return {
    describe: policy ? `${describe} — l1.policy '${policy}'` : describe,
    measurements: { hit: { run, minOps: 1000 } },
    finish: () => ({ misses }),
  }
})
