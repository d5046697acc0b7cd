/**
 * A real Redis Cluster per test file: N masters (and, with `replicas`, that many replicas of each)
 * spawned on free loopback ports, in a temporary directory, joined with `redis-cli --cluster
 * create`, and torn down in afterAll (kill, then the directory removed). Never leaked: an 'exit'
 * hook kills what is still running and a detached watchdog per node kills it if the test process
 * dies without running its hooks.
 *
 * Nodes run with `cluster-require-full-coverage no`, so that while one master is down the others
 * keep serving their slots (the default stops the whole cluster once the dead node is marked
 * failed), and a short `cluster-node-timeout`, so that this happens within a test. Options: TLS
 * only (client, bus and replication; certificates from openssl, as redis-server.ts makes them) and
 * the least-privilege ACL on every node (the default user, which `urls` connect as, limited to the
 * rules; an admin user for the helper's own commands and for replication).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { afterAll, beforeAll } from 'vitest'
import { type AclRules, aclSetUserArgs, type TestCertificates, testCertificates } from './redis-server.js'

export type RespArg = string | number | Uint8Array
export type RespReply = string | number | null | RespReply[]

export class RespError extends Error {}

const READY_TIMEOUT_MS = 5000
const CLUSTER_OK_TIMEOUT_MS = 20_000
const COMMAND_TIMEOUT_MS = 5000
/** How long a node waits before it marks an unreachable peer as failed (default). */
export const NODE_TIMEOUT_MS = 2000

const ADMIN_USER = 'stratacache-cluster-admin'
/** Random per run: the admin user is not reachable with a guessable password. */
const ADMIN_PASSWORD = `admin-${process.pid}-${Math.random().toString(36).slice(2)}`

export interface RedisClusterOptions {
  /** Replicas per master (default 0). */
  replicas?: number
  /** `cluster-node-timeout` in ms (default {@link NODE_TIMEOUT_MS}). */
  nodeTimeoutMs?: number
  /** TLS only: clients, the cluster bus and replication (`rediss://` URLs; the CA in `certificates`). */
  tls?: boolean
  /** The default user's ACL on every node (what `urls` connect as); none by default. */
  acl?: AclRules
}

/** How the helper reaches a node: its port, over TLS or not, as which user. */
interface Connection {
  port: number
  ca?: string
  auth?: { username: string; password: string }
}

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

/**
 * One command on a fresh connection to 127.0.0.1 (a port, or a port with TLS and credentials;
 * AUTH is sent first). Rejects with RespError on `-ERR`.
 */
