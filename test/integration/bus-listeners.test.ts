/**
 * The Redis tier's bus (`stratacache/redis`: `tier.bus.subscribe`) runs its listeners inside the
 * client's socket handler: one that throws must neither end the host process nor keep the
 * message from the other listeners of its channel.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { createRedisTier } from '../../dist/tiers/redis/index.js'
import { CLIENTS } from '../helpers/fixtures.js'
import { useRedisServer } from '../helpers/redis-server.js'

const server = useRedisServer()

describe.each(CLIENTS)('bus listeners (client %s)', (client) => {
  const closing: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const close of closing.splice(0)) await close()
  })

  it('a listener that throws is reported as a warning; the other listeners of its channel still get the message', async () => {
    const tier = createRedisTier(
      { redis: server().url, client },
      { timeoutMs: 1000, batchSize: 100, onError: () => {} },
    )
    closing.push(() => tier.close())
    const bus = tier.bus
    if (bus === undefined) throw new Error('the Redis tier has a bus')
    const uncaught: unknown[] = []
    const onUncaught = (error: unknown) => uncaught.push(error)
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('uncaughtException', onUncaught)
    process.on('warning', onWarning)
    closing.push(async () => {
      process.off('uncaughtException', onUncaught)
      process.off('warning', onWarning)
    })

    const heard: string[] = []
    let received!: () => void
    const second = new Promise<void>((resolve) => {
      received = resolve
    })
    const channel = `!bus:listeners:${client}`
    await bus.subscribe(
      channel,
      () => {
        throw new Error('a listener bug')
      },
      () => {},
    )
    await bus.subscribe(
      channel,
      (message) => {
        heard.push(Buffer.from(message).toString())
        received()
      },
      () => {},
    )
    await bus.publish(channel, Buffer.from('hello'))
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      second,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5000)
      }),
    ])
    clearTimeout(timer)
    await new Promise<void>((resolve) => setImmediate(resolve))
    expect(heard).toEqual(['hello'])
    expect(uncaught).toEqual([])
    expect(warnings.map((w) => w.message).join('\n')).toContain('a listener bug')
  })
})
