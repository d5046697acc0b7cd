/**
 * Child processes that each hold a stratacache instance (test/helpers/workers/cache-worker.mjs),
 * driven over IPC, for tests that need several processes on one Redis or a process to SIGKILL;
 * and a recorder of unhandled rejections and uncaught exceptions in the test process itself.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach } from 'vitest'
import type { CacheOptions, CacheStats } from '../../dist/index.js'

const WORKER_SCRIPT = fileURLToPath(new URL('./workers/cache-worker.mjs', import.meta.url))
const READY_TIMEOUT_MS = 10_000

/** An unhandledRejection or uncaughtException, in the test process or in a worker. */
export interface Fault {
  kind: string
  message: string
  stack?: string | undefined
}

/** What one worker's `go` reports. */
export interface RunReport {
  pid: number
  calls: number
  /** Calls that resolved to a value (not undefined). */
  answered: number
  /** `key: code` of every call that rejected. */
  errors: string[]
  /** The distinct values (as JSON) each key was answered with. */
  values: Record<string, string[]>
  /** Factory runs in this worker since it started. */
  factoryCalls: number
  /** When 'go' started the calls (epoch ms). */
  startedAt: number
  /** Longest call, in ms. */
  maxMs: number
  /** When the last call settled (epoch ms). */
  lastEnd: number
  stats: CacheStats
}

export interface FactoryEvent {
  key: string
  /** Epoch ms. */
  at: number
  /** The worker's factory run count at that run. */
  n: number
}

export interface WorkerEvents {
  'factory-started': FactoryEvent
  'factory-finished': FactoryEvent
  fault: Fault
  ready: { pid: number }
}

export interface CacheWorker {
  readonly pid: number
  /** Faults the worker reported so far. */
  readonly faults: Fault[]
  /** Every event the worker sent, in order. */
  readonly events: { event: keyof WorkerEvents; data: unknown }[]
  open(options: CacheOptions): Promise<void>
  /** One L2 round trip of each kind (set, get, getOrSet), so the connection is up before the run. */
  warm(): Promise<void>
  /** Prepares one getOrSet per entry of `keys`, each with a factory that takes `factoryMs`. */
  arm(keys: readonly string[], factoryMs: number): Promise<void>
  /** Starts every armed call in the same tick; resolves when all settled. */
  go(): Promise<RunReport>
  stats(): Promise<CacheStats & { factoryCalls: number }>
  /** Provokes an unhandled rejection or an uncaught exception in the worker (to test the recorder). */
  inject(kind: 'unhandledRejection' | 'uncaughtException'): Promise<void>
  /** Closes the worker's cache and resolves to every fault it recorded. */
  close(): Promise<Fault[]>
  /** Resolves with the next event `name` matching `accept` (events already received count). */
  next<E extends keyof WorkerEvents>(
    name: E,
    accept?: (data: WorkerEvents[E]) => boolean,
  ): Promise<WorkerEvents[E]>
  /** Sends `signal`; resolves once the process has exited. */
  kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** Resolves once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** The last few kB the worker wrote to stdout and stderr. */
  output(): string
}

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

