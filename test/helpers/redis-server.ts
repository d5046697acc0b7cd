/**
 * A real redis-server per test file: spawned on a free loopback port, stopped in afterAll, and
 * never leaked (an 'exit' hook plus a watchdog that kills it if the test process dies abruptly).
 *
 * Set REDIS_URL to run against an existing server instead; tests that need to kill, pause or
 * restart the server then fail with a clear error.
 *
 * Least privilege: a spawned server's `default` user — the one every client on `url` connects
 * as — gets only the commands, key patterns and channels the cache needs ({@link CACHE_ACL}), so
 * the suite proves nothing else is required. `command()` (admin actions: DEBUG, CONFIG, CLIENT
 * KILL, FLUSHDB…) authenticates as a separate admin user. `useRedisServer()` fails the file when
 * the server's ACL LOG shows a denied command (a NOPERM the cache may have swallowed).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll } from 'vitest'

export type RespArg = string | number | Uint8Array
/** A RESP reply: simple strings and bulk strings as `string` (or `Buffer` from `commandBuffer`). */
export type RespReply = string | number | null | RespReply[]
export type RespBufferReply = string | Buffer | number | null | RespBufferReply[]

export class RespError extends Error {}

const READY_TIMEOUT_MS = 5000
const STOP_TIMEOUT_MS = 5000
const COMMAND_TIMEOUT_MS = 5000

const NOT_INSTALLED =
  'redis-server not found: install it with `apt-get install -y redis-server` (or set REDIS_URL to use an existing server)'

/** The commands a cache needs for values, invalidation, locks, the bus and health (no MULTI, no streams). */
export const CACHE_CORE_COMMANDS = [
  // values, tombstones, locks, markers (the Lua scripts' own calls are checked too)
  'get',
  'mget',
  'set',
  'del',
  'unlink',
  'exists',
  'getrange',
  'persist',
  'pexpire',
  'pttl',
  'scan',
  // static scripts only (EVALSHA, then EVAL of the same source after NOSCRIPT)
  'evalsha',
  'eval',
  // the invalidation bus
  'publish',
  'subscribe',
  'unsubscribe',
  // connection, ready check, health (INFO memory), pipelines
  'ping',
  'info',
  'quit',
] as const

/**
 * The least-privilege ACL of the suite's client user: every command the cache, its locks,
 * invalidation (Lua), bus, health check and write-behind send, and nothing else — no KEYS,
 * FLUSHDB, CONFIG, DEBUG. Keys: the cache's layout (`<namespace>:<version>:<key>`,
 * `!tag:<ns>:…`, `!lock:<ns>:…`, `!wb:{…}:…`) all contain ':'; docs/security.md gives the
 * per-namespace line, which test/integration/security/acl.test.ts runs.
 */
export const CACHE_ACL = {
  commands: [
    ...CACHE_CORE_COMMANDS,
    'multi',
    'exec',
    'discard',
    // write-behind: streams, per-key sequences, time
    'xadd',
    'xreadgroup',
    'xack',
    'xautoclaim',
    'xgroup',
    'xpending',
    'xrange',
    'xdel',
    'xlen',
    'xinfo',
    'xtrim',
    'hincrby',
    'hset',
    'hget',
    'hmget',
    'hdel',
    'time',
    // write-behind with durability: 'replicated'
    'wait',
  ],
  keys: ['*:*'],
  channels: ['!bus:*'],
} as const

/**
 * {@link CACHE_ACL} plus what `l2.invalidation: 'tracking'` needs: CLIENT TRACKING on the command
 * connection, the subscriber's id (CLIENT ID with node-redis; CLIENT SETNAME, then CLIENT LIST
 * with ioredis, whose subscriber cannot send CLIENT ID) and the invalidation channel.
 */
export const TRACKING_ACL = {
  commands: [...CACHE_ACL.commands, 'client|tracking', 'client|id', 'client|setname', 'client|list'],
  keys: CACHE_ACL.keys,
  channels: [...CACHE_ACL.channels, '__redis__:invalidate'],
} as const

/** An ACL for the client user: commands (lowercase names), key globs, channel globs. */
export interface AclRules {
  readonly commands: readonly string[]
  readonly keys: readonly string[]
  readonly channels: readonly string[]
}

