/**
 * Why is the hit ratio low? Each finding names a cause with the evidence behind it and what to
 * change. The evidence comes from the last reads the cache kept (AccessRing), the L1 entries it
 * dropped by expiry or for room (their keys, bounded), the TTLs it wrote per key group, and the
 * health window; "the size that would fix it" comes from replaying those reads through the L1's
 * own eviction policy at larger sizes (the simulator's engine, not a model).
 */
import { createPolicy, hashKey, type PolicyName } from '../eviction/index.js'
import { denseIds } from '../simulation/opt.js'
import { SimulatedCache } from '../simulation/sim-cache.js'
import { EVICTION_ADVICE } from './health.js'
import { canonicalKey, keyGroup } from './key-groups.js'
import type { CacheHealth, Diagnosis, Finding } from './types.js'

export type { Diagnosis, Finding, FindingKind } from './types.js'

/** What the cache hands to {@link diagnoseReads}. */
export interface DiagnoseInputs {
  cache: string
  now: number
  keys: readonly string[]
  times: readonly number[]
  hits: number
  /** Reads found in no tier. */
  misses: number
  /** Reads the L1 could not answer (found in the L2, or in no tier): what the L1's own misses are shares of. */
  l1Misses: number
  health: CacheHealth
  /** The TTL last written per key group (ms). */
  ttlByGroup: ReadonlyMap<string, number>
  /** Recently dropped L1 entries: key → why. */
  dropped: ReadonlyMap<string, 'capacity' | 'expired'>
  /** L1 misses whose key the L1 had dropped, by cause, since creation. */
  missesAfterExpiry: number
  missesAfterEviction: number
  l1?: { maxEntries: number; policy: PolicyName }
}

const MIN_READS = 50
/**
 * Findings of one per-group kind kept, the groups with the most reads first: keys (and so groups)
 * may be chosen by clients, and one finding per group made diagnoses of hundreds of KB, too large
 * for a published snapshot (256 KiB), so the instance vanished from every dashboard.
 */
const MAX_GROUP_FINDINGS = 10

/** The `limit` findings with the most `weight`, each saying how many groups had it. */
function strongest(found: { finding: Finding; weight: number }[], limit: number): Finding[] {
  return found
    .sort((a, b) => b.weight - a.weight)
    .slice(0, limit)
    .map(({ finding }) => ({
      ...finding,
      evidence: { ...finding.evidence, groupsWithFinding: found.length },
    }))
}

