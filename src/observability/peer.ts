/**
 * Optional peers (prom-client) are loaded only when a feature that needs them runs, so users who
 * never ask for Prometheus never install or load it. prom-client is CommonJS, so `createRequire`
 * loads it synchronously and keeps `registerPrometheus` synchronous.
 */
import { createRequire } from 'node:module'
import type * as PromClient from 'prom-client'
import { InvalidOptionError } from '../errors.js'

const require = createRequire(import.meta.url)

export type PromClientModule = typeof PromClient

let promClient: PromClientModule | undefined

/** prom-client, or undefined when it is not installed. */
export function tryLoadPromClient(): PromClientModule | undefined {
  if (promClient !== undefined) return promClient
  try {
    promClient = require('prom-client') as PromClientModule
  } catch (error) {
    if ((error as { code?: unknown }).code === 'MODULE_NOT_FOUND') return undefined
    throw error
  }
  return promClient
}

/** prom-client, or an error saying how to install it (`what` names the feature that needs it). */
export function loadPromClient(what: string): PromClientModule {
  const client = tryLoadPromClient()
  if (client === undefined) {
    throw new InvalidOptionError(
      `${what} needs prom-client, which is not installed: run \`npm install prom-client\` (an optional peer dependency of stratacache), or pass your own \`registry\`.`,
    )
  }
  return client
}
