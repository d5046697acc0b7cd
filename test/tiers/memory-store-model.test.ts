import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { POLICY_NAMES, type PolicyName } from '../../dist/eviction/index.js'
import { hashKeyInt32 } from '../../dist/eviction/policy.js'
import { MemoryStore, MISS } from '../../dist/tiers/memory/memory-store.js'

/*
 * F8 (docs: /work/shared/reliability.md): the L1 per key against a Map reference. The reference
 * holds what the store holds — an entry leaves it only by delete, clear, an oversized overwrite,
 * or when the store reports it removed (onRemoved: evicted or expired) — so every answer must
 * agree exactly: values, misses, presence, sizes, expiries and the byte count.
 */

const NEVER = Number.POSITIVE_INFINITY

interface Entry {
  value: number
  expiresAt: number
  size: number
}

interface Model {
  entries: Map<string, Entry>
  now: number
}

interface Real {
  store: MemoryStore
  maxEntries: number
  maxBytes: number
  /** Keys the store reported removed during the current command. */
  removed: { key: string; cause: 'capacity' | 'expired' }[]
}

/** Keys that stress the index and any object-keyed bookkeeping (filled with hash collisions in beforeAll). */
const awkwardKeys: string[] = [
  '',
  'a',
  '0',
  '1',
  '00',
  '-0',
  '1e3',
  'NaN',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'x'.repeat(5000),
  `${'x'.repeat(4999)}y`,
  '\uD800',
  '🔑',
]

/** Pairs of distinct keys with the same 32-bit hash (same home bucket and tag in every table size). */
function collidingKeys(pairsWanted: number): string[] {
  const seen = new Map<number, string>()
  const found: string[] = []
  for (let i = 0; found.length < pairsWanted * 2; i++) {
    const key = `c${i.toString(36)}`
    const hash = hashKeyInt32(key)
    const other = seen.get(hash)
    if (other !== undefined) found.push(other, key)
    else seen.set(hash, key)
  }
  return found
}

function applyRemovals(model: Model, real: Real): void {
  for (const { key, cause } of real.removed) {
    const entry = model.entries.get(key)
    expect(
      entry,
      `${cause} removal of ${JSON.stringify(key).slice(0, 40)} the store did not hold`,
    ).toBeDefined()
    if (cause === 'expired') expect((entry as Entry).expiresAt).toBeLessThanOrEqual(model.now)
    model.entries.delete(key)
  }
  real.removed.length = 0
}

function checkAgreement(model: Model, real: Real): void {
  const { store } = real
  expect(store.size).toBe(model.entries.size)
  expect(store.size).toBeLessThanOrEqual(real.maxEntries)
  let bytes = 0
  for (const [key, entry] of model.entries) {
    bytes += entry.size
    expect(store.has(key)).toBe(true)
    expect(store.sizeOf(key)).toBe(entry.size)
    expect(store.expiryOf(key)).toBe(entry.expiresAt)
  }
  expect(store.bytes).toBe(bytes)
  expect(store.bytes).toBeLessThanOrEqual(real.maxBytes)
  expect([...store.keys()].sort()).toEqual([...model.entries.keys()].sort())
}

class SetCommand implements fc.Command<Model, Real> {
  constructor(
    readonly key: string,
    readonly value: number,
    readonly ttl: number | undefined,
    readonly size: number,
  ) {}
  check(): boolean {
    return true
  }
  run(model: Model, real: Real): void {
    const expiresAt = this.ttl === undefined ? NEVER : model.now + this.ttl
    // Set first: the store may report the newcomer itself removed (admission refused).
    if (this.size > real.maxBytes) model.entries.delete(this.key)
    else model.entries.set(this.key, { value: this.value, expiresAt, size: this.size })
    real.store.set(this.key, this.value, expiresAt, this.size, 0, [], model.now)
    applyRemovals(model, real)
    checkAgreement(model, real)
  }
  toString(): string {
    return `set(${JSON.stringify(this.key).slice(0, 20)}, ${this.value}, ttl ${this.ttl}, size ${this.size})`
  }
}

/** Many distinct new keys at once: grows the typed arrays and the index past their first sizes. */
class FillCommand implements fc.Command<Model, Real> {
  constructor(
    readonly from: number,
    readonly count: number,
    /** 0: a store bounded by bytes only then holds more entries than the slots it planned for. */
    readonly size: number,
  ) {}
  check(): boolean {
    return true
  }
  run(model: Model, real: Real): void {
    for (let i = this.from; i < this.from + this.count; i++) {
      const key = `fill${i}`
      if (this.size > real.maxBytes) model.entries.delete(key)
      else model.entries.set(key, { value: i, expiresAt: NEVER, size: this.size })
      real.store.set(key, i, NEVER, this.size, 0, [], model.now)
      applyRemovals(model, real)
    }
    checkAgreement(model, real)
  }
  toString(): string {
    return `fill(${this.from}, ${this.count}, size ${this.size})`
  }
}

