/**
 * A real Redis Cluster per test file: N masters (no replicas) spawned on free loopback ports, in a
 * temporary directory, joined with `redis-cli --cluster create`, and torn down in afterAll (kill,
 * then the directory removed). Never leaked: an 'exit' hook kills what is still running and a
 * detached watchdog per node kills it if the test process dies without running its hooks.
 *
 * Nodes run with `cluster-require-full-coverage no`, so that while one master is down the others
 * keep serving their slots (the default stops the whole cluster once the dead node is marked
 * failed), and a short `cluster-node-timeout`, so that this happens within a test.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll } from 'vitest'

export type RespArg = string | number | Uint8Array
export type RespReply = string | number | null | RespReply[]

export class RespError extends Error {}

const READY_TIMEOUT_MS = 5000
const CLUSTER_OK_TIMEOUT_MS = 20_000
const STOP_TIMEOUT_MS = 5000
const COMMAND_TIMEOUT_MS = 5000
/** How long a node waits before it marks an unreachable peer as failed. */
export const NODE_TIMEOUT_MS = 2000

const NOT_INSTALLED = (binary: string) =>
  `${binary} not found: the Redis Cluster tests need redis-server and redis-cli ` +
  '(Debian/Ubuntu: `apt-get install -y redis-server`, which brings redis-tools; macOS: `brew install redis`).'

// ---- process bookkeeping ------------------------------------------------------------------

const live = new Set<ChildProcess>()
const liveDirs = new Set<string>()
let exitHookInstalled = false

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL')
      } catch {}
    }
    for (const dir of liveDirs) {
      try {
        rmSync(dir, { recursive: true, force: true })
      } catch {}
    }
  })
}

/**
 * SIGKILLs the node and removes the cluster's directory if this process dies without running its
 * 'exit' hooks; leaves when the node exits first.
 */
function startWatchdog(pid: number, dir: string): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do kill -0 ${pid} 2>/dev/null || exit 0; sleep 1; done; kill -9 ${pid} 2>/dev/null; rm -rf '${dir}'`
  try {
    const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' })
    watchdog.on('error', () => {})
    watchdog.unref()
  } catch {}
}

function findOnPath(binary: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, binary)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  throw new Error(NOT_INSTALLED(binary))
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer()
    server.unref()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * A port P such that P and P + 10000 (the node's cluster bus port) are both free. Ports are drawn
 * from 20000–45000 so that the bus port stays valid, and never twice from one process.
 */
const taken = new Set<number>()
async function freeClusterPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000)
    if (taken.has(port) || taken.has(port + 10_000) || taken.has(port - 10_000)) continue
    if ((await canBind(port)) && (await canBind(port + 10_000))) {
      taken.add(port)
      return port
    }
  }
  throw new Error('could not find a free pair of loopback ports (P, P + 10000) for a cluster node')
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

// ---- a minimal RESP2 client -----------------------------------------------------------------

function encodeCommand(args: readonly RespArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)]
  for (const arg of args) {
    const bytes =
      typeof arg === 'string' || typeof arg === 'number'
        ? Buffer.from(String(arg), 'utf8')
        : Buffer.from(arg.buffer, arg.byteOffset, arg.byteLength)
    parts.push(Buffer.from(`$${bytes.byteLength}\r\n`), bytes, Buffer.from('\r\n'))
  }
  return Buffer.concat(parts)
}

type Parsed = { value: RespReply | RespError; end: number } | undefined

function parseReply(buffer: Buffer, offset: number): Parsed {
  const lineEnd = buffer.indexOf('\r\n', offset)
  if (lineEnd === -1) return undefined
  const type = String.fromCharCode(buffer[offset] as number)
  const line = buffer.toString('utf8', offset + 1, lineEnd)
  const next = lineEnd + 2
  switch (type) {
    case '+':
      return { value: line, end: next }
    case '-':
      return { value: new RespError(line), end: next }
    case ':':
      return { value: Number(line), end: next }
    case '$': {
      const length = Number(line)
      if (length === -1) return { value: null, end: next }
      if (buffer.length < next + length + 2) return undefined
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count === -1) return { value: null, end: next }
      const items: RespReply[] = []
      let at = next
      for (let i = 0; i < count; i++) {
        const item = parseReply(buffer, at)
        if (item === undefined) return undefined
        if (item.value instanceof RespError) return item
        items.push(item.value)
        at = item.end
      }
      return { value: items, end: at }
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`)
  }
}

