// Where benchmark processes run. On this kind of VM the two CPUs are not alike at a given moment,
// and the scheduler's first choice lasts a process's life: the same lru-cache get loop at 10,000
// entries ran at 30 ns on one CPU and 45–50 ns on the other, process after process (which CPU was
// the fast one changed within minutes); and a sequential Redis round trip pays a cross-CPU wake-up
// or not depending on where redis-server sits (docs/benchmarks.md). Rotating rounds cancels drift
// over time, never a placement fixed per process: so the benchmarks that compare processes put
// them all on the same named CPUs with `taskset`.
import { spawnSync } from 'node:child_process'
import os from 'node:os'

export const cpuCount = os.cpus().length

/** Whether processes can be pinned here: two CPUs or more and `taskset` on the PATH. */
export const canPin = cpuCount >= 2 && spawnSync('taskset', ['-V'], { encoding: 'utf8' }).status === 0

/**
 * The CPU placement a `--pin=` flag asks for, or undefined for none:
 * - `apart` (the default): redis-server on the last CPU, measured processes on the others;
 * - `same`: everything on the last CPU (the loopback case, where Redis's CPU time adds to latency);
 * - a CPU list (`0`, `0-2`): measured processes there, redis-server left where it is;
 * - `false`: no pinning.
 */
export function placement(flag = 'apart') {
  if (flag === 'false' || !canPin) return undefined
  const last = String(cpuCount - 1)
  if (flag === 'same') return { measured: last, redis: last }
  if (flag === 'apart' || flag === 'true')
    return { measured: cpuCount === 2 ? '0' : `0-${cpuCount - 2}`, redis: last }
  if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(flag))
    throw new Error(`--pin=${flag}: expected apart, same, false or a CPU list`)
  return { measured: flag, redis: undefined }
}

/** The command and arguments that run `node <nodeArgs…>` on `cpus` (a taskset list), or unpinned. */
export function nodeCommand(nodeArgs, cpus) {
  return cpus === undefined
    ? { command: process.execPath, args: nodeArgs }
    : { command: 'taskset', args: ['-c', cpus, process.execPath, ...nodeArgs] }
}

/** Moves a running process (redis-server) onto `cpus`. */
export function pinProcess(pid, cpus) {
  if (cpus !== undefined) spawnSync('taskset', ['-pc', cpus, String(pid)])
}

/** One line saying where things run, for a benchmark's header. */
export function describePlacement(where) {
  if (where === undefined) return 'not pinned (placement left to the scheduler)'
  const redis = where.redis === undefined ? '' : `, redis-server on CPU ${where.redis}`
  return `pinned: measured processes on CPU ${where.measured}${redis}`
}
