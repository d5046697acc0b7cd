import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import type { LogFormat } from '../readers/index.js'
import { header, renderEvent } from './formats.js'
import { type GroundTruth, type WorkloadSpec, workloadEvents } from './workload.js'

export { header, renderEvent } from './formats.js'
export {
  type GeneratedEvent,
  type GroundTruth,
  SHOP_WORKLOAD,
  type TypeSpec,
  type WorkloadSpec,
  workloadEvents,
} from './workload.js'

export interface WriteLogOptions {
  /** Lines inserted verbatim after the given event indexes (malformed-line tests and samples). */
  readonly inject?: ReadonlyMap<number, string>
  /** For `keys`: only reads are written (a key trace has no writes). Default true. */
  readonly readsOnly?: boolean
}

/** Writes the workload as a `format` log to `path`; resolves to the ground truth. */
export async function writeWorkloadLog(
  path: string,
  spec: WorkloadSpec,
  format: LogFormat,
  options: WriteLogOptions = {},
): Promise<GroundTruth> {
  const truth = { reads: {} as Record<string, number>, writes: {} as Record<string, number>, spanMs: 0 }
  const out = createWriteStream(path)
  let buffer = ''
  const first = header(format)
  if (first !== undefined) buffer += `${first}\n`
  let i = 0
  const readsOnly = options.readsOnly ?? format === 'keys'
  for (const event of workloadEvents(spec, truth)) {
    if (!(readsOnly && event.op === 'write')) buffer += `${renderEvent(event, format)}\n`
    const injected = options.inject?.get(i)
    if (injected !== undefined) buffer += `${injected}\n`
    i++
    if (buffer.length > 1 << 20) {
      if (!out.write(buffer)) await once(out, 'drain')
      buffer = ''
    }
  }
  out.end(buffer)
  await once(out, 'finish')
  return truth
}
