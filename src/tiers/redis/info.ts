import type { RemoteInfo } from '../tier.js'

/**
 * What {@link parseInfo} answers: the tier's figures plus the server's `run_id`, a random id each
 * Redis process draws at start. Counters such as `evicted_keys` start again from 0 when Redis
 * restarts; only a new run_id tells a restart whose new count already exceeds the old one.
 */
export interface RedisInfo extends RemoteInfo {
  /** Redis `run_id` (absent when the server does not report one). */
  readonly runId?: string
}

/** The figures `cache.health()` needs, from the text of `INFO` (its server, memory and stats sections). */
export function parseInfo(text: string): RedisInfo {
  const fields = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim())
  }
  const number = (name: string) => {
    const value = Number(fields.get(name))
    return Number.isFinite(value) ? value : 0
  }
  const runId = fields.get('run_id')
  return {
    usedMemory: number('used_memory'),
    maxMemory: number('maxmemory'),
    maxMemoryPolicy: fields.get('maxmemory_policy') ?? 'unknown',
    evictedKeys: number('evicted_keys'),
    ...(runId === undefined || runId === '' ? {} : { runId }),
  }
}

/**
 * The server run an INFO answer came from, if it says: {@link RedisInfo.runId}. `RemoteInfo` (the
 * tiers' shared type) has no such field, so it is read from what the Redis tier answered.
 */
export function runIdOf(info: RemoteInfo): string | undefined {
  return 'runId' in info && typeof info.runId === 'string' ? info.runId : undefined
}
