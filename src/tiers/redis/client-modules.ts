import { createRequire } from 'node:module'
import { InvalidOptionError } from '../../errors.js'

const INSTALL: Record<'ioredis' | 'redis', string> = {
  ioredis:
    "l2.client 'ioredis' needs the ioredis package: run `npm install ioredis` (or choose l2.client 'redis').",
  redis:
    "l2.client 'redis' needs the node-redis package: run `npm install redis` (or choose l2.client 'ioredis').",
}

/** Loads a Redis client package (an optional peer), or says how to install it. */
export function requireClient<T>(name: 'ioredis' | 'redis'): T {
  try {
    return createRequire(import.meta.url)(name) as T
  } catch (cause) {
    throw new InvalidOptionError(INSTALL[name], { cause })
  }
}

/** Delay before reconnect attempt `attempt`: exponential from 50 ms, capped at 2 s, forever (the L1 serves meanwhile). */
export function reconnectDelay(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 2000)
}
