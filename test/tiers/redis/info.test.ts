import { describe, expect, it } from 'vitest'
import { parseInfo, runIdOf } from '../../../src/tiers/redis/info.js'

/** INFO text as Redis answers it: CRLF lines, `# Section` headers. */
const INFO = [
  '# Server',
  'redis_version:7.2.4',
  'run_id:3b4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d',
  'uptime_in_seconds:12',
  '',
  '# Memory',
  'used_memory:1048576',
  'maxmemory:2097152',
  'maxmemory_policy:allkeys-lfu',
  '',
  '# Stats',
  'evicted_keys:42',
  '',
].join('\r\n')

describe('parseInfo', () => {
  it('reads the figures and the run id', () => {
    const info = parseInfo(INFO)
    expect(info).toEqual({
      usedMemory: 1_048_576,
      maxMemory: 2_097_152,
      maxMemoryPolicy: 'allkeys-lfu',
      evictedKeys: 42,
      runId: '3b4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d',
    })
    expect(runIdOf(info)).toBe('3b4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d')
  })

  it('a server without run_id: no run id, the figures as before', () => {
    const info = parseInfo(INFO.replace(/run_id:[^\r]*\r\n/, ''))
    expect(info).not.toHaveProperty('runId')
    expect(runIdOf(info)).toBeUndefined()
    expect(runIdOf({ usedMemory: 0, maxMemory: 0, maxMemoryPolicy: 'x', evictedKeys: 0 })).toBeUndefined()
  })
})
