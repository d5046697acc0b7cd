import type { LogFormat } from '../readers/index.js'
import type { GeneratedEvent } from './workload.js'

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
const pad = (n: number, width = 2): string => String(n).padStart(width, '0')

function clf(ms: number): string {
  const d = new Date(ms)
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`
}

function pgTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', ' UTC')
}

const CLIENTS = ['10.0.3.17', '10.0.3.42', '10.0.7.5', '192.168.1.20', '10.0.9.31']
const AGENTS = [
  'Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0',
  'okhttp/4.12.0',
  'Mozilla/5.0 (iPhone) Safari/605.1.15',
]

function client(event: GeneratedEvent): string {
  return CLIENTS[(event.id + event.time) % CLIENTS.length] as string
}

function categoryName(index: number): string {
  return `cat-${String.fromCharCode(97 + (index % 26))}${Math.floor(index / 26) || ''}`
}

function httpRequest(event: GeneratedEvent): [string, string] {
  const base = `/api/${event.type.name}`
  if (event.op === 'read')
    return ['GET', event.list ? `${base}?category=${categoryName(event.id)}&page=1` : `${base}/${event.id}`]
  if (event.type.counter) return ['POST', `${base}/${event.id}/views`]
  return [event.id % 7 === 0 ? 'PATCH' : 'PUT', `${base}/${event.id}`]
}

function sql(event: GeneratedEvent): string {
  const t = event.type.name
  if (event.op === 'read') {
    return event.list
      ? `SELECT id, name, price FROM ${t} WHERE category = '${categoryName(event.id)}' ORDER BY name LIMIT 50`
      : `SELECT * FROM ${t} WHERE id = ${event.id}`
  }
  if (event.type.counter) return `UPDATE ${t} SET views = views + 1 WHERE id = ${event.id}`
  return `UPDATE ${t} SET updated_at = now(), version = version + 1 WHERE id = ${event.id}`
}

function signature(event: GeneratedEvent): [string, string] {
  const t = event.type.name
  if (event.op === 'read') {
    return event.list
      ? [
          `SELECT id, name, price FROM ${t} WHERE category = ? ORDER BY name LIMIT ?`,
          `${categoryName(event.id)}|50`,
        ]
      : [`SELECT * FROM ${t} WHERE id = ?`, String(event.id)]
  }
  return [`UPDATE ${t} SET updated_at = now() WHERE id = ?`, String(event.id)]
}

function redisKey(event: GeneratedEvent): string {
  return event.list ? `${event.type.name}:list:${categoryName(event.id)}` : `${event.type.name}:${event.id}`
}

/** One event as one log line (or two: PostgreSQL's DETAIL line) of `format`. */
export function renderEvent(event: GeneratedEvent, format: LogFormat, pid = 4242): string {
  switch (format) {
    case 'combined': {
      const [method, path] = httpRequest(event)
      const status = event.op === 'read' ? 200 : 204
      const bytes = event.op === 'read' ? event.bytes : 0
      const agent = AGENTS[event.id % AGENTS.length] as string
      return `${client(event)} - - [${clf(event.time)}] "${method} ${path} HTTP/1.1" ${status} ${bytes} "-" "${agent}" ${(event.durationMs / 1000).toFixed(3)}`
    }
    case 'postgres':
      return `${pgTime(event.time)} [${pid}] LOG:  duration: ${event.durationMs.toFixed(3)} ms  statement: ${sql(event)}`
    case 'redis-monitor': {
      const seconds = (event.time / 1000).toFixed(6)
      const addr = `[0 ${client(event)}:${50000 + (event.id % 1000)}]`
      if (event.op === 'read') return `${seconds} ${addr} "GET" "${redisKey(event)}"`
      if (event.type.counter) return `${seconds} ${addr} "INCR" "${redisKey(event)}:views"`
      return `${seconds} ${addr} "SET" "${redisKey(event)}" "${'x'.repeat(Math.min(event.bytes, 64))}"`
    }
    case 'csv': {
      const [sig, params] = signature(event)
      return `${new Date(event.time).toISOString()},"${sig}",${params},${event.op},${event.durationMs.toFixed(3)},${event.bytes}`
    }
    case 'jsonl': {
      const [method, path] = httpRequest(event)
      return JSON.stringify({
        ts: new Date(event.time).toISOString(),
        method,
        path,
        status: event.op === 'read' ? 200 : 204,
        duration_ms: Number(event.durationMs.toFixed(3)),
        bytes: event.op === 'read' ? event.bytes : 0,
      })
    }
    case 'keys':
      return redisKey(event)
  }
}

/** The first line a format needs before its events (the CSV header), or undefined. */
export function header(format: LogFormat): string | undefined {
  return format === 'csv' ? 'timestamp,query_signature,params,operation,duration_ms,bytes' : undefined
}
