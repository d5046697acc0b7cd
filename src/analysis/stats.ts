import { hashKey } from '../eviction/policy.js'
import { detach } from './detach.js'
import { ReuseProfiler } from './mrc/reuse-profiler.js'
import type { Access, Shape } from './normalize/index.js'
import { HyperLogLog } from './sketch/hyperloglog.js'
import { LogHistogram } from './sketch/log-histogram.js'
import { SpaceSaving } from './sketch/space-saving.js'

export { hashKey }

/** Entities whose last write time is remembered, per type (oldest forgotten first beyond it). */
const LAST_WRITES = 50_000

/** Aggregates of one signature (a query shape, a route, a key pattern). */
export class SignatureStats {
  reads = 0
  writes = 0
  readonly shapes: Record<Shape, number> = { entity: 0, list: 0, counter: 0, static: 0 }
  durationSumMs = 0
  durationCount = 0
  bytesSum = 0
  bytesCount = 0
  readonly keys = new HyperLogLog(10)
  readonly example: string
  readonly firstLine: number

  constructor(
    readonly signature: string,
    readonly type: TypeStats,
    example: string,
    line: number,
  ) {
    this.example = example.length > 300 ? `${example.slice(0, 300)}…` : detach(example)
    this.firstLine = line
  }

  get shape(): Shape {
    let best: Shape = 'entity'
    for (const shape of ['list', 'counter', 'static'] as const)
      if (this.shapes[shape] > this.shapes[best]) best = shape
    return best
  }
}

/** Aggregates of one data type (table, resource, key pattern): reads of every signature, writes attributed to it. */
export class TypeStats {
  reads = 0
  writes = 0
  /** Writes that name one entity (UPDATE … WHERE id = ?, PUT /x/:id, SET key). */
  writesEntity = 0
  /** Writes over many rows (UPDATE … WHERE category = ?): every cached entry of the type may change. */
  writesBulk = 0
  /** New entities (INSERT, POST /x): lists change, cached entities do not. */
  writesInsert = 0
  writesCounter = 0
  readonly signatures: SignatureStats[] = []
  /** Distinct read keys. */
  readonly readKeys = new HyperLogLog(12)
  /** Distinct entities read or written. */
  readonly entities = new HyperLogLog(12)
  readonly writtenEntities = new HyperLogLog(12)
  /** Time between two writes to the same entity. */
  readonly writeGapsMs = new LogHistogram()
  readonly #lastWrite = new Map<string, number>()
  readDurationSumMs = 0
  readDurationCount = 0
  readBytesSum = 0
  readBytesCount = 0
  writeBytesSum = 0
  writeBytesCount = 0
  firstTime = Number.POSITIVE_INFINITY
  lastTime = Number.NEGATIVE_INFINITY
  readonly topKeys = new SpaceSaving(16)
  readonly profiler: ReuseProfiler

  constructor(
    readonly name: string,
    readonly index: number,
    profilerKeys: number,
  ) {
    this.profiler = new ReuseProfiler({ maxKeys: profilerKeys })
  }

  read(
    access: Access,
    hash: number,
    time: number,
    durationMs: number,
    bytes: number,
    estimate: number,
  ): void {
    this.reads++
    this.readKeys.add(hash)
    if (access.entity !== '') this.entities.add(hashKey(access.entity))
    if (durationMs >= 0) {
      this.readDurationSumMs += durationMs
      this.readDurationCount++
    }
    if (bytes >= 0) {
      this.readBytesSum += bytes
      this.readBytesCount++
    }
    this.topKeys.offer(access.key, estimate)
    this.profiler.access(access.key, hash, time)
  }

  write(access: Access, time: number, bytes: number): void {
    this.writes++
    if (bytes >= 0) {
      this.writeBytesSum += bytes
      this.writeBytesCount++
    }
    if (access.shape === 'counter') this.writesCounter++
    if (access.entity === '') {
      const sig = access.signature
      const creates =
        sig.startsWith('INSERT') ||
        sig.startsWith('UPSERT') ||
        sig.startsWith('REPLACE') ||
        sig.startsWith('POST ')
      if (creates && !sig.includes(' WHERE ')) this.writesInsert++
      else this.writesBulk++
      return
    }
    this.writesEntity++
    const entityHash = hashKey(access.entity)
    this.entities.add(entityHash)
    this.writtenEntities.add(entityHash)
    if (Number.isNaN(time)) return
    const last = this.#lastWrite.get(access.entity)
    if (last !== undefined) {
      if (time >= last) this.writeGapsMs.add(time - last)
      this.#lastWrite.delete(access.entity) // re-inserted last: Map order is then by last write
    } else if (this.#lastWrite.size >= LAST_WRITES) {
      const oldest = this.#lastWrite.keys().next().value
      if (oldest !== undefined) this.#lastWrite.delete(oldest)
    }
    this.#lastWrite.set(access.entity, time)
  }

  observe(time: number): void {
    if (time < this.firstTime) this.firstTime = time
    if (time > this.lastTime) this.lastTime = time
  }
}
