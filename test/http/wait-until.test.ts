/**
 * The HTTP layer's background revalidation (stale-while-revalidate) runs after the stale response
 * was sent: it is handed to `waitUntil`, so a serverless runtime keeps it alive.
 */
import type { AddressInfo } from 'node:net'
import express from 'express'
import { describe, expect, it } from 'vitest'
import { httpCache } from '../../dist/http/express.js'
import { createCache } from '../../dist/index.js'
import { manualClock } from '../helpers/clock.js'

describe('HttpCache waitUntil', () => {
  it('hands the background revalidation of a stale response; once it settles the new response is stored', async () => {
    const clock = manualClock()
    const cache = createCache({ namespace: 'http-wait-until', jitter: 0, clock })
    const handed: Promise<unknown>[] = []
    const http = httpCache({ cache, clock, waitUntil: (promise) => handed.push(promise) })
    const events: unknown[] = []
    http.on('revalidated', (event) => events.push(event))
    let version = 1
    const app = express()
    app.get('/news', http.route({ maxAge: '10s', staleWhileRevalidate: '1m' }), (_req, res) => {
      res.send(`news v${version}`)
    })
    const server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      expect(await (await fetch(`${base}/news`)).text()).toBe('news v1')
      expect(handed).toHaveLength(0)
      version = 2
      clock.advance(20_000)
      const stale = await fetch(`${base}/news`)
      expect(stale.headers.get('x-cache')).toBe('STALE')
      expect(await stale.text()).toBe('news v1')
      expect(handed).toHaveLength(1)
      await expect(handed[0]).resolves.toBeUndefined()
      expect(events).toEqual([expect.objectContaining({ ok: true, status: 200 })])
      const fresh = await fetch(`${base}/news`)
      expect(fresh.headers.get('x-cache')).toBe('HIT')
      expect(await fresh.text()).toBe('news v2')
    } finally {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await cache.close()
    }
  })

  it('refuses a waitUntil that is not a function with E_INVALID_OPTION', async () => {
    const cache = createCache({ namespace: 'http-wait-until-invalid' })
    try {
      const create = () => httpCache({ cache, waitUntil: 'later' as unknown as () => void })
      expect(create).toThrow(/waitUntil must be a function/)
      expect(create).toThrow(expect.objectContaining({ code: 'E_INVALID_OPTION' }))
    } finally {
      await cache.close()
    }
  })
})
