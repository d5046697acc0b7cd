import type { RemoteInfo } from '../tier.js'

/** The figures `cache.health()` needs, from the text of `INFO memory` + `INFO stats`. */
export function parseInfo(text: string): RemoteInfo {
  const fields = new Map<string, string>()
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && !line.startsWith('#')) fields.set(line.slice(0, colon), line.slice(colon + 1).trim())
  }
  const number = (name: string) => {
    const value = Number(fields.get(name))
    return Number.isFinite(value) ? value : 0
  }
  return {
    usedMemory: number('used_memory'),
    maxMemory: number('maxmemory'),
    maxMemoryPolicy: fields.get('maxmemory_policy') ?? 'unknown',
    evictedKeys: number('evicted_keys'),
  }
}
