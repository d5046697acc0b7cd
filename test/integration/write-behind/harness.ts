/**
 * What the write-behind integration tests share: a PostgreSQL of their own per test file
 * (test/helpers/postgres.ts) with a schema created and dropped here, the flush that applies a batch idempotently (the documented contract), a TCP
 * proxy that can refuse connections (the database "down" without touching the server), a
 * redis-server with AOF in a temporary directory, and forked worker processes driven over IPC
 * (test/helpers/workers/write-behind-worker.mjs).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
import type { WriteBehindOp } from '../../../dist/index.js'
import { type PostgresConnection, usePostgres } from '../../helpers/postgres.js'
import { freePort } from '../../helpers/redis-server.js'

export interface Row {
  key: string
  value: string | null
  seq: number
  id: string
}

/** The table every test flushes into: one row per key, with the sequence of the write it holds. */
export function tableSql(schema: string): string {
  return `CREATE TABLE "${schema}".kv (key text PRIMARY KEY, value text, seq bigint NOT NULL, id text NOT NULL)`
}

/**
 * The idempotent flush of docs/write-behind.md: an upsert that applies an op only if its sequence
 * is newer than the row's. Redelivered, late or replayed ops change nothing; deletes keep the row
 * (value NULL) so that an older write arriving later cannot resurrect the key.
 */
export function upsertSql(schema: string): string {
  return `INSERT INTO "${schema}".kv AS t (key, value, seq, id)
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
    ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, seq = EXCLUDED.seq, id = EXCLUDED.id
    WHERE t.seq < EXCLUDED.seq`
}

export function flushInto(pool: pg.Pool, schema: string) {
  const sql = upsertSql(schema)
  return async (batch: readonly WriteBehindOp<string>[]) => {
    await pool.query(sql, [
      batch.map((op) => op.key),
      batch.map((op) => (op.op === 'set' ? op.value : null)),
      batch.map((op) => String(op.seq)),
      batch.map((op) => op.id),
    ])
  }
}

/**
 * A PostgreSQL started for this test file, with a schema of its own (dropped afterwards);
 * `connection` is the server's address for other clients, `pool` talks to it directly.
 */
