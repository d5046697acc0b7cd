/** Types of scripts/soak/harness.mjs, for the CI version of the soak (test/integration/resilience/soak.test.ts). */
export interface RedisController {
  readonly url: string
  /** SIGKILL; resolves once the server has exited. */
  kill(): Promise<void>
  /** Starts the server on the same port; resolves once it answers PING. */
  start(): Promise<void>
  /** SIGSTOP. */
  pause(): void
  /** SIGCONT. */
  resume(): void
}

export interface SoakFault {
  /** When, from the start of the run. */
  atMs: number
  /** 'kill': SIGKILL then restart after `downMs`; 'stop': SIGSTOP for `downMs`. */
  kind: 'kill' | 'stop'
  downMs: number
}

export interface SoakOptions {
  redis: RedisController
  durationMs: number
  faults: readonly SoakFault[]
  processes?: number
  tickMs?: number
  closeWithinMs?: number
  /** Allowance per longest event-loop turn during the recovery, added to `closeWithinMs` (default 0). */
  lagTurns?: number
  rssGrowthLimit?: number
  namespace?: string
  log?: (line: string) => void
}

export interface ProcessRecovery {
  /** Whether the fault opened this process's breaker. */
  opened: boolean
  /** From Redis answering to the breaker closing, in ms (undefined: never closed). */
  closeMs: number | undefined
  /** The process's longest event-loop turn from Redis answering until its breaker closed. */
  loopLagMs: number
  firstL2HitMs: number | undefined
  firstBusMessageMs: number | undefined
  errorsUntil: number
}

export interface SoakTick {
  at: number
  ops: number
  errors: Record<string, number>
  /** The first message (and cause) of each code over the tick. */
  errorSamples: Record<string, string>
  breaker: string
  l2Hits: number
  l2Skipped: number
  busMessages: number
  pendingRepairs: number
  rss: number
  heapUsed: number
  heapTotal: number
  arrayBuffers: number
  load: number
  /** The event loop's longest delay over the tick, in ms. */
  loopDelayMaxMs: number
}

export interface SoakReport {
  ok: boolean
  /** Every acceptance line the run broke, in words. */
  failures: string[]
  recoveries: { kind: 'kill' | 'stop'; atMs: number; perProcess: ProcessRecovery[] }[]
  errorCodes: Record<string, number>
  memory: { baselineRss: number | undefined; lastRss: number | undefined; growth: number | undefined }[]
  ticks: SoakTick[][]
}

export const ALLOWED_OUTAGE_CODES: ReadonlySet<string>
export const WORKLOAD: {
  workers: number
  keys: number
  zipf: number
  tags: number
  l1Entries: number
  yieldEvery: number
  breakDuration: string
}
export function runSoak(options: SoakOptions): Promise<SoakReport>
export function describeRecoveries(report: SoakReport): string
