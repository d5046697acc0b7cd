// Not a case: how the L2 cases fill Redis before they measure.
//
// The keys are written by a cache of their own with a generous deadline and no breaker, in
// batches, and every write is checked: on a loaded machine a batch of plain sets can pass the
// default 500 ms deadline, and a failed set leaves its key queued for repair (read as a miss) or
// opens the breaker — the measured cache would then time fail-fast misses instead of L2 hits,
// and two builds side by side would not measure the same thing.

const BATCH = 50

/** Writes `values[i]` under `keys[i]` into the L2 of namespace `namespace`; throws if any write failed. */
export async function seedL2(createCache, { namespace, url, client, keys, values, ttl }) {
  const seeder = createCache({
    namespace,
    l1: false,
    ...(ttl === undefined ? {} : { ttl }),
    l2: { redis: url, client, timeout: '10s', breaker: false, writeErrors: 'throw' },
  })
  try {
    for (let i = 0; i < keys.length; i += BATCH) {
      await Promise.all(keys.slice(i, i + BATCH).map((k, j) => seeder.set(k, values[i + j])))
    }
  } finally {
    await seeder.close()
  }
}
