import { writeFile } from 'node:fs/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { analyzeFile } from '../../dist/analysis/analyze.js'
import { UrlPatterns, VALUE_WORDS } from '../../dist/analysis/normalize/index.js'
import type { AnalysisReport } from '../../dist/analysis/report-model.js'
import { tempDir } from './helpers.js'

const FIRST = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy']
const LAST = ['smith', 'jones', 'brown', 'taylor', 'wilson', 'evans']
/** 60 digit-free user names (`alice.smith`): nothing in their form says they are values. */
const USERS = FIRST.flatMap((f) => LAST.map((l) => `${f}.${l}`))

describe('URL routes: path positions with many distinct words are values', () => {
  it('a digit-free slug becomes :v, the entity of its resource, once its position has more than VALUE_WORDS words', () => {
    const patterns = new UrlPatterns()
    for (const user of USERS.slice(0, VALUE_WORDS)) patterns.learn(`/api/users/${user}`)
    expect(patterns.normalize('/api/users/alice.smith', 'GET').signature).toBe('/api/users/alice.smith')
    for (const user of USERS) patterns.learn(`/api/users/${user}/orders`)
    expect(patterns.normalize('/api/users/alice.smith', 'GET')).toMatchObject({
      signature: '/api/users/:v',
      type: 'users',
      entity: 'alice.smith',
      shape: 'entity',
      key: '/api/users/alice.smith',
    })
    expect(patterns.normalize('/api/users/alice.smith/orders', 'GET')).toMatchObject({
      signature: '/api/users/:v/orders',
      type: 'orders',
    })
  })

  it('keeps real route words, top-level pages and static files', () => {
    const patterns = new UrlPatterns()
    for (let id = 0; id < 300; id++)
      for (const part of ['orders', 'profile', 'avatar']) patterns.learn(`/api/users/${id}/${part}`)
    for (const page of USERS) patterns.learn(`/${page}`)
    for (const page of USERS) patterns.learn(`/static/${page}.css`)
    expect(patterns.normalize('/api/users/42/orders', 'GET').signature).toBe('/api/users/:id/orders')
    expect(patterns.normalize('/alice.smith', 'GET').signature).toBe('/alice.smith')
    expect(patterns.normalize('/static/alice.smith.css', 'GET').signature).toBe('/static/alice.smith.css')
  })
})

let tmp: Awaited<ReturnType<typeof tempDir>>
let report: AnalysisReport

beforeAll(async () => {
  tmp = await tempDir()
  const lines: string[] = []
  let second = 0
  const line = (path: string, method = 'GET'): string => {
    second++
    const time = `05/Jan/2026:09:${String(Math.floor(second / 60) % 60).padStart(2, '0')}:${String(second % 60).padStart(2, '0')} +0000`
    return `10.0.0.1 - - [${time}] "${method} ${path} HTTP/1.1" 200 512 "-" "curl/8" 0.002`
  }
  for (let round = 0; round < 10; round++)
    for (const user of USERS) lines.push(line(`/api/users/${user}`), line(`/api/users/${user}/orders`))
  await writeFile(tmp.path('access.log'), `${lines.join('\n')}\n`)
  report = await analyzeFile(tmp.path('access.log'), { format: 'combined' })
}, 60_000)
afterAll(async () => {
  await tmp.cleanup()
})

describe('analyze on an access log with user names in its paths', () => {
  it('makes one route per pattern and one data type per resource, naming no user', () => {
    expect(report.signatures.map((s) => s.signature).sort()).toEqual([
      '/api/users/:v',
      '/api/users/:v/orders',
    ])
    expect(report.types.map((t) => t.type).sort()).toEqual(['orders', 'users'])
    const users = report.types.find((t) => t.type === 'users')
    expect(users?.reads).toBe(10 * USERS.length)
    const names = JSON.stringify({
      signatures: report.signatures.map((s) => [s.signature, s.type, s.recommendation?.name]),
      types: report.types.map((t) => [t.type, t.signatures]),
    })
    for (const first of FIRST) expect(names).not.toContain(first)
  })
})