export function diagnoseReads(inputs: DiagnoseInputs): Diagnosis {
  const { keys, times } = inputs
  const findings: Finding[] = []
  const reads = inputs.hits + inputs.misses
  const overall = reads === 0 ? 1 : inputs.hits / reads

  const l2 = inputs.health.l2
  // Not connected is not yet down: before the first health() nothing confirmed Redis, nor failed.
  if (l2 !== undefined && !l2.connected && inputs.health.alerts.some((a) => a.name === 'l2-unavailable')) {
    findings.push({
      kind: 'l2-unavailable',
      severity: 'warning',
      message: `Redis does not answer${l2.error === undefined ? '' : ` (${l2.error})`}: every L1 miss goes to the origin.`,
      suggestion:
        'Check the Redis server, l2.redis (host, port, password) and the network; the breaker probes it every few seconds.',
      evidence: { breaker: l2.breaker, ...(l2.error === undefined ? {} : { error: l2.error }) },
    })
  }

  if (keys.length >= MIN_READS) {
    // Per key: reads, and the gaps between consecutive reads (reuse intervals).
    const last = new Map<string, number>()
    const readsOf = new Map<string, number>()
    const gapsByGroup = new Map<string, number[]>()
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as string
      const time = times[i] as number
      readsOf.set(key, (readsOf.get(key) ?? 0) + 1)
      const previous = last.get(key)
      if (previous !== undefined) {
        const group = keyGroup(key)
        let gaps = gapsByGroup.get(group)
        if (gaps === undefined) {
          gaps = []
          gapsByGroup.set(group, gaps)
        }
        gaps.push(time - previous)
      }
      last.set(key, time)
    }
    const distinct = readsOf.size

    // TTLs shorter than the time between reads of the same key: the entry is gone when it is needed.
    const expiredShare = shareOf(inputs.missesAfterExpiry, inputs.l1Misses)
    const shortTtls: { finding: Finding; weight: number }[] = []
    for (const [group, gaps] of gapsByGroup) {
      const ttl = inputs.ttlByGroup.get(group)
      if (ttl === undefined || !Number.isFinite(ttl) || gaps.length < 10) continue
      const outlived = gaps.filter((gap) => gap > ttl).length / gaps.length
      if (outlived < 0.2) continue
      const sorted = [...gaps].sort((a, b) => a - b)
      const median = sorted[Math.floor(sorted.length / 2)] as number
      const p90 = sorted[Math.floor(sorted.length * 0.9)] as number
      shortTtls.push({
        weight: gaps.length,
        finding: {
          kind: 'ttl-too-short',
          severity: 'warning',
          message: `${(outlived * 100).toFixed(0)}% of re-reads of "${group}" come after its TTL (${fmtMs(ttl)}) ran out: median time between reads ${fmtMs(median)}, p90 ${fmtMs(p90)}.`,
          suggestion: `Raise the TTL of "${group}" towards ${fmtMs(p90)} if that much staleness is acceptable (or invalidate on change and use a long TTL); grace keeps serving while it refreshes.`,
          evidence: {
            group,
            ttlMs: ttl,
            medianReuseMs: median,
            p90ReuseMs: p90,
            reReadsAfterTtl: outlived,
            missesAfterExpiry: expiredShare,
          },
        },
      })
    }
    findings.push(...strongest(shortTtls, MAX_GROUP_FINDINGS))

    // One-hit wonders: keys read once in the whole sample.
    let once = 0
    for (const count of readsOf.values()) if (count === 1) once++
    const onceShareOfReads = once / keys.length
    if (onceShareOfReads >= 0.3) {
      findings.push({
        kind: 'one-hit-wonders',
        severity: 'warning',
        message: `${(onceShareOfReads * 100).toFixed(0)}% of the last ${keys.length} reads were of keys read only once (${once} of ${distinct} keys): no cache can hit those.`,
        suggestion:
          "Keep them out of the L1 with the 'w-tinylfu' policy (its admission filter rejects one-off keys), or do not cache the groups they come from.",
        evidence: {
          sampledReads: keys.length,
          distinctKeys: distinct,
          readOnce: once,
          shareOfReads: onceShareOfReads,
        },
      })
    }

    // A key group whose keys hardly ever repeat: something per-request went into the key.
    const groupReads = new Map<string, { reads: number; keys: Set<string> }>()
    for (const [key, count] of readsOf) {
      const group = keyGroup(key)
      let entry = groupReads.get(group)
      if (entry === undefined) {
        entry = { reads: 0, keys: new Set() }
        groupReads.set(group, entry)
      }
      entry.reads += count
      entry.keys.add(key)
    }
    const explosions: { finding: Finding; weight: number }[] = []
    for (const [group, { reads: groupTotal, keys: groupKeys }] of groupReads) {
      const perKey = groupTotal / groupKeys.size
      if (groupTotal < MIN_READS || groupKeys.size < 0.8 * groupTotal) continue
      explosions.push({
        weight: groupTotal,
        finding: {
          kind: 'cardinality-explosion',
          severity: 'warning',
          message: `"${group}" had ${groupKeys.size} distinct keys for ${groupTotal} reads (${perKey.toFixed(2)} reads per key): its keys almost never repeat.`,
          suggestion: `Check how "${group}" keys are built: a timestamp, a random id, a session or an unsorted parameter list in the key defeats the cache. Build keys with key() from the parts that decide the value.`,
          evidence: { group, distinctKeys: groupKeys.size, reads: groupTotal, readsPerKey: perKey },
        },
      })
    }
    findings.push(...strongest(explosions, MAX_GROUP_FINDINGS))

    // Near-duplicates: different keys that differ only by case, spacing, separators or parameter order.
    const byCanonical = new Map<string, string>()
    let duplicates = 0
    const examples: string[] = []
    for (const key of readsOf.keys()) {
      const canonical = canonicalKey(key)
      const first = byCanonical.get(canonical)
      if (first === undefined) byCanonical.set(canonical, key)
      else if (first !== key) {
        duplicates++
        if (examples.length < 3) examples.push(`${keyGroup(first)} ~ ${keyGroup(key)}`)
      }
    }
    if (duplicates > 0 && duplicates >= distinct * 0.01) {
      findings.push({
        kind: 'near-duplicate-keys',
        severity: 'warning',
        message: `${duplicates} keys differ from another key only by case, spacing, separators or parameter order (e.g. ${examples.join('; ')}): the same data is cached (and missed) under several keys.`,
        suggestion:
          'Build every key for a piece of data in one place (key() or defineKeys), normalising case and parameter order.',
        evidence: { nearDuplicates: duplicates, distinctKeys: distinct, examples: examples.join('; ') },
      })
    }

    // Evictions: L1 misses of keys the L1 dropped for room, and the size that would have kept them.
    // A share of the L1's misses: with an L2 most of them are L2 hits, not misses of both tiers.
    const evictionShare = shareOf(inputs.missesAfterEviction, inputs.l1Misses)
    if (inputs.l1 !== undefined && Number.isFinite(inputs.l1.maxEntries) && evictionShare >= 0.1) {
      const curve = sizeCurve(keys, inputs.l1.policy, inputs.l1.maxEntries, distinct)
      const best = curve[curve.length - 1] as { size: number; hitRatio: number }
      const enough = curve.find((point) => point.hitRatio >= best.hitRatio - 0.01) ?? best
      const current = curve[0] as { size: number; hitRatio: number }
      findings.push({
        kind: 'evictions-high',
        severity: 'warning',
        message: `${(evictionShare * 100).toFixed(0)}% of L1 misses were of keys the L1 had evicted for room (l1.maxEntries ${inputs.l1.maxEntries}, policy ${inputs.l1.policy}). Replaying the last ${keys.length} reads: ${curve.map((point) => `${point.size} → ${(point.hitRatio * 100).toFixed(1)}%`).join(', ')}.`,
        suggestion:
          enough.size > current.size
            ? `Set l1.maxEntries to about ${enough.size} (hit ratio ${(current.hitRatio * 100).toFixed(1)}% → ${(enough.hitRatio * 100).toFixed(1)}% on these reads).`
            : 'A larger L1 would not help these reads: their keys are not reused within the sample.',
        evidence: {
          missesAfterEviction: evictionShare,
          maxEntries: inputs.l1.maxEntries,
          suggestedMaxEntries: enough.size,
          hitRatioNow: current.hitRatio,
          hitRatioSuggested: enough.hitRatio,
        },
      })
    }
  }

  const memory = inputs.health.l2?.memory
  if (memory !== undefined && memory.evictedKeysPerSecond > 0) {
    const target = memory.maxBytes > 0 ? Math.ceil((memory.maxBytes * 1.5) / 2 ** 20) : 0
    findings.push({
      kind: 'redis-evicting',
      severity: 'warning',
      message: `Redis evicts ${memory.evictedKeysPerSecond.toFixed(1)} keys/s at ${(memory.usage * 100).toFixed(0)}% of maxmemory (${memory.maxBytes} bytes, ${memory.policy}): entries other instances need are dropped before their TTL.`,
      suggestion:
        target > 0
          ? `Raise maxmemory (try ${target} MB) or shorten TTLs of rarely read groups. ${EVICTION_ADVICE}`
          : `Set maxmemory. ${EVICTION_ADVICE}`,
      evidence: {
        evictedKeysPerSecond: memory.evictedKeysPerSecond,
        usage: memory.usage,
        maxBytes: memory.maxBytes,
      },
    })
  }

  return {
    cache: inputs.cache,
    at: inputs.now,
    hitRatio: { window: inputs.health.window.hitRatio, overall },
    sampledReads: keys.length,
    findings,
  }
}

