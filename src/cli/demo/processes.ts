/**
 * The L1 + L2 run in N processes sharing one Redis, as a service runs behind a load balancer:
 * each process has its own L1 and replays every N-th request, so a key one process loaded is an
 * L2 hit for the others, and the cross-process stampede (every process reading one cold key at
 * once) shows one origin query for all of them.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createCache } from '../../index.js'
import { type Measurements, summarize } from './replay.js'
import { clearRun, runNamespace, STAMPEDE_READS } from './run.js'
import type { RunResult } from './types.js'
import type { WorkloadOptions } from './workload.js'

/** What a worker needs to rebuild the run on its side (all plain data). */
export interface WorkerSetup {
  index: number
  processes: number
  catalog: { dir: string; products: number; categories: number }
  workload: Omit<WorkloadOptions, 'layout'>
  run: {
    concurrency: number
    originLatencyMs: number
    l1Size: number
    redisUrl: string
    namespace: string
  }
}

export type ParentMessage = { type: 'start'; setup: WorkerSetup } | { type: 'go'; name: string }

export type WorkerMessage =
  | { type: 'barrier'; name: string }
  | { type: 'progress'; count: number }
  | { type: 'done'; measurements: Measurements; stampedeQueries: number }
  | { type: 'error'; message: string }

export interface ProcessesOptions {
  processes: number
  catalog: WorkerSetup['catalog']
  workload: WorkerSetup['workload']
  run: Omit<WorkerSetup['run'], 'namespace'>
  onProgress?: (count: number) => void
}

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url))

/** Runs the L1 + L2 replay in `processes` forked workers and merges what they measured. */
export async function runL1L2Processes(options: ProcessesOptions): Promise<RunResult> {
  const namespace = runNamespace()
  const n = options.processes
  const children: ChildProcess[] = []
  const arrived = new Map<string, number>()
  try {
    const parts = await new Promise<{ measurements: Measurements; stampedeQueries: number }[]>(
      (resolve, reject) => {
        const results: { measurements: Measurements; stampedeQueries: number }[] = []
        for (let index = 0; index < n; index++) {
          const child = fork(WORKER, [], {
            serialization: 'advanced',
            stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
          })
          children.push(child)
          let stderr = ''
          child.stderr?.on('data', (chunk: Buffer) => {
            stderr = (stderr + chunk.toString()).slice(-2000)
          })
          child.on('message', (message: WorkerMessage) => {
            if (message.type === 'progress') options.onProgress?.(message.count)
            else if (message.type === 'barrier') {
              const count = (arrived.get(message.name) ?? 0) + 1
              arrived.set(message.name, count)
              if (count === n)
                for (const c of children) c.send({ type: 'go', name: message.name } satisfies ParentMessage)
            } else if (message.type === 'done') {
              results[index] = message
              if (results.filter(Boolean).length === n) resolve(results)
            } else reject(new Error(`worker ${index + 1} of ${n}: ${message.message}`))
          })
          child.on('exit', (code) => {
            if (results[index] === undefined) {
              reject(new Error(`worker ${index + 1} of ${n} exited (code ${code}) ${stderr.trim()}`.trim()))
            }
          })
          const setup: WorkerSetup = {
            index,
            processes: n,
            catalog: options.catalog,
            workload: options.workload,
            run: { ...options.run, namespace },
          }
          child.send({ type: 'start', setup } satisfies ParentMessage)
        }
      },
    )
    const result = summarize(
      'l1+l2',
      parts.map((p) => p.measurements),
    )
    result.stampede = {
      processes: n,
      reads: n * STAMPEDE_READS,
      originQueries: parts.reduce((sum, p) => sum + p.stampedeQueries, 0),
    }
    const cleaner = createCache({ namespace, version: 'v1', l1: false, l2: { redis: options.run.redisUrl } })
    try {
      await clearRun(cleaner, result)
    } finally {
      await cleaner.close()
    }
    return result
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill()
  }
}