function startWorker(): Promise<CacheWorker> {
  // execArgv: [] — not the test runner's own flags.
  const child: ChildProcess = fork(WORKER_SCRIPT, [], {
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let output = ''
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const pending = new Map<number, Pending>()
  const faults: Fault[] = []
  const events: { event: keyof WorkerEvents; data: unknown }[] = []
  const waiters = new Set<{
    name: string
    accept: (data: unknown) => boolean
    resolve: (d: unknown) => void
  }>()
  let nextId = 1
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal }
      const error = new Error(
        `worker ${child.pid} exited (code ${code}, signal ${signal}) before answering${output === '' ? '' : `; its output:\n${output}`}`,
      )
      for (const call of pending.values()) call.reject(error)
      pending.clear()
      resolve(exitInfo)
    })
  })
  child.on('error', () => {})

  child.on(
    'message',
    (message: {
      id?: number
      ok?: boolean
      value?: unknown
      error?: string
      event?: string
      data?: unknown
    }) => {
      if (message.id !== undefined) {
        const call = pending.get(message.id)
        pending.delete(message.id)
        if (message.ok) call?.resolve(message.value)
        else call?.reject(new Error(`worker ${child.pid}: ${message.error}`))
        return
      }
      if (message.event === undefined) return
      events.push({ event: message.event as keyof WorkerEvents, data: message.data })
      if (message.event === 'fault') faults.push(message.data as Fault)
      for (const waiter of [...waiters]) {
        if (waiter.name === message.event && waiter.accept(message.data)) {
          waiters.delete(waiter)
          waiter.resolve(message.data)
        }
      }
    },
  )

  const call = <T>(method: string, params?: unknown): Promise<T> => {
    if (exitInfo !== undefined) return Promise.reject(new Error(`worker ${child.pid} has exited`))
    const id = nextId++
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (value: unknown) => void, reject })
      child.send({ id, method, params })
    })
  }

  const next = <E extends keyof WorkerEvents>(
    name: E,
    accept: (data: WorkerEvents[E]) => boolean = () => true,
  ): Promise<WorkerEvents[E]> => {
    const seen = events.find((e) => e.event === name && accept(e.data as WorkerEvents[E]))
    if (seen !== undefined) return Promise.resolve(seen.data as WorkerEvents[E])
    return new Promise((resolve, reject) => {
      const waiter = {
        name,
        accept: accept as (data: unknown) => boolean,
        resolve: resolve as (d: unknown) => void,
      }
      waiters.add(waiter)
      exited.then(() => {
        if (waiters.delete(waiter)) reject(new Error(`worker ${child.pid} exited before '${name}'`))
      })
    })
  }

  const worker: CacheWorker = {
    get pid() {
      return child.pid as number
    },
    faults,
    events,
    open: async (options) => {
      await call('open', { options })
    },
    warm: async () => {
      await call('warm')
    },
    arm: async (keys, factoryMs) => {
      await call('arm', { keys, factoryMs })
    },
    go: () => call<RunReport>('go'),
    stats: () => call('stats'),
    close: () => call<Fault[]>('close'),
    inject: async (kind) => {
      await call('inject', { kind })
    },
    next,
    kill: (signal) => {
      if (exitInfo === undefined) child.kill(signal)
      return exited
    },
    exited,
    output: () => output,
  }

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`worker did not start within ${READY_TIMEOUT_MS} ms; its output:\n${output}`))
    }, READY_TIMEOUT_MS)
    next('ready').then(
      () => {
        clearTimeout(timer)
        resolve(worker)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/**
 * Registers an afterEach that SIGKILLs every worker a test started and did not stop; returns a
 * function that starts a worker (resolves once its script has loaded).
 */
export function useCacheWorkers(): () => Promise<CacheWorker> {
  const live = new Set<CacheWorker>()
  afterEach(async () => {
    await Promise.all([...live].map((w) => w.kill('SIGKILL')))
    live.clear()
  })
  return async () => {
    const worker = await startWorker()
    live.add(worker)
    worker.exited.then(() => live.delete(worker))
    return worker
  }
}

/**
 * Records unhandled rejections and uncaught exceptions in this (the test) process from each test's
 * start until its afterEach hooks have run; returns the list, for `expect(faults()).toEqual([])`
 * at the end of a test. Faults that arrive after the test body (e.g. while caches close) fail
 * the test in this helper's own afterEach — register it before closeAfterEach, so it runs after.
 */
export function recordProcessFaults(): () => Fault[] {
  let faults: Fault[] = []
  let asserted = 0
  const onRejection = (reason: unknown) => faults.push(toFault('unhandledRejection', reason))
  const onException = (error: unknown) => faults.push(toFault('uncaughtException', error))
  beforeEach(() => {
    faults = []
    asserted = 0
    process.on('unhandledRejection', onRejection)
    process.on('uncaughtException', onException)
  })
  afterEach(async () => {
    // Let a rejection from the last cleanup surface before looking.
    await new Promise((resolve) => setTimeout(resolve, 20))
    process.off('unhandledRejection', onRejection)
    process.off('uncaughtException', onException)
    const late = faults.slice(asserted)
    if (late.length > 0) {
      throw new Error(
        `unhandled rejection or uncaught exception in the test process: ${late.map((f) => `${f.kind}: ${f.stack ?? f.message}`).join('\n')}`,
      )
    }
  })
  return () => {
    asserted = faults.length
    return faults
  }
}

function toFault(kind: string, error: unknown): Fault {
  return {
    kind,
    message: error instanceof Error ? error.message : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  }
}