/** The `ACL SETUSER <user> …` arguments that give exactly `rules`. */
export function aclSetUserArgs(rules: AclRules): string[] {
  return [
    'on',
    'resetkeys',
    'resetchannels',
    ...rules.keys.map((k) => `~${k}`),
    ...rules.channels.map((c) => `&${c}`),
    '-@all',
    ...rules.commands.map((c) => `+${c}`),
  ]
}

export interface RedisServerOptions {
  /** The client user's ACL. Default {@link CACHE_ACL}; `false`: none (the default user may do anything). */
  acl?: AclRules | false
  /** Also listen for TLS, with a certificate signed by a CA generated for this run (`openssl`); `url` is then `rediss://`. */
  tls?: boolean
}

/** A CA and a server certificate for 127.0.0.1 / localhost, generated with openssl. */
export interface TestCertificates {
  readonly dir: string
  /** PEM of the CA certificate (what a client must trust). */
  readonly ca: string
  readonly caFile: string
  readonly certFile: string
  readonly keyFile: string
}

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (or REDIS_URL); `rediss://127.0.0.1:<tlsPort>` with `tls`. Connects as the least-privilege user. */
  readonly url: string
  /** The TLS port (with `tls`), else undefined. */
  readonly tlsPort: number | undefined
  /** The CA that signed the server's certificate (with `tls`), else undefined. */
  readonly certificates: TestCertificates | undefined
  readonly host: string
  readonly port: number
  /** Pid of the spawned server; undefined with REDIS_URL or once stopped. */
  readonly pid: number | undefined
  /** False when REDIS_URL points at a server this helper does not control. */
  readonly spawned: boolean
  /** One command on a fresh connection, as the admin user; bulk strings decoded as UTF-8. Rejects with RespError on `-ERR`. */
  command(...args: RespArg[]): Promise<RespReply>
  /** One command as the least-privilege user of `url` (plain port). */
  clientCommand(...args: RespArg[]): Promise<RespReply>
  /** What the server's ACL LOG recorded as denied (command or key/channel and the user), oldest first; empty when none or no ACL. */
  deniedCommands(): Promise<string[]>
  /** Like `command`, but bulk strings come back as Buffers (for binary values). */
  commandBuffer(...args: RespArg[]): Promise<RespBufferReply>
  /** Every key matching `match` (a SCAN glob), via SCAN — never KEYS. */
  scan(match: string): Promise<string[]>
  /** SIGTERM, then SIGKILL after 5 s; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>
  /** SIGKILL; resolves once the process has exited. */
  kill(): Promise<void>
  /** SIGSTOP: the server keeps its sockets open but answers nothing. */
  pause(): void
  /** SIGCONT. */
  resume(): void
  /** Stops the server (if running) and starts a fresh one on the same port. */
  restart(): Promise<void>
}

// ---- process bookkeeping ------------------------------------------------------------------

const live = new Set<ChildProcess>()
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
  })
}

/**
 * A detached shell that SIGKILLs the server if this process dies without running its 'exit'
 * hooks (SIGKILL of the test worker, a crash in native code…). It leaves on its own when the
 * server exits first. test/helpers/postgres.ts watches its postmaster with it too.
 */
export function startWatchdog(serverPid: number): void {
  const script = `while kill -0 ${process.pid} 2>/dev/null; do kill -0 ${serverPid} 2>/dev/null || exit 0; sleep 1; done; kill -9 ${serverPid} 2>/dev/null`
  try {
    const watchdog = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore' })
    watchdog.on('error', () => {})
    watchdog.unref()
  } catch {}
}

function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue
    const candidate = path.join(dir, binary)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** A free loopback port: bind port 0, read what the OS gave, release it. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not find a free port'))))
    })
  })
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
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

type Parsed = { value: RespBufferReply | RespError; end: number } | undefined