/** One command on a fresh connection to 127.0.0.1:port. Rejects with RespError on `-ERR`. */
export function rawCommand(port: number, args: readonly RespArg[]): Promise<RespReply> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    let buffer = Buffer.alloc(0)
    let settled = false
    const finish = (error: Error | undefined, value?: RespReply) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(value ?? null)
    }
    const timer = setTimeout(
      () =>
        finish(
          new Error(`redis ${String(args[0])} on port ${port}: no reply within ${COMMAND_TIMEOUT_MS} ms`),
        ),
      COMMAND_TIMEOUT_MS,
    )
    socket.on('connect', () => socket.write(encodeCommand(args)))
    socket.on('error', (error) => finish(error))
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      const parsed = parseReply(buffer, 0)
      if (parsed === undefined) return
      if (parsed.value instanceof RespError) finish(parsed.value)
      else finish(undefined, parsed.value)
    })
    socket.on('close', () =>
      finish(new Error(`redis ${String(args[0])}: connection closed before the reply`)),
    )
  })
}

function infoField(info: string, field: string): string | undefined {
  for (const line of info.split('\r\n')) {
    if (line.startsWith(`${field}:`)) return line.slice(field.length + 1)
  }
  return undefined
}

// ---- the cluster ------------------------------------------------------------------------

export interface ClusterNode {
  readonly port: number
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string
  /** Pid of the running process; undefined while killed. */
  readonly pid: number | undefined
  /** One command to this node (no redirection). */
  command(...args: RespArg[]): Promise<RespReply>
  /** Every key of this node matching `match`, via SCAN. */
  scan(match: string): Promise<string[]>
  /** SIGKILL; resolves once the process has exited. */
  kill(): Promise<void>
  /** SIGSTOP: the node keeps its sockets open but answers nothing. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Starts the node again (same port and cluster config: it rejoins with its slots, empty). */
  start(): Promise<void>
}

export interface RedisCluster {
  /** The masters, in the order they were created. */
  readonly nodes: readonly ClusterNode[]
  /** The URL of every master, for `l2: { redis: { cluster: urls } }`. */
  readonly urls: string[]
  /** The slot of `key`, as the server computes it (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>
  /** The master that owns `key`'s slot. */
  nodeOf(key: string): Promise<ClusterNode>
  /** A command on the master that owns `key` (its first argument after the command name). */
  commandForKey(key: string, ...args: RespArg[]): Promise<RespReply>
  /** Every key matching `match` on every running master, sorted. */
  scan(match: string): Promise<string[]>
  /** Resolves once every running node reports cluster_state:ok and knows every slot. */
  waitUntilOk(ms?: number): Promise<void>
  /** Kills every node and removes the temporary directory. Idempotent. */
  stop(): Promise<void>
}

class SpawnedNode implements ClusterNode {
  readonly port: number
  readonly #binary: string
  readonly #dir: string
  #child: ChildProcess | undefined
  #paused = false