export function usePostgresSchema(label: string): {
  schema: string
  connection: () => PostgresConnection
  pool: () => pg.Pool
  rows: () => Promise<Map<string, Row>>
} {
  const connection = usePostgres()
  const schema = `wb_${label}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
  let pool: pg.Pool | undefined
  beforeAll(async () => {
    pool = new pg.Pool({ ...connection(), max: 4 })
    // An idle client told to go when the suite's PostgreSQL stops is not a failure of the test.
    pool.on('error', () => {})
    await pool.query(`CREATE SCHEMA "${schema}"`)
    await pool.query(tableSql(schema))
  })
  afterAll(async () => {
    await pool?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await pool?.end()
  })
  const get = () => {
    if (pool === undefined) throw new Error('the PostgreSQL pool is not open')
    return pool
  }
  return {
    schema,
    connection,
    pool: get,
    rows: async () => {
      const result = await get().query<{ key: string; value: string | null; seq: string; id: string }>(
        `SELECT key, value, seq, id FROM "${schema}".kv`,
      )
      return new Map(
        result.rows.map((r) => [r.key, { key: r.key, value: r.value, seq: Number(r.seq), id: r.id }]),
      )
    },
  }
}

/** A TCP proxy in front of `target`: 'pass' forwards; 'refuse' resets every connection, open or new. */
export class TcpProxy {
  readonly #server: net.Server
  readonly #sockets = new Set<net.Socket>()
  #mode: 'pass' | 'refuse' = 'pass'
  port = 0

  constructor(readonly target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      if (this.#mode === 'refuse') {
        client.resetAndDestroy()
        return
      }
      const upstream = net.connect(target)
      this.#sockets.add(client).add(upstream)
      const drop = () => {
        client.destroy()
        upstream.destroy()
        this.#sockets.delete(client)
        this.#sockets.delete(upstream)
      }
      client.on('error', drop).on('close', drop)
      upstream.on('error', drop).on('close', drop)
      client.pipe(upstream).pipe(client)
    })
  }

  async start(): Promise<this> {
    this.port = await freePort()
    await new Promise<void>((resolve) => this.#server.listen(this.port, '127.0.0.1', resolve))
    return this
  }

  refuse(): void {
    this.#mode = 'refuse'
    for (const socket of this.#sockets) socket.resetAndDestroy()
    this.#sockets.clear()
  }

  pass(): void {
    this.#mode = 'pass'
  }

  async close(): Promise<void> {
    this.refuse()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }
}

/** A redis-server with AOF in a directory of its own, that the test can SIGKILL and start again. */
export class AofRedis {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'stratacache-aof-'))
  #child: ChildProcess | undefined
  port = 0

  constructor(readonly fsync: 'always' | 'everysec') {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    if (this.port === 0) this.port = await freePort()
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        this.fsync,
      ],
      { stdio: 'ignore' },
    )
    this.#child = child
    process.once('exit', () => child.kill('SIGKILL'))
    const deadline = Date.now() + 10_000
    for (;;) {
      if (await ping(this.port)) return
      if (Date.now() > deadline) throw new Error(`redis-server with AOF did not start on ${this.port}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** SIGKILL: no shutdown, no final fsync; only what the AOF already had survives. */
  async kill(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGKILL')
    await exited
    this.#child = undefined
  }

  /** SIGTERM: Redis fsyncs the AOF and exits. */
  async stop(): Promise<void> {
    const child = this.#child
    if (child === undefined || child.exitCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    await exited
    this.#child = undefined
  }

  async destroy(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.setTimeout(500)
    socket.on('connect', () => socket.write('*1\r\n$4\r\nPING\r\n'))
    socket.on('data', (data) => {
      socket.destroy()
      resolve(data.toString().startsWith('+PONG'))
    })
    socket.on('error', () => resolve(false))
    socket.on('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

// ---- worker processes ------------------------------------------------------------------------

const WORKER = fileURLToPath(new URL('../../helpers/workers/write-behind-worker.mjs', import.meta.url))

export interface Ack {
  key: string
  seq: number
  value: string
}

export interface WriteSummary {
  writes: number
  rejected: number
  ms: number
  stats: Record<string, number>
}

export interface Worker {
  readonly pid: number
  /** Every acknowledged write the worker reported (reports are batched: a killed worker's last few may be missing). */
  readonly acks: Ack[]
  call<R = unknown>(method: string, params?: unknown): Promise<R>
  kill(): Promise<void>
  readonly exited: Promise<void>
  output(): string
}

export function startWorker(): Promise<Worker> {
  const child = fork(WORKER, [], { execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let output = ''
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-8000)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const acks: Ack[] = []
  let nextId = 1
  let ready!: () => void
  const isReady = new Promise<void>((resolve) => {
    ready = resolve
  })
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      for (const call of pending.values())
        call.reject(new Error(`worker exited (${code ?? signal}): ${output}`))
      pending.clear()
      resolve()
    })
  })
  child.on(
    'message',
    (m: { id?: number; ok?: boolean; value?: unknown; error?: string; event?: string; data?: unknown }) => {
      if (m.event === 'ready') ready()
      if (m.event === 'acks') acks.push(...(m.data as Ack[]))
      if (m.id === undefined) return
      const call = pending.get(m.id)
      pending.delete(m.id)
      if (m.ok) call?.resolve(m.value)
      else call?.reject(new Error(`worker ${child.pid}: ${m.error}`))
    },
  )
  const worker: Worker = {
    get pid() {
      return child.pid as number
    },
    acks,
    call: <R>(method: string, params?: unknown) =>
      new Promise<R>((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
        child.send({ id, method, params })
      }),
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
    exited,
    output: () => output,
  }
  const timeout = setTimeout(() => child.kill('SIGKILL'), 15_000)
  return Promise.race([
    isReady.then(() => {
      clearTimeout(timeout)
      return worker
    }),
    exited.then(() => {
      throw new Error(`worker did not start: ${output}`)
    }),
  ])
}

/** The last acknowledged write of each key among `acks` (by sequence). */
export function lastByKey(acks: readonly Ack[]): Map<string, Ack> {
  const last = new Map<string, Ack>()
  for (const ack of acks) {
    const seen = last.get(ack.key)
    if (seen === undefined || ack.seq > seen.seq) last.set(ack.key, ack)
  }
  return last
}

/** Polls `check` every 50 ms until it returns true, or throws after `ms` with `what`. */
export async function until(
  check: () => Promise<boolean> | boolean,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