/** Parses one reply starting at `offset`; undefined when more bytes are needed. */
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
      return { value: Buffer.from(buffer.subarray(next, next + length)), end: next + length + 2 }
    }
    case '*': {
      const count = Number(line)
      if (count === -1) return { value: null, end: next }
      const items: RespBufferReply[] = []
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

function toStrings(reply: RespBufferReply): RespReply {
  if (Buffer.isBuffer(reply)) return reply.toString('utf8')
  if (Array.isArray(reply)) return reply.map(toStrings)
  return reply
}

interface Target {
  host: string
  port: number
  password: string | undefined
  username: string | undefined
  db: number | undefined
}

/** Sends `commands` on one fresh connection (AUTH/SELECT first when the URL asks) and returns the last reply. */
function rawCommand(target: Target, args: readonly RespArg[]): Promise<RespBufferReply> {
  const preamble: RespArg[][] = []
  if (target.password !== undefined) {
    preamble.push(
      target.username === undefined ? ['AUTH', target.password] : ['AUTH', target.username, target.password],
    )
  }
  if (target.db !== undefined && target.db !== 0) preamble.push(['SELECT', target.db])
  const all = [...preamble, args]
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: target.host, port: target.port })
    let buffer = Buffer.alloc(0)
    let offset = 0
    const replies: RespBufferReply[] = []
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`redis ${String(args[0])}: no reply within ${COMMAND_TIMEOUT_MS} ms`))
    }, COMMAND_TIMEOUT_MS)
    const finish = (error: Error | undefined, value?: RespBufferReply) => {
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(value ?? null)
    }
    socket.on('connect', () => socket.write(Buffer.concat(all.map(encodeCommand))))
    socket.on('error', (error) => finish(error))
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk])
      for (;;) {
        const parsed = parseReply(buffer, offset)
        if (parsed === undefined) return
        offset = parsed.end
        if (parsed.value instanceof RespError) return finish(parsed.value)
        replies.push(parsed.value)
        if (replies.length === all.length) return finish(undefined, parsed.value)
      }
    })
    socket.on('close', () =>
      finish(new Error(`redis ${String(args[0])}: connection closed before the reply`)),
    )
  })
}

/** Resolves once the server answers PING with +PONG; rejects after `ms` (or when `failed` says so). */
async function waitForPong(target: Target, ms: number, failed: () => string | undefined): Promise<void> {
  const deadline = Date.now() + ms
  let lastError: unknown
  while (Date.now() < deadline) {
    const failure = failed()
    if (failure !== undefined) throw new Error(failure)
    try {
      if ((await rawCommand(target, ['PING'])) === 'PONG') return
    } catch (error) {
      lastError = error
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(
    `redis-server on ${target.host}:${target.port} did not answer PING within ${ms} ms (last error: ${String(lastError)})`,
  )
}

// ---- the server -------------------------------------------------------------------------

// ---- least privilege and TLS ------------------------------------------------------------

const ADMIN_USER = 'stratacache-test-admin'
/** Random per run: the admin user is not reachable with a guessable password. */
const ADMIN_PASSWORD = `admin-${process.pid}-${Math.random().toString(36).slice(2)}`

let certificates: TestCertificates | undefined

/** Generates (once per process) a CA and a server certificate for 127.0.0.1 with openssl. */
export function testCertificates(): TestCertificates {
  if (certificates !== undefined) return certificates
  const dir = mkdtempSync(path.join(os.tmpdir(), 'stratacache-tls-'))
  const file = (name: string) => path.join(dir, name)
  const openssl = (...args: string[]) =>
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  try {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=stratacache test CA',
    )
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
      '-subj',
      '/CN=localhost',
    )
    writeFileSync(file('san.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n')
    openssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file('server.crt'),
      '-days',
      '1',
      '-extfile',
      file('san.cnf'),
    )
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `could not generate test certificates with openssl (apt-get install -y openssl): ${String(error)}`,
    )
  }
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  certificates = {
    dir,
    ca: readFileSync(file('ca.crt'), 'utf8'),
    caFile: file('ca.crt'),
    certFile: file('server.crt'),
    keyFile: file('server.key'),
  }
  return certificates
}

/** Makes `default` (what `url` connects as) least-privilege and adds the admin user `command()` uses. */
async function applyAcl(target: Target, rules: AclRules): Promise<void> {
  await rawCommand(target, ['ACL', 'SETUSER', ADMIN_USER, 'on', `>${ADMIN_PASSWORD}`, '~*', '&*', '+@all'])
  await rawCommand({ ...target, username: ADMIN_USER, password: ADMIN_PASSWORD }, [
    'ACL',
    'SETUSER',
    'default',
    'nopass',
    ...aclSetUserArgs(rules),
  ])
}

