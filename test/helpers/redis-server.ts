/**
 * A real redis-server per test file: spawned on a free loopback port, stopped in afterAll, and
 * never leaked (an 'exit' hook plus a watchdog that kills it if the test process dies abruptly).
 *
 * Set REDIS_URL to run against an existing server instead; tests that need to kill, pause or
 * restart the server then fail with a clear error.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import net from 'node:net'
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

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` (or REDIS_URL). */
  readonly url: string
  readonly host: string
  readonly port: number
  /** Pid of the spawned server; undefined with REDIS_URL or once stopped. */
  readonly pid: number | undefined
  /** False when REDIS_URL points at a server this helper does not control. */
  readonly spawned: boolean
  /** One command on a fresh connection; bulk strings decoded as UTF-8. Rejects with RespError on `-ERR`. */
  command(...args: RespArg[]): Promise<RespReply>
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
 * server exits first.
 */
function startWatchdog(serverPid: number): void {
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

class SpawnedRedis implements RedisServer {
  readonly host = '127.0.0.1'
  readonly spawned = true
  readonly port: number
  readonly #binary: string
  #child: ChildProcess | undefined
  #paused = false

  constructor(binary: string, port: number) {
    this.#binary = binary
    this.port = port
  }

  get url(): string {
    return `redis://${this.host}:${this.port}`
  }

  get pid(): number | undefined {
    return this.#child?.pid
  }

  get #target(): Target {
    return { host: this.host, port: this.port, password: undefined, username: undefined, db: undefined }
  }

  async start(): Promise<void> {
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
export async function startRedisServer(): Promise<RedisServer> {
  const external = process.env.REDIS_URL
  if (external !== undefined && external !== '') {
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
    const server = new SpawnedRedis(binary, await freePort())
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
export function useRedisServer(): () => RedisServer {
  let server: RedisServer | undefined
  beforeAll(async () => {
    server = await startRedisServer()
  })
  afterAll(async () => {
    await server?.stop()
    server = undefined
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