class GetCommand implements fc.Command<Model, Real> {
  constructor(
    readonly key: string,
    readonly viaLookup: boolean,
  ) {}
  check(): boolean {
    return true
  }
  run(model: Model, real: Real): void {
    const entry = model.entries.get(this.key)
    const expected = entry !== undefined && entry.expiresAt > model.now ? entry.value : MISS
    const got = this.viaLookup ? real.store.lookup(this.key, model.now) : real.store.get(this.key, model.now)
    expect(got).toBe(expected)
    applyRemovals(model, real)
    checkAgreement(model, real)
  }
  toString(): string {
    return `${this.viaLookup ? 'lookup' : 'get'}(${JSON.stringify(this.key).slice(0, 20)})`
  }
}

class DeleteCommand implements fc.Command<Model, Real> {
  constructor(readonly key: string) {}
  check(): boolean {
    return true
  }
  run(model: Model, real: Real): void {
    expect(real.store.delete(this.key)).toBe(model.entries.delete(this.key))
    applyRemovals(model, real)
    checkAgreement(model, real)
  }
  toString(): string {
    return `delete(${JSON.stringify(this.key).slice(0, 20)})`
  }
}

class HasCommand implements fc.Command<Model, Real> {
  constructor(readonly key: string) {}
  check(): boolean {
    return true
  }
  run(model: Model, real: Real): void {
    expect(real.store.has(this.key)).toBe(model.entries.has(this.key))
    expect(real.store.sizeOf(this.key)).toBe(model.entries.get(this.key)?.size)
    expect(real.removed).toEqual([])
  }
  toString(): string {
    return `has(${JSON.stringify(this.key).slice(0, 20)})`
  }
}

class AdvanceCommand implements fc.Command<Model, Real> {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true
  }
  run(model: Model): void {
    model.now += this.ms
  }
  toString(): string {
    return `advance(${this.ms})`
  }
}

class ClearCommand implements fc.Command<Model, Real> {
  check(): boolean {
    return true
  }
  run(model: Model, real: Real): void {
    real.store.clear()
    model.entries.clear()
    expect(real.removed).toEqual([])
    checkAgreement(model, real)
  }
  toString(): string {
    return 'clear()'
  }
}

function commandsFor(keys: readonly string[]) {
  const key = fc.oneof(
    fc.constantFrom(...keys),
    fc.integer({ min: 0, max: 40 }).map((i) => `k${i}`),
  )
  const size = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 40 }) },
    { weight: 1, arbitrary: fc.integer({ min: 65_530, max: 70_000 }) },
  )
  return [
    fc
      .tuple(key, fc.integer(), fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }), size)
      .map(([k, v, ttl, s]) => new SetCommand(k, v, ttl, s)),
    fc.tuple(key, fc.boolean()).map(([k, viaLookup]) => new GetCommand(k, viaLookup)),
    key.map((k) => new DeleteCommand(k)),
    key.map((k) => new HasCommand(k)),
    fc.integer({ min: 0, max: 30 }).map((ms) => new AdvanceCommand(ms)),
    fc.constant(new ClearCommand()),
    fc
      .tuple(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 150 }), fc.constantFrom(0, 1))
      .map(([f, n, s]) => new FillCommand(f, n, s)),
  ]
}

function runModel(policy: PolicyName, keys: readonly string[], numRuns: number): void {
  const bounds = fc.oneof(
    fc.record({ maxEntries: fc.constantFrom(1, 2, 3, 7, 12, 100, 300), maxBytes: fc.constant(NEVER) }),
    fc.record({
      maxEntries: fc.constantFrom(1, 5, 100, NEVER),
      maxBytes: fc.constantFrom(0, 1, 60, 500, 100_000, 300_000),
    }),
  )
  fc.assert(
    fc.property(
      bounds,
      fc.commands(commandsFor(keys), { maxCommands: 50 }),
      ({ maxEntries, maxBytes }, cmds) => {
        const store = new MemoryStore({ maxEntries, maxBytes, policy })
        const real: Real = { store, maxEntries, maxBytes, removed: [] }
        store.onRemoved = (key, cause) => real.removed.push({ key, cause })
        fc.modelRun(() => ({ model: { entries: new Map(), now: 0 }, real }), cmds)
      },
    ),
    { numRuns },
  )
}

const keys: string[] = [...awkwardKeys]
beforeAll(() => {
  keys.push(...collidingKeys(4))
})

describe.each(POLICY_NAMES)('MemoryStore (L1) against a Map reference, %s eviction (F8)', (policy) => {
  it('agrees on every answer through sets, reads, deletes, clears, expiry and eviction', () => {
    runModel(policy, keys, 500)
  })
})
