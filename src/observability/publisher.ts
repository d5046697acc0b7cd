/**
 * Instances publish their snapshots over the L2's bus (Redis pub/sub) on `!bus:<namespace>:stats`
 * (inside the bus' channel pattern, so the documented ACL covers it; a namespace has no ':'), so
 * one dashboard or `stratacache diagnose --redis` sees every instance. A snapshot carries counters,
 * histograms, health and key *groups* — never a key, a value or a tag.
 */

import { timerMs } from '../base/clock.js'
import { describeValue, expectObject } from '../base/describe.js'
import { InvalidOptionError } from '../errors.js'
import type { Bus } from '../invalidation/bus.js'
import { checkSnapshot } from './snapshot-check.js'
import type { CacheSnapshot } from './types.js'

/** Snapshots larger than this are not published (nor accepted). */
export const MAX_SNAPSHOT_BYTES = 256 * 1024

export function snapshotChannel(namespace: string): string {
  return `!bus:${namespace}:stats`
}

/**
 * Publishes `take()` every `intervalMs` on the namespace's stats channel; resolves nothing, never
 * throws (a failed publish waits for the next tick). Returns the function that stops it. The
 * timer is unref'd: it never keeps a process alive.
 */
export function publishSnapshots(
  namespace: string,
  bus: Bus,
  intervalMs: number,
  take: () => Promise<CacheSnapshot>,
): () => void {
  let running = false
  let warned = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    take()
      .then((snapshot) => {
        const bytes = publishable(snapshot)
        if (bytes !== undefined) return bus.publish(snapshotChannel(namespace), bytes)
        if (!warned) {
          warned = true
          process.emitWarning(
            `stratacache: the snapshot of cache '${snapshot.cache}' is over ${MAX_SNAPSHOT_BYTES} bytes even without its diagnosis: it is not published (dashboards and diagnose do not see this instance).`,
          )
        }
        return undefined
      })
      .catch(() => {
        // Redis is down or the breaker is open: the next tick tries again.
      })
      .finally(() => {
        running = false
      })
  }, timerMs(intervalMs))
  timer.unref()
  return () => clearInterval(timer)
}

/** Key groups a snapshot keeps when it must be made smaller to be published. */
const GROUPS_KEPT = 10

/**
 * The snapshot's bytes, within {@link MAX_SNAPSHOT_BYTES}: as it is, or without its diagnosis and
 * with its top key groups only (the parts that grow with the keys an instance sees); undefined
 * when even that is too large. Dropped whole, an instance vanished from dashboards and diagnose.
 */
function publishable(snapshot: CacheSnapshot): Buffer | undefined {
  const bytes = Buffer.from(JSON.stringify(snapshot))
  if (bytes.length <= MAX_SNAPSHOT_BYTES) return bytes
  const smaller = Buffer.from(
    JSON.stringify({
      ...snapshot,
      diagnosis: undefined,
      hotKeyGroups: snapshot.hotKeyGroups.slice(0, GROUPS_KEPT),
    }),
  )
  return smaller.length <= MAX_SNAPSHOT_BYTES ? smaller : undefined
}

/** The cache surface {@link subscribeSnapshots} needs (a `Cache`, typically with `l1: false`). */
export interface SnapshotSource {
  readonly name: string
  readonly l2?: { readonly bus?: Bus } | undefined
}

/**
 * Calls `listener` with every snapshot instances of `cache.name`'s namespace publish. Malformed or
 * oversized messages, and snapshots of another cache name, are dropped; a listener that throws is
 * not unsubscribed (the error goes no further). Resolves to the function that unsubscribes.
 */
export async function subscribeSnapshots(
  cache: SnapshotSource,
  listener: (snapshot: CacheSnapshot) => void,
): Promise<() => Promise<void>> {
  const bus = expectObject(cache, 'subscribeSnapshots(cache)').l2?.bus
  if (typeof listener !== 'function') {
    throw new InvalidOptionError(
      `subscribeSnapshots(cache, listener): the listener must be a function; got ${describeValue(listener)}.`,
    )
  }
  if (bus === undefined) {
    throw new InvalidOptionError(
      'subscribeSnapshots needs a cache with a Redis L2 (its bus carries the snapshots): createCache({ namespace, l1: false, l2: { redis } }).',
    )
  }
  return bus.subscribe(
    snapshotChannel(cache.name),
    (bytes) => {
      const snapshot = parseSnapshot(bytes)
      // The channel is the namespace's: a snapshot naming another cache is not one of its instances
      // (and its name would become one more `cache` label value).
      if (snapshot === undefined || snapshot.cache !== cache.name) return
      try {
        listener(snapshot)
      } catch {
        // This runs inside the Redis client's reply parser: a throw here would be an uncaught
        // exception in the host process. The listener's failure is its own; the next snapshot
        // reaches it again.
      }
    },
    () => {},
  )
}

/**
 * A published snapshot, or undefined when the bytes are not one: not JSON, over
 * {@link MAX_SNAPSHOT_BYTES}, or with a field missing, of the wrong type or not finite (see
 * `snapshot-check.ts`). The result holds only the known fields.
 */
export function parseSnapshot(bytes: Uint8Array): CacheSnapshot | undefined {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidOptionError(
      `parseSnapshot(bytes): the bytes must be a Uint8Array (a Buffer); got ${describeValue(bytes)}.`,
    )
  }
  if (bytes.length > MAX_SNAPSHOT_BYTES) return undefined
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'))
  } catch {
    return undefined
  }
  return checkSnapshot(value)
}