  constructor(binary: string, dir: string, port: number) {
    this.#binary = binary
    this.#dir = dir
    this.port = port
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`cluster node ${this.port} is already running`)
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      path.join(this.#dir, `nodes-${this.port}.conf`),
      '--cluster-node-timeout',
      String(NODE_TIMEOUT_MS),
      '--cluster-require-full-coverage',
      'no',
      '--dir',
      this.#dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ]
    const child = spawn(this.#binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4000)
    }
    child.stdout?.on('data', collect)
    child.stderr?.on('data', collect)
    let spawnError: Error | undefined
    child.on('error', (error) => {
      spawnError = error
    })
    live.add(child)
    child.once('exit', () => live.delete(child))
    this.#child = child
    this.#paused = false
    if (child.pid !== undefined) startWatchdog(child.pid, this.#dir)
    const deadline = Date.now() + READY_TIMEOUT_MS
    let lastError: unknown
    for (;;) {
      if (spawnError !== undefined) lastError = spawnError
      const dead = child.exitCode !== null || child.signalCode !== null
      if (dead || spawnError !== undefined || Date.now() > deadline) {
        await this.kill()
        throw new Error(
          `cluster node on port ${this.port} did not start (${dead ? `exited: code ${child.exitCode}, signal ${child.signalCode}` : String(lastError)}):\n${output}`,
        )
      }
      try {
        if ((await rawCommand(this.port, ['PING'])) === 'PONG') return
      } catch (error) {
        lastError = error
      }
      await delay(20)
    }
  }

  command(...args: RespArg[]): Promise<RespReply> {
    return rawCommand(this.port, args)
  }

  async scan(match: string): Promise<string[]> {
    const keys = new Set<string>()
    let cursor = '0'
    do {
      const reply = (await this.command('SCAN', cursor, 'MATCH', match, 'COUNT', 1000)) as [string, string[]]
      cursor = reply[0]
      for (const key of reply[1]) keys.add(key)
    } while (cursor !== '0')
    return [...keys].sort()
  }

  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    if (this.#paused) child.kill('SIGCONT')
    child.kill('SIGKILL')
    await exited(child)
    this.#paused = false
    this.#child = undefined
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    this.resume()
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited(child)
    clearTimeout(timer)
    this.#child = undefined
  }

  pause(): void {
    if (this.#child === undefined)
      throw new Error(`cannot pause cluster node ${this.port}: it is not running`)
    this.#child.kill('SIGSTOP')
    this.#paused = true
  }

  resume(): void {
    if (!this.#paused || this.#child === undefined) return
    this.#child.kill('SIGCONT')
    this.#paused = false
  }
}

class SpawnedCluster implements RedisCluster {
  readonly nodes: SpawnedNode[]
  readonly #dir: string

  constructor(nodes: SpawnedNode[], dir: string) {
    this.nodes = nodes
    this.#dir = dir
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url)
  }

  #anyRunning(): SpawnedNode {
    const node = this.nodes.find((n) => n.running)
    if (node === undefined) throw new Error('no cluster node is running')
    return node
  }

  async slotOf(key: string): Promise<number> {
    return Number(await this.#anyRunning().command('CLUSTER', 'KEYSLOT', key))
  }

  async nodeOf(key: string): Promise<ClusterNode> {
    const slot = await this.slotOf(key)
    const ranges = (await this.#anyRunning().command('CLUSTER', 'SLOTS')) as [
      number,
      number,
      [string, number],
    ][]
    for (const [from, to, master] of ranges) {
      if (slot >= from && slot <= to) {
        const node = this.nodes.find((n) => n.port === Number(master[1]))
        if (node !== undefined) return node
      }
    }
    throw new Error(`no master owns slot ${slot} (key ${key})`)
  }

  async commandForKey(key: string, ...args: RespArg[]): Promise<RespReply> {
    return (await this.nodeOf(key)).command(...args)
  }

  async scan(match: string): Promise<string[]> {
    const keys: string[] = []
    for (const node of this.nodes) if (node.running) keys.push(...(await node.scan(match)))
    return keys.sort()
  }

  async waitUntilOk(ms = CLUSTER_OK_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + ms
    let last = ''
    for (;;) {
      const states = await Promise.all(
        this.nodes
          .filter((n) => n.running)
          .map(async (n) => {
            try {
              const info = String(await n.command('CLUSTER', 'INFO'))
              return {
                port: n.port,
                state: infoField(info, 'cluster_state'),
                slots: infoField(info, 'cluster_slots_ok'),
                known: infoField(info, 'cluster_known_nodes'),
              }
            } catch (error) {
              return { port: n.port, state: String(error), slots: '?', known: '?' }
            }
          }),
      )
      const total = String(this.nodes.length)
      if (states.every((s) => s.state === 'ok' && s.slots === '16384' && s.known === total)) return
      last = JSON.stringify(states)
      if (Date.now() > deadline) throw new Error(`the cluster is not ok after ${ms} ms: ${last}`)
      await delay(50)
    }
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()))
    rmSync(this.#dir, { recursive: true, force: true })
    liveDirs.delete(this.#dir)
  }
}

function runRedisCli(binary: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: CLUSTER_OK_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error)
        reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

/** Starts `masters` nodes on free loopback ports and joins them into one cluster; resolves once it is ok. */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const server = findOnPath('redis-server')
  const cli = findOnPath('redis-cli')
  installExitHook()
  const dir = mkdtempSync(path.join(tmpdir(), 'stratacache-cluster-'))
  liveDirs.add(dir)
  const nodes: SpawnedNode[] = []
  const cluster = new SpawnedCluster(nodes, dir)
  try {
    for (let i = 0; i < masters; i++) {
      let lastError: unknown
      // A free port can be taken between probing and binding: try a few.
      for (let attempt = 0; attempt < 3; attempt++) {
        const node = new SpawnedNode(server, dir, await freeClusterPort())
        try {
          await node.start()
          nodes.push(node)
          lastError = undefined
          break
        } catch (error) {
          lastError = error
        }
      }
      if (lastError !== undefined) throw lastError
    }
    await runRedisCli(cli, [
      '--cluster',
      'create',
      ...nodes.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      '0',
      '--cluster-yes',
    ])
    await cluster.waitUntilOk()
    return cluster
  } catch (error) {
    await cluster.stop()
    throw error
  }
}

/** Registers beforeAll/afterAll hooks that start one cluster for the file (or describe block) and always stop it. */
export function useRedisCluster(masters = 3): () => RedisCluster {
  let cluster: RedisCluster | undefined
  beforeAll(async () => {
    cluster = await startRedisCluster(masters)
  }, 60_000)
  afterAll(async () => {
    await cluster?.stop()
    cluster = undefined
  })
  return () => {
    if (cluster === undefined) throw new Error('the Redis Cluster of this suite is not running')
    return cluster
  }
}
