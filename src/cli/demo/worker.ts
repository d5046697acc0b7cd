/**
 * One process of the multi-process L1 + L2 run (forked by processes.ts). It opens the same
 * catalog, generates the same workload (same seed) and replays its share of it — every N-th
 * request — with its own L1 over the shared Redis, meeting the other processes at two barriers:
 * before the stampede and before the measured window.
 */
import { openCatalog } from './catalog.js'
import type { ParentMessage, WorkerMessage, WorkerSetup } from './processes.js'
import { openL1L2Cache, runL1L2Part, warmUp } from './run.js'
import { generateWorkload } from './workload.js'

const send = (message: WorkerMessage): void => {
  process.send?.(message)
}

const waiting = new Map<string, () => void>()
/** Resolves when the parent says every process reached barrier `name`. */
const barrier = (name: string): Promise<void> =>
  new Promise((resolve) => {
    waiting.set(name, resolve)
    send({ type: 'barrier', name })
  })

const PROGRESS_EVERY = 250

async function work(setup: WorkerSetup): Promise<void> {
  const catalog = openCatalog({ ...setup.catalog, sharedWrites: true })
  try {
    const workload = generateWorkload({ ...setup.workload, layout: catalog.layout() })
    warmUp(catalog, workload)
    let done = 0
    const options = {
      ...setup.run,
      catalog,
      workload,
      warm: true,
      share: { index: setup.index, of: setup.processes },
      beforeStampede: () => barrier('stampede'),
      beforeWindow: () => barrier('window'),
      onProgress: () => {
        if (++done % PROGRESS_EVERY === 0) send({ type: 'progress', count: PROGRESS_EVERY })
      },
    }
    const cache = openL1L2Cache(options)
    try {
      const { measurements, stampedeQueries } = await runL1L2Part(options, cache)
      send({ type: 'progress', count: done % PROGRESS_EVERY })
      send({ type: 'done', measurements, stampedeQueries })
    } finally {
      await cache.close()
    }
  } finally {
    catalog.close()
  }
}

process.on('message', (message: ParentMessage) => {
  if (message.type === 'go') {
    waiting.get(message.name)?.()
    waiting.delete(message.name)
  } else if (message.type === 'start') {
    work(message.setup).then(
      () => process.disconnect(),
      (error: unknown) => {
        send({ type: 'error', message: error instanceof Error ? error.message : String(error) })
        process.disconnect()
      },
    )
  }
})
