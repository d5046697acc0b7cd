import { hashKey } from '../eviction/policy.js'
import { detach } from './detach.js'
import { ReuseProfiler } from './mrc/reuse-profiler.js'
import type { NormalizedAccess, Shape } from './normalize/index.js'
import { HyperLogLog } from './sketch/hyperloglog.js'
import { LogHistogram } from './sketch/log-histogram.js'
import { SpaceSaving } from './sketch/space-saving.js'

export { hashKey }

/** Entities whose last write time is remembered, per type (oldest forgotten first beyond it). */
const LAST_WRITES = 50_000

interface LastWrite {
  entity: string
  time: number
  newer: LastWrite | undefined
  older: LastWrite | undefined
}

/**
 * The last write time of the most recently written entities, oldest forgotten first: a Map to
 * list nodes kept in write order, so that a write to a known entity moves its node (a Map
 * delete + set per write, the obvious way, made the Map rehash all the time).
 */
class LastWrites {
  readonly #nodes = new Map<string, LastWrite>()
  #oldest: LastWrite | undefined
  #newest: LastWrite | undefined

  get(entity: string): LastWrite | undefined {
    return this.#nodes.get(entity)
  }

  /** Makes `node` the most recent. */
  touch(node: LastWrite): void {
    if (node === this.#newest) return
    this.#unlink(node)
    this.#append(node)
  }

  /** Remembers a new entity's write, forgetting the oldest one first when `limit` are known. */
  add(entity: string, time: number, limit: number): void {
    let node: LastWrite
    const oldest = this.#oldest
    if (this.#nodes.size >= limit && oldest !== undefined) {
      this.#nodes.delete(oldest.entity)
      this.#unlink(oldest)
      node = oldest
      node.entity = detach(entity)
      node.time = time
    } else node = { entity: detach(entity), time, newer: undefined, older: undefined }
    this.#nodes.set(node.entity, node)
    this.#append(node)
  }

  #unlink(node: LastWrite): void {
    if (node.older === undefined) this.#oldest = node.newer
    else node.older.newer = node.newer
    if (node.newer === undefined) this.#newest = node.older
    else node.newer.older = node.older
    node.newer = undefined
    node.older = undefined
  }

  #append(node: LastWrite): void {
    node.older = this.#newest
    if (this.#newest === undefined) this.#oldest = node
    else this.#newest.newer = node
    this.#newest = node
  }
}

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
    /** Position in the analyser's signature list (what the retained events name). */
    readonly index: number,
  ) {
    this.example = detach(example.length > 300 ? `${example.slice(0, 300)}…` : example)
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
  readonly #lastWrites = new LastWrites()
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
    access: NormalizedAccess,
    hash: number,
    time: number,
    durationMs: number,
    bytes: number,
    estimate: number,
  ): void {
    this.reads++
    this.readKeys.add(hash)
    if (access.entity !== '') this.entities.add(access.entityHash)
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

  write(access: NormalizedAccess, time: number, bytes: number): void {
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
    const entityHash = access.entityHash
    this.entities.add(entityHash)
    this.writtenEntities.add(entityHash)
    if (Number.isNaN(time)) return
    const last = this.#lastWrites.get(access.entity)
    if (last !== undefined) {
      if (time >= last.time) this.writeGapsMs.add(time - last.time)
      last.time = time
      this.#lastWrites.touch(last)
    } else this.#lastWrites.add(access.entity, time, LAST_WRITES)
  }

  observe(time: number): void {
    if (time < this.firstTime) this.firstTime = time
    if (time > this.lastTime) this.lastTime = time
  }
}
