import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { KeyPatterns, VALUE_WORDS } from '../../dist/analysis/normalize/index.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { tempDir } from './helpers.js'

const FIRST = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy']
const LAST = ['smith', 'jones', 'brown', 'taylor', 'wilson', 'evans']
/** 60 digit-free user names (`alice.smith`): nothing in their form says they are values. */
const USERS = FIRST.flatMap((f) => LAST.map((l) => `${f}.${l}`))

describe('key groups: positions with many distinct words are values', () => {
  it('a digit-free user name becomes {v} once its position has more than VALUE_WORDS words', () => {
    const patterns = new KeyPatterns()
    for (const user of USERS.slice(0, VALUE_WORDS)) patterns.learn(`session:${user}:cart`)
    // Up to the threshold, the words may be names: they stay.
    expect(patterns.normalize('session:alice.smith:cart', 'read').signature).toBe('session:alice.smith:cart')
    for (const user of USERS) patterns.learn(`session:${user}:cart`)
    expect(patterns.normalize('session:alice.smith:cart', 'read')).toMatchObject({
      signature: 'session:{v}:cart',
      type: 'session:{v}:cart',
      key: 'session:alice.smith:cart',
      entity: 'session:alice.smith:cart',
    })
    expect(patterns.normalize('session:zed.newcomer:cart', 'read').signature).toBe('session:{v}:cart')
  })

  it('keeps the words of a real pattern, and the prefix, however many prefixes there are', () => {
    const patterns = new KeyPatterns()
    const parts = ['profile', 'cart', 'orders', 'settings', 'avatar']
    for (let id = 0; id < 500; id++) for (const part of parts) patterns.learn(`user:${id}:${part}`)
    for (let i = 0; i < 100; i++)
      patterns.learn(`prefix${'abcdefghij'[i % 10]}${'klmnopqrst'[Math.floor(i / 10)]}:x`)
    expect(patterns.normalize('user:42:profile', 'read').signature).toBe('user:{id}:profile')
    expect(patterns.normalize('user:7:avatar', 'read').signature).toBe('user:{id}:avatar')
    expect(patterns.normalize('prefixak:x', 'read').signature).toBe('prefixak:x')
  })
})

let tmp: Awaited<ReturnType<typeof tempDir>>
let report: AnalysisReport

beforeAll(async () => {
  tmp = await tempDir()
  // A Redis key trace: every user's session cart and profile, the users in turn, then again.
  const lines: string[] = []
  for (let round = 0; round < 20; round++)
    for (const user of USERS) lines.push(`session:${user}:cart`, `profile:${user}`, 'config:site')
  await writeFile(tmp.path('keys.log'), `${lines.join('\n')}\n`)
  report = await analyzeFile(tmp.path('keys.log'), { format: 'keys' })
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('analyze on a key trace with user names in its keys', () => {
  it('makes one group per pattern, not one per user, and names no user in any group', () => {
    expect(report.signatures.map((s) => s.signature).sort()).toEqual([
      'config:site',
      'profile:{v}',
      'session:{v}:cart',
    ])
    expect(report.types.map((t) => t.type).sort()).toEqual(['config:site', 'profile:{v}', 'session:{v}:cart'])
    const session = report.signatures.find((s) => s.signature === 'session:{v}:cart')
    expect(session?.reads).toBe(20 * USERS.length)
    expect(session?.distinctKeys).toBeGreaterThan(55)
    const names = JSON.stringify({
      signatures: report.signatures.map((s) => [s.signature, s.type, s.recommendation?.name]),
      types: report.types.map((t) => [t.type, t.signatures]),
      hot: report.hotSet.signatures,
      cache: report.cache.types,
    })
    for (const first of FIRST) expect(names).not.toContain(first)
  })
})
