import { describeValue } from '../base/describe.js'
import { InvalidOptionError } from '../errors.js'
import { LruPolicy } from './lru.js'
import type { EvictionPolicy, PolicyName } from './policy.js'
import { S3FifoPolicy } from './s3fifo.js'
import { SievePolicy } from './sieve.js'
import { WTinyLfuPolicy } from './w-tinylfu.js'

export { type EvictionPolicy, hashKey, type PolicyName } from './policy.js'
export { LruPolicy, S3FifoPolicy, SievePolicy, WTinyLfuPolicy }

export const POLICY_NAMES: readonly PolicyName[] = ['lru', 'sieve', 's3fifo', 'w-tinylfu']

/** A policy by name, sized for `capacity` resident entries. */
export function createPolicy(name: PolicyName, capacity: number): EvictionPolicy {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new InvalidOptionError(`An eviction policy needs an integer capacity ≥ 1; got ${capacity}.`)
  }
  switch (name) {
    case 'lru':
      return new LruPolicy(capacity)
    case 'sieve':
      return new SievePolicy(capacity)
    case 's3fifo':
      return new S3FifoPolicy(capacity)
    case 'w-tinylfu':
      return new WTinyLfuPolicy(capacity)
    default:
      throw new InvalidOptionError(
        `Unknown eviction policy ${describeValue(name)}: use one of ${POLICY_NAMES.join(', ')}.`,
      )
  }
}