async function deniedCommands(admin: Target): Promise<string[]> {
  const log = (await rawCommand(admin, ['ACL', 'LOG']).then(toStrings)) as RespReply[]
  return (
    log
      // A failed login (reason 'auth') is not a permission the cache lacked.
      .filter((entry) => {
        const fields = entry as RespReply[]
        return fields[fields.indexOf('reason') + 1] !== 'auth'
      })
      .map((entry) => {
        const fields = entry as RespReply[]
        const field = (name: string) => fields[fields.indexOf(name) + 1]
        return `${String(field('reason'))} ${String(field('object'))} (user ${String(field('username'))}, ${String(field('count'))}×)`
      })
      .reverse()
  )
}

class SpawnedRedis implements RedisServer {
  readonly host = '127.0.0.1'
  readonly spawned = true
  readonly port: number
  readonly tlsPort: number | undefined
  readonly certificates: TestCertificates | undefined
  readonly #binary: string
  readonly #acl: AclRules | false
  #aclApplied = false
  #child: ChildProcess | undefined
  #paused = false

  constructor(binary: string, port: number, options: RedisServerOptions, tlsPort: number | undefined) {
    this.#binary = binary
    this.port = port
    this.#acl = options.acl ?? CACHE_ACL
    this.tlsPort = tlsPort
    this.certificates = tlsPort === undefined ? undefined : testCertificates()
  }

  get url(): string {
    return this.tlsPort === undefined
      ? `redis://${this.host}:${this.port}`
      : `rediss://${this.host}:${this.tlsPort}`
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  /** The client user (plain port). */
  get #client(): Target {
    return { host: this.host, port: this.port, password: undefined, username: undefined, db: undefined }
  }

  /** The admin user once the ACL is in place. */
  get #target(): Target {
    return this.#aclApplied
      ? { ...this.#client, username: ADMIN_USER, password: ADMIN_PASSWORD }
      : this.#client
  }

