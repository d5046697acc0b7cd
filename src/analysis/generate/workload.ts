import { Random } from '../../simulation/random.js'
import { ZipfianGenerator } from '../../simulation/zipf.js'

/**
 * A synthetic application workload with a known ground truth, rendered as any of the log formats
 * `analyze` reads. Used for the sample logs (examples/logs), the acceptance tests and the bench.
 *
 * Each data type has entities read by id (Zipf-popular) and, optionally, list queries by a
 * category; writes change one entity each, uniformly at random, at a fixed rate per entity.
 */
export interface TypeSpec {
  /** Table / resource / key prefix: `products`. */
  readonly name: string
  readonly entities: number
  /** Share of all reads that go to this type. */
  readonly readShare: number
  /** Zipf skew of entity popularity (0 = uniform). */
  readonly skew: number
  /** Mean time between two changes of one entity, in seconds (Infinity: never written). */
  readonly changeEverySeconds: number
  /** Share of this type's reads that are list queries (`WHERE category = ?`), the rest by id. */
  readonly listShare?: number
  /** Categories the lists are over. Default 20. */
  readonly categories?: number
  /** Writes are increments of a counter column (`SET views = views + 1`, `INCR`). */
  readonly counter?: boolean
  /** Mean origin time of a read, ms (durations are drawn around it). */
  readonly readMs?: number
  /** Mean value size, bytes. */
  readonly bytes?: number
}

export interface WorkloadSpec {
  readonly types: readonly TypeSpec[]
  /** Reads per second over the whole log. */
  readonly readsPerSecond: number
  /** Total events (reads + writes). */
  readonly events: number
  readonly seed?: number
  /** Start time, ms since the epoch. Default 2026-01-05T09:00:00Z. */
  readonly start?: number
}

export interface GeneratedEvent {
  /** ms since the epoch */
  readonly time: number
  readonly type: TypeSpec
  readonly op: 'read' | 'write'
  /** Entity id for id reads and writes; category index for list reads. */
  readonly id: number
  readonly list: boolean
  readonly durationMs: number
  readonly bytes: number
}

export interface GroundTruth {
  readonly reads: Readonly<Record<string, number>>
  readonly writes: Readonly<Record<string, number>>
  readonly spanMs: number
}

/**
 * The events of the workload, in time order. The process is a superposition of Poisson
 * processes: reads at `readsPerSecond` split by `readShare`, writes at `entities /
 * changeEverySeconds` per type. `truth` is filled as events are produced.
 */
export function* workloadEvents(
  spec: WorkloadSpec,
  truth?: { reads: Record<string, number>; writes: Record<string, number>; spanMs: number },
): Generator<GeneratedEvent> {
  const random = new Random(spec.seed ?? 1)
  const start = spec.start ?? Date.UTC(2026, 0, 5, 9, 0, 0)
  const shareSum = spec.types.reduce((sum, t) => sum + t.readShare, 0)
  const rates = spec.types.flatMap((type) => [
    { type, op: 'read' as const, rate: (spec.readsPerSecond * type.readShare) / shareSum },
    {
      type,
      op: 'write' as const,
      rate: Number.isFinite(type.changeEverySeconds) ? type.entities / type.changeEverySeconds : 0,
    },
  ])
  const total = rates.reduce((sum, r) => sum + r.rate, 0)
  const cumulative: number[] = []
  let acc = 0
  for (const r of rates) {
    acc += r.rate / total
    cumulative.push(acc)
  }
  const zipfs = new Map(spec.types.map((t) => [t, new ZipfianGenerator(t.entities, t.skew)]))
  // Ranks map to ids through a fixed permutation-like scramble so that hot ids are not 1, 2, 3.
  const scramble = (rank: number, n: number): number => (Math.imul(rank + 1, 2654435761) >>> 0) % n
  let time = start
  for (let i = 0; i < spec.events; i++) {
    time += (-Math.log(1 - random.next()) / total) * 1000
    const u = random.next()
    let k = 0
    while (k < cumulative.length - 1 && u >= (cumulative[k] as number)) k++
    const { type, op } = rates[k] as (typeof rates)[number]
    const list = op === 'read' && random.next() < (type.listShare ?? 0)
    const id = list
      ? (zipfs.get(type) as ZipfianGenerator).next(random) % (type.categories ?? 20)
      : op === 'read'
        ? scramble((zipfs.get(type) as ZipfianGenerator).next(random), type.entities)
        : random.nextInt(type.entities)
    const mean = type.readMs ?? 2
    const durationMs =
      op === 'read' ? mean * (0.5 + random.next()) * (list ? 3 : 1) : mean * 1.5 * (0.5 + random.next())
    const bytes = Math.round((type.bytes ?? 500) * (0.75 + random.next() / 2) * (list ? 10 : 1))
    if (truth !== undefined) {
      const bucket = op === 'read' ? truth.reads : truth.writes
      bucket[type.name] = (bucket[type.name] ?? 0) + 1
      truth.spanMs = time - start
    }
    yield { time: Math.floor(time), type, op, id, list, durationMs, bytes }
  }
}

/** The e-commerce workload of the sample logs (docs/analyze.md walks through its report). */
export const SHOP_WORKLOAD: readonly TypeSpec[] = [
  {
    name: 'products',
    entities: 5000,
    readShare: 0.5,
    skew: 0.9,
    changeEverySeconds: 86_400,
    listShare: 0.2,
    readMs: 4,
    bytes: 900,
  },
  {
    name: 'users',
    entities: 3000,
    readShare: 0.3,
    skew: 0.7,
    changeEverySeconds: 3600,
    readMs: 2,
    bytes: 400,
  },
  { name: 'prices', entities: 50, readShare: 0.1, skew: 0.5, changeEverySeconds: 8, readMs: 1, bytes: 60 },
  {
    name: 'carts',
    entities: 400,
    readShare: 0.06,
    skew: 0.3,
    changeEverySeconds: 300,
    readMs: 3,
    bytes: 700,
  },
  {
    name: 'countries',
    entities: 250,
    readShare: 0.04,
    skew: 1.0,
    changeEverySeconds: Number.POSITIVE_INFINITY,
    readMs: 1,
    bytes: 200,
  },
]