/** Hit ratio of `keys` through the L1's policy at the current size and at 2×, 4×, 8×, 16× (capped at all keys). */
function sizeCurve(
  keys: readonly string[],
  policy: PolicyName,
  current: number,
  distinct: number,
): { size: number; hitRatio: number }[] {
  const { ids, distinct: count } = denseIds(keys)
  const hashes = new Int32Array(count)
  for (let i = 0; i < keys.length; i++) hashes[ids[i] as number] = hashKey(keys[i] as string)
  const sizes: number[] = []
  for (let factor = 1; factor <= 16; factor *= 2) {
    const size = Math.max(1, Math.min(current * factor, distinct))
    if (!sizes.includes(size)) sizes.push(size)
  }
  return sizes.map((size) => {
    const cache = new SimulatedCache(createPolicy(policy, size), size)
    cache.replay(ids, 0, ids.length, hashes)
    return { size, hitRatio: cache.hits / Math.max(1, cache.hits + cache.misses) }
  })
}

/** `part / whole`, 0 when there is no whole. */
function shareOf(part: number, whole: number): number {
  return whole === 0 ? 0 : part / whole
}

function fmtMs(ms: number): string {
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)} h`
  if (ms >= 60_000) return `${(ms / 60_000).toFixed(1)} min`
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`
  return `${Math.round(ms)} ms`
}