  async start(): Promise<void> {
    this.#aclApplied = false
    const args = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--enable-debug-command',
      'local',
      '--daemonize',
      'no',
    ]
    const certs = this.certificates
    if (this.tlsPort !== undefined && certs !== undefined) {
      args.push(
        '--tls-port',
        String(this.tlsPort),
        '--tls-cert-file',
        certs.certFile,
        '--tls-key-file',
        certs.keyFile,
        '--tls-ca-cert-file',
        certs.caFile,
        '--tls-auth-clients',
        'no',
      )
    }
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
    if (child.pid !== undefined) startWatchdog(child.pid)
    try {
      await waitForPong(this.#target, READY_TIMEOUT_MS, () => {
        if (spawnError !== undefined) return `could not start redis-server: ${spawnError.message}`
        if (child.exitCode !== null || child.signalCode !== null) {
          return `redis-server exited during startup (code ${child.exitCode}, signal ${child.signalCode}) on port ${this.port}:\n${output}`
        }
        return undefined
      })
      if (this.#acl !== false) {
        await applyAcl(this.#client, this.#acl)
        this.#aclApplied = true
      }
    } catch (error) {
      await this.kill()
      throw error
    }
  }

  command(...args: RespArg[]): Promise<RespReply> {
    return rawCommand(this.#target, args).then(toStrings)
  }

  commandBuffer(...args: RespArg[]): Promise<RespBufferReply> {
    return rawCommand(this.#target, args)
  }

  clientCommand(...args: RespArg[]): Promise<RespReply> {
    return rawCommand(this.#client, args).then(toStrings)
  }

  async deniedCommands(): Promise<string[]> {
    if (!this.#aclApplied || this.#child === undefined) return []
    return deniedCommands(this.#target)
  }

  scan(match: string): Promise<string[]> {
    return scanAll(this, match)
  }

  async stop(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    this.resume()
    child.kill('SIGTERM')
    if ((await withTimeout(exited(child), STOP_TIMEOUT_MS)) === 'timeout') {
      child.kill('SIGKILL')
      await exited(child)
    }
    this.#child = undefined
  }

  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined) return
    child.kill('SIGKILL')
    await exited(child)
    this.#paused = false
    this.#child = undefined
  }

  pause(): void {
    const child = this.#running('pause')
    child.kill('SIGSTOP')
    this.#paused = true
  }

  resume(): void {
    if (!this.#paused || this.#child === undefined) return
    this.#child.kill('SIGCONT')
    this.#paused = false
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.start()
  }

  #running(what: string): ChildProcess {
    if (this.#child === undefined) throw new Error(`cannot ${what} redis-server: it is not running`)
    return this.#child
  }
}

class ExternalRedis implements RedisServer {
  readonly spawned = false
  readonly pid = undefined
  readonly tlsPort = undefined
  readonly certificates = undefined
  readonly url: string
  readonly host: string
  readonly port: number
  readonly #target: Target

  constructor(url: string) {
    const parsed = new URL(url)
    if (parsed.protocol !== 'redis:') {
      throw new Error(`REDIS_URL must be a redis:// URL for the test helper; got ${parsed.protocol}`)
    }
    this.url = url
    this.host = parsed.hostname || '127.0.0.1'
    this.port = parsed.port === '' ? 6379 : Number(parsed.port)
    const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined
    this.#target = {
      host: this.host,
      port: this.port,
      password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
      username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
      db,
    }
  }

  async start(): Promise<void> {
    await waitForPong(this.#target, READY_TIMEOUT_MS, () => undefined)
  }

  command(...args: RespArg[]): Promise<RespReply> {
    return rawCommand(this.#target, args).then(toStrings)
  }

  commandBuffer(...args: RespArg[]): Promise<RespBufferReply> {
    return rawCommand(this.#target, args)
  }

  /** An external server is used as given (its users are yours): same as `command`. */
  clientCommand(...args: RespArg[]): Promise<RespReply> {
    return rawCommand(this.#target, args).then(toStrings)
  }

  async deniedCommands(): Promise<string[]> {
    return []
  }

  scan(match: string): Promise<string[]> {
    return scanAll(this, match)
  }

  async stop(): Promise<void> {}

  kill(): Promise<void> {
    return Promise.reject(unsupported('kill'))
  }

  pause(): void {
    throw unsupported('pause')
  }

  resume(): void {
    throw unsupported('resume')
  }

  restart(): Promise<void> {
    return Promise.reject(unsupported('restart'))
  }
}

function unsupported(what: string): Error {
  return new Error(
    `This test needs to ${what} redis-server, which only works with a server the helper spawned: unset REDIS_URL (${process.env.REDIS_URL}) to run it.`,
  )
}

async function scanAll(server: RedisServer, match: string): Promise<string[]> {
  const keys = new Set<string>()
  let cursor = '0'
  do {
    const reply = (await server.command('SCAN', cursor, 'MATCH', match, 'COUNT', 1000)) as [string, string[]]
    cursor = reply[0]
    for (const key of reply[1]) keys.add(key)
  } while (cursor !== '0')
  return [...keys].sort()
}

/**
 * Starts a redis-server on a free loopback port (or connects to REDIS_URL) and resolves once it
 * answers PING. Throws if redis-server is not installed — tests never skip silently.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const external = process.env.REDIS_URL
  if (external !== undefined && external !== '' && options.tls !== true) {
    const server = new ExternalRedis(external)
    await server.start()
    return server
  }
  const binary = findOnPath('redis-server')
  if (binary === undefined) throw new Error(NOT_INSTALLED)
  installExitHook()
  let lastError: unknown
  // A free port can be taken between probing and binding: try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new SpawnedRedis(
      binary,
      await freePort(),
      options,
      options.tls === true ? await freePort() : undefined,
    )
    try {
      await server.start()
      return server
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

/**
 * Registers beforeAll/afterAll hooks that start one server for the current file (or describe
 * block) and always stop it; returns a getter for use inside tests and hooks.
 */
export function useRedisServer(options: RedisServerOptions = {}): () => RedisServer {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await startRedisServer(options)
  })
  afterAll(async () => {
    const running = server
    server = undefined
    let denied: string[] = []
    try {
      // A NOPERM the cache swallowed (counted as an L2 error) still fails the file.
      denied = (await running?.deniedCommands()) ?? []
    } finally {
      await running?.stop()
    }
    if (denied.length > 0) {
      throw new Error(
        `the least-privilege ACL user was denied: ${denied.join('; ')}. The cache must not need these (or CACHE_ACL in test/helpers/redis-server.ts is missing a command it legitimately needs).`,
      )
    }
  })
  return () => {
    if (server === undefined) throw new Error('the redis-server of this suite is not running')
    return server
  }
}

/** A namespace no other test (or earlier run against REDIS_URL) uses. */
export function uniqueNamespace(label: string): string {
  return `${label}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
}