export function rawCommand(to: number | Connection, args: readonly RespArg[]): Promise<RespReply> {
  const { port, ca, auth } = typeof to === 'number' ? { port: to } : to
  const all = auth === undefined ? [args] : [['AUTH', auth.username, auth.password], args]
  return new Promise((resolve, reject) => {
    const socket =
      ca === undefined
        ? net.connect({ host: '127.0.0.1', port })
        : tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' })
    let buffer = Buffer.alloc(0)
    let offset = 0
    let replies = 0
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
    socket.on(ca === undefined ? 'connect' : 'secureConnect', () =>
      socket.write(Buffer.concat(all.map(encodeCommand))),
    )
    socket.on('error', (error) => finish(error))
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const parsed = parseReply(buffer, offset)
        if (parsed === undefined) return
        offset = parsed.end
        if (parsed.value instanceof RespError) return finish(parsed.value)
        if (++replies === all.length) return finish(undefined, parsed.value)
      }
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
  /** `redis://127.0.0.1:<port>` (`rediss://` with TLS); connects as the default user. */
  readonly url: string
  /** Pid of the running process; undefined while killed. */
  readonly pid: number | undefined
  /** One command to this node (no redirection), as the admin user when there is an ACL. */
  command(...args: RespArg[]): Promise<RespReply>
  /** One command as the default user (the one the cache connects as). */
  clientCommand(...args: RespArg[]): Promise<RespReply>
  /** Every key of this node matching `match`, via SCAN. */
  scan(match: string): Promise<string[]>
  /** SIGKILL; resolves once the process has exited. */
  kill(): Promise<void>
  /** SIGSTOP: the node keeps its sockets open but answers nothing. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Starts the node again (same port and cluster config: it rejoins, as a replica if it was failed over). */
  start(): Promise<void>
}

/** A node as CLUSTER NODES describes it. */
export interface NodeRole {
  readonly node: ClusterNode
  readonly role: 'master' | 'replica'
  /** For a replica, its master's port. */
  readonly masterPort: number | undefined
  /** Flagged `fail` or `fail?` by the node asked. */
  readonly failing: boolean
  /** For a master: how many slots it serves. */
  readonly slots: number
}

export interface RedisCluster {
  /** Every node, in the order they were created (the first `masters` were created as masters). */
  readonly nodes: readonly ClusterNode[]
  /** The URL of every node, for `l2: { redis: { cluster: urls } }`. */
  readonly urls: string[]
  /** With `tls`: the CA (and files) the servers' certificates are signed by. */
  readonly certificates: TestCertificates | undefined
  /** The slot of `key`, as the server computes it (CLUSTER KEYSLOT). */
  slotOf(key: string): Promise<number>
  /** The master that owns `key`'s slot. */
  nodeOf(key: string): Promise<ClusterNode>
  /** A command on the master that owns `key` (its first argument after the command name). */
  commandForKey(key: string, ...args: RespArg[]): Promise<RespReply>
  /** Every key matching `match` on every running master, sorted. */
  scan(match: string): Promise<string[]>
  /** The roles of the nodes, as a running node (not `notAsking`) sees them. */
  roles(notAsking?: ClusterNode): Promise<NodeRole[]>
  /** The masters serving slots now. */
  masters(): Promise<ClusterNode[]>
  /** A replica of `master`, if it has one. */
  replicaOf(master: ClusterNode): Promise<ClusterNode | undefined>
  /**
   * Resolves once every running node reports cluster_state:ok, knows every node and every slot
   * and, with replicas, every master serving slots has a replica whose link to it is up.
   */
  waitUntilOk(ms?: number): Promise<void>
  /** Commands the ACL refused, from every running node's ACL LOG (none without an ACL). */
  deniedCommands(): Promise<string[]>
  /** Kills every node and removes the temporary directory. Idempotent. */
  stop(): Promise<void>
}

interface NodeSettings {
  readonly binary: string
  readonly dir: string
  readonly nodeTimeoutMs: number
  readonly certificates: TestCertificates | undefined
  readonly acl: AclRules | undefined
}

class SpawnedNode implements ClusterNode {
  readonly port: number
  readonly #settings: NodeSettings
  #child: ChildProcess | undefined
  #paused = false

  constructor(settings: NodeSettings, port: number) {
    this.#settings = settings
    this.port = port
  }

  get url(): string {
    return `${this.#settings.certificates === undefined ? 'redis' : 'rediss'}://127.0.0.1:${this.port}`
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  get running(): boolean {
    return this.#child !== undefined
  }

  /** As the admin user when there is an ACL (the default user is limited then). */
  get #admin(): Connection {
    return {
      ...this.#client,
      ...(this.#settings.acl === undefined
        ? {}
        : { auth: { username: ADMIN_USER, password: ADMIN_PASSWORD } }),
    }
  }

  get #client(): Connection {
    const ca = this.#settings.certificates?.ca
    return ca === undefined ? { port: this.port } : { port: this.port, ca }
  }

  async start(): Promise<void> {
    if (this.#child !== undefined) throw new Error(`cluster node ${this.port} is already running`)
    const { binary, dir, nodeTimeoutMs, certificates, acl } = this.#settings
    const args = [
      ...(certificates === undefined
        ? ['--port', String(this.port)]
        : [
            '--port',
            '0',
            '--tls-port',
            String(this.port),
            '--tls-cluster',
            'yes',
            '--tls-replication',
            'yes',
            '--tls-cert-file',
            certificates.certFile,
            '--tls-key-file',
            certificates.keyFile,
            '--tls-ca-cert-file',
            certificates.caFile,
            '--tls-auth-clients',
            'no',
          ]),
      // Replicas authenticate to their master as the admin (the default user may not PSYNC).
      ...(acl === undefined ? [] : ['--masteruser', ADMIN_USER, '--masterauth', ADMIN_PASSWORD]),
      '--bind',
      '127.0.0.1',
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      path.join(dir, `nodes-${this.port}.conf`),
      '--cluster-node-timeout',
      String(nodeTimeoutMs),
      '--cluster-require-full-coverage',
      'no',
      '--dir',
      dir,
      '--dbfilename',
      `dump-${this.port}.rdb`,
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ]
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] })
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
    if (child.pid !== undefined) startWatchdog(child.pid, dir)
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
        if ((await rawCommand(this.#client, ['PING'])) === 'PONG') break
      } catch (error) {
        lastError = error
      }
      await delay(20)
    }
    if (acl !== undefined) {
      // The admin first (as the default user, still unrestricted), then the default user limited.
      await rawCommand(this.#client, [
        'ACL',
        'SETUSER',
        ADMIN_USER,
        'on',
        `>${ADMIN_PASSWORD}`,
        '~*',
        '&*',
        '+@all',
      ])
      await rawCommand(this.#admin, ['ACL', 'SETUSER', 'default', 'nopass', ...aclSetUserArgs(acl)])
    }
  }

  command(...args: RespArg[]): Promise<RespReply> {
    return rawCommand(this.#admin, args)
  }

  clientCommand(...args: RespArg[]): Promise<RespReply> {
    return rawCommand(this.#client, args)
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
  readonly certificates: TestCertificates | undefined
  readonly #dir: string
  readonly #replicas: number

  constructor(
    nodes: SpawnedNode[],
    dir: string,
    replicas: number,
    certificates: TestCertificates | undefined,
  ) {
    this.nodes = nodes
    this.#dir = dir
    this.#replicas = replicas
    this.certificates = certificates
  }

  get urls(): string[] {
    return this.nodes.map((n) => n.url)
  }

  #anyRunning(except?: ClusterNode): SpawnedNode {
    const node = this.nodes.find((n) => n.running && n !== except)
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
    for (const node of await this.masters())
      if (node.pid !== undefined) keys.push(...(await node.scan(match)))
    return keys.sort()
  }

  async roles(notAsking?: ClusterNode): Promise<NodeRole[]> {
    const text = String(await this.#anyRunning(notAsking).command('CLUSTER', 'NODES'))
    const lines = text.split('\n').filter((line) => line.trim() !== '')
    const idToPort = new Map<string, number>()
    const parsed = lines.map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(' ') as string[]
      const port = Number(/:(\d+)@/.exec(address as string)?.[1])
      idToPort.set(id as string, port)
      return { port, flags: (flags as string).split(','), master: master as string, slots }
    })
    const out: NodeRole[] = []
    for (const p of parsed) {
      const node = this.nodes.find((n) => n.port === p.port)
      if (node === undefined) continue
      let slots = 0
      for (const range of p.slots) {
        if (range.startsWith('[')) continue
        const [from, to] = range.split('-').map(Number) as [number, number | undefined]
        slots += (to ?? from) - from + 1
      }
      out.push({
        node,
        role: p.flags.includes('master') ? 'master' : 'replica',
        masterPort: p.master === '-' ? undefined : idToPort.get(p.master),
        failing: p.flags.includes('fail') || p.flags.includes('fail?'),
        slots,
      })
    }
    return out
  }

  async masters(): Promise<ClusterNode[]> {
    return (await this.roles()).filter((r) => r.role === 'master' && r.slots > 0).map((r) => r.node)
  }

  async replicaOf(master: ClusterNode): Promise<ClusterNode | undefined> {
    const roles = await this.roles(master)
    return roles.find((r) => r.role === 'replica' && r.masterPort === master.port && !r.failing)?.node
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
              const replication = String(await n.command('INFO', 'replication'))
              return {
                port: n.port,
                state: infoField(info, 'cluster_state'),
                slots: infoField(info, 'cluster_slots_ok'),
                known: infoField(info, 'cluster_known_nodes'),
                role: infoField(replication, 'role'),
                link: infoField(replication, 'master_link_status'),
              }
            } catch (error) {
              return { port: n.port, state: String(error), slots: '?', known: '?', role: '?', link: '?' }
            }
          }),
      )
      const total = String(this.nodes.length)
      let ok = states.every((s) => s.state === 'ok' && s.slots === '16384' && s.known === total)
      if (ok && this.#replicas > 0) {
        // Every master serving slots has a replica in sync with it.
        const roles = await this.roles().catch(() => [])
        const synced = new Set(states.filter((s) => s.role === 'slave' && s.link === 'up').map((s) => s.port))
        ok = roles
          .filter((r) => r.role === 'master' && r.slots > 0)
          .every((m) =>
            roles.some((r) => r.masterPort === m.node.port && synced.has(r.node.port) && !r.failing),
          )
      }
      if (ok) return
      last = JSON.stringify(states)
      if (Date.now() > deadline) throw new Error(`the cluster is not ok after ${ms} ms: ${last}`)
      await delay(50)
    }
  }

  async deniedCommands(): Promise<string[]> {
    const denied: string[] = []
    for (const node of this.nodes) {
      if (!node.running) continue
      const log = (await node.command('ACL', 'LOG')) as RespReply[]
      for (const entry of log) {
        const fields = entry as RespReply[]
        const field = (name: string) => fields[fields.indexOf(name) + 1]
        if (field('reason') === 'auth') continue
        denied.push(
          `${String(field('reason'))} ${String(field('object'))} (user ${String(field('username'))}, node ${node.port})`,
        )
      }
    }
    return denied
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()))
    rmSync(this.#dir, { recursive: true, force: true })
    liveDirs.delete(this.#dir)
  }
}

