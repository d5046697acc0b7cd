/**
 * A real PostgreSQL per test file, like test/helpers/redis-server.ts does for Redis: `initdb` into
 * a temporary directory, `pg_ctl start` on a free loopback port (no Unix socket, nothing shared
 * with a server this machine may already run on the standard port), `pg_ctl stop` and the
 * directory removed in afterAll. Never leaked: an 'exit' hook stops it, and a watchdog kills it if the test process
 * dies without running its hooks.
 *
 * initdb and postgres refuse to run as root; CI runs as root. As root, the server's files belong
 * to the `postgres` user that Debian's package creates, and the binaries run as that user.
 * The binaries are found on PATH or under /usr/lib/postgresql/<version>/bin (Debian keeps them
 * there); when none is found the test fails with the command that installs them.
 */
import { type ExecFileSyncOptions, execFileSync } from 'node:child_process'
import {
  accessSync,
  chownSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll } from 'vitest'
import { freePort, startWatchdog } from './redis-server.js'

/** What a `pg` client needs to connect (trust authentication, no password). */
export interface PostgresConnection {
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
}

export interface PostgresServer {
  readonly connection: PostgresConnection
  /** `pg_ctl stop -m fast`, then the data directory is removed. */
  stop(): Promise<void>
}

const NOT_INSTALLED =
  'PostgreSQL not found (no initdb on PATH nor under /usr/lib/postgresql/*/bin): install it with `apt-get install -y postgresql`.'
const START_TIMEOUT_S = 30
const DEBIAN_BINARIES = '/usr/lib/postgresql'

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK)
    return true
  } catch {
    return false
  }
}

/** The directory holding initdb, pg_ctl and postgres: PATH first, then Debian's newest version. */
export function postgresBinaries(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const initdb = path.join(dir, 'initdb')
    // PATH may hold links to a few of them only: the directory they link into holds all.
    if (dir !== '' && executable(initdb)) return path.dirname(realpathSync(initdb))
  }
  let versions: string[] = []
  try {
    versions = readdirSync(DEBIAN_BINARIES)
  } catch {}
  const newestFirst = versions
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a))
    .map((v) => path.join(DEBIAN_BINARIES, v, 'bin'))
  const found = newestFirst.find((dir) => executable(path.join(dir, 'initdb')))
  if (found === undefined) throw new Error(NOT_INSTALLED)
  return found
}

/** As root, the uid/gid of the `postgres` system user the binaries must run as; otherwise ourselves. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
  if (line === undefined) {
    throw new Error(
      'Running as root, and there is no `postgres` user to run initdb as (initdb refuses root): install PostgreSQL with `apt-get install -y postgresql`, which creates it.',
    )
  }
  const [, , uid, gid] = line.split(':')
  return { uid: Number(uid), gid: Number(gid) }
}

let exitHookInstalled = false
const running = new Set<() => void>()

function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const stop of running) stop()
  })
}

/** Starts a fresh PostgreSQL (database `postgres`, user `postgres`, trust auth) on a free loopback port. */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinaries()
  const user = runAs()
  const home = mkdtempSync(path.join(os.tmpdir(), 'stratacache-pg-'))
  const data = path.join(home, 'data')
  if (user !== undefined) chownSync(home, user.uid, user.gid)
  const options: ExecFileSyncOptions = {
    cwd: home,
    stdio: 'pipe',
    env: { PATH: process.env.PATH ?? '', LANG: 'C', LC_ALL: 'C' },
    ...(user ?? {}),
  }
  const run = (binary: string, args: string[]): void => {
    try {
      execFileSync(path.join(bin, binary), args, options)
    } catch (error) {
      const output = (error as { stderr?: Buffer; stdout?: Buffer }).stderr?.toString() ?? ''
      throw new Error(`${binary} ${args.join(' ')} failed: ${output.trim()}`, { cause: error })
    }
  }
  let stopNow: (() => void) | undefined
  try {
    run('initdb', [
      '-D',
      data,
      '-U',
      'postgres',
      '--auth=trust',
      '--no-sync',
      '--encoding=UTF8',
      '--locale=C',
    ])
    let port = 0
    let lastError: unknown
    // A free port can be taken between probing and binding: try a few.
    for (let attempt = 0; attempt < 3 && port === 0; attempt++) {
      const candidate = await freePort()
      const serverOptions = [
        `-p ${candidate}`,
        "-c listen_addresses='127.0.0.1'",
        "-c unix_socket_directories=''",
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
        '-c max_connections=50',
      ].join(' ')
      try {
        run('pg_ctl', [
          'start',
          '-D',
          data,
          '-w',
          '-t',
          String(START_TIMEOUT_S),
          '-l',
          path.join(home, 'server.log'),
          '-o',
          serverOptions,
        ])
        port = candidate
      } catch (error) {
        lastError = error
      }
    }
    if (port === 0) throw lastError
    stopNow = () => {
      try {
        execFileSync(path.join(bin, 'pg_ctl'), ['stop', '-D', data, '-m', 'immediate'], options)
      } catch {}
    }
    const stopping = stopNow
    running.add(stopping)
    installExitHook()
    const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
    startWatchdog(pid)
    return {
      connection: { host: '127.0.0.1', port, user: 'postgres', database: 'postgres' },
      stop: async () => {
        running.delete(stopping)
        try {
          run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w'])
        } finally {
          rmSync(home, { recursive: true, force: true })
        }
      },
    }
  } catch (error) {
    stopNow?.()
    const log = readLog(path.join(home, 'server.log'))
    rmSync(home, { recursive: true, force: true })
    if (log === '') throw error
    throw new Error(`PostgreSQL did not start; its log ends with:\n${log}`, { cause: error })
  }
}

function readLog(file: string): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-20).join('\n').trim()
  } catch {
    return ''
  }
}

/**
 * Registers beforeAll/afterAll hooks that start one PostgreSQL for the current file and always
 * stop it; returns a getter for its connection, for use inside tests and hooks.
 */
export function usePostgres(): () => PostgresConnection {
  let server: PostgresServer | undefined
  beforeAll(async () => {
    server = await startPostgres()
  }, 60_000)
  afterAll(async () => {
    const stopping = server
    server = undefined
    await stopping?.stop()
  })
  return () => {
    if (server === undefined) throw new Error('the PostgreSQL of this suite is not running')
    return server.connection
  }
}