function runRedisCli(binary: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      { timeout: CLUSTER_OK_TIMEOUT_MS, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        if (error)
          reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`))
        else resolve(stdout)
      },
    )
  })
}

/**
 * Starts `masters` × (1 + `replicas`) nodes on free loopback ports and joins them into one cluster;
 * resolves once it is ok (and every master's replica is in sync).
 */
export async function startRedisCluster(
  masters = 3,
  options: RedisClusterOptions = {},
): Promise<RedisCluster> {
  const binary = findOnPath('redis-server')
  const cli = findOnPath('redis-cli')
  installExitHook()
  const replicas = options.replicas ?? 0
  const certificates = options.tls === true ? testCertificates() : undefined
  const dir = mkdtempSync(path.join(tmpdir(), 'stratacache-cluster-'))
  liveDirs.add(dir)
  const settings: NodeSettings = {
    binary,
    dir,
    nodeTimeoutMs: options.nodeTimeoutMs ?? NODE_TIMEOUT_MS,
    certificates,
    acl: options.acl,
  }
  const nodes: SpawnedNode[] = []
  const cluster = new SpawnedCluster(nodes, dir, replicas, certificates)
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      let lastError: unknown
      // A free port can be taken between probing and binding: try a few.
      for (let attempt = 0; attempt < 3; attempt++) {
        const node = new SpawnedNode(settings, await freeClusterPort())
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
    await runRedisCli(
      cli,
      [
        ...(certificates === undefined ? [] : ['--tls', '--cacert', certificates.caFile]),
        ...(options.acl === undefined ? [] : ['--user', ADMIN_USER]),
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      options.acl === undefined ? {} : { REDISCLI_AUTH: ADMIN_PASSWORD },
    )
    await cluster.waitUntilOk()
    return cluster
  } catch (error) {
    await cluster.stop()
    throw error
  }
}

/** Registers beforeAll/afterAll hooks that start one cluster for the file (or describe block) and always stop it. */
export function useRedisCluster(masters = 3, options: RedisClusterOptions = {}): () => RedisCluster {
  let cluster: RedisCluster | undefined
  beforeAll(async () => {
    cluster = await startRedisCluster(masters, options)
  }, 90_000)
  afterAll(async () => {
    await cluster?.stop()
    cluster = undefined
  })
  return () => {
    if (cluster === undefined) throw new Error('the Redis Cluster of this suite is not running')
    return cluster
  }
}
