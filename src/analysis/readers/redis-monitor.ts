import { type EventSink, type LineReader, newRawEvent, resetRawEvent } from '../event.js'

/**
 * Output of Redis `MONITOR`:
 *
 *   1700000000.123456 [0 127.0.0.1:52814] "GET" "user:42"
 *
 * One event per key: `MGET a b` is two reads, `MSET a 1 b 2` two writes (with the value's length as
 * the size), `DEL a b` two writes. Commands that touch no key (PING, MULTI, INFO…) are skipped.
 */
const HEAD = /^(\d+(?:\.\d+)?) \[(\d+) ([^\]]*)\] (.*)$/

/** Reads, with the index of their first key and how keys repeat: 1 = every argument is a key. */
const READS: Readonly<Record<string, number>> = {
  GET: 1,
  MGET: 1,
  EXISTS: 1,
  HGET: 0,
  HMGET: 0,
  HGETALL: 0,
  HEXISTS: 0,
  HLEN: 0,
  HKEYS: 0,
  HVALS: 0,
  GETRANGE: 0,
  STRLEN: 0,
  LRANGE: 0,
  LLEN: 0,
  LINDEX: 0,
  SMEMBERS: 0,
  SISMEMBER: 0,
  SCARD: 0,
  ZRANGE: 0,
  ZREVRANGE: 0,
  ZRANGEBYSCORE: 0,
  ZSCORE: 0,
  ZCARD: 0,
  ZRANK: 0,
  TTL: 0,
  PTTL: 0,
  TYPE: 0,
  GETEX: 0,
  JSON_GET: 0,
}

/** Writes: 1 = every argument is a key (DEL), 2 = key value pairs (MSET), 0 = the first argument only. */
const WRITES: Readonly<Record<string, number>> = {
  SET: 0,
  SETEX: 0,
  PSETEX: 0,
  SETNX: 0,
  GETSET: 0,
  GETDEL: 0,
  APPEND: 0,
  MSET: 2,
  MSETNX: 2,
  DEL: 1,
  UNLINK: 1,
  EXPIRE: 0,
  PEXPIRE: 0,
  EXPIREAT: 0,
  PERSIST: 0,
  HSET: 0,
  HMSET: 0,
  HSETNX: 0,
  HDEL: 0,
  LPUSH: 0,
  RPUSH: 0,
  LPOP: 0,
  RPOP: 0,
  LSET: 0,
  LREM: 0,
  LTRIM: 0,
  SADD: 0,
  SREM: 0,
  SPOP: 0,
  ZADD: 0,
  ZREM: 0,
  ZREMRANGEBYSCORE: 0,
  INCR: 0,
  INCRBY: 0,
  INCRBYFLOAT: 0,
  DECR: 0,
  DECRBY: 0,
  HINCRBY: 0,
  HINCRBYFLOAT: 0,
  ZINCRBY: 0,
  PFADD: 0,
  SETRANGE: 0,
  JSON_SET: 0,
}

/** The one-letter escapes of Redis's sdscatrepr, the quoting MONITOR uses. */
const ESCAPED: Readonly<Record<string, string>> = { n: '\n', r: '\r', t: '\t', a: '\u0007', b: '\b' }

/** The quoted arguments of a MONITOR line (`\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH` unescaped), or undefined. */
export function monitorArgs(text: string): string[] | undefined {
  const args: string[] = []
  let i = 0
  while (i < text.length) {
    if (text[i] === ' ') {
      i++
      continue
    }
    if (text[i] !== '"') return undefined
    i++
    let value = ''
    let closed = false
    while (i < text.length) {
      const c = text[i] as string
      if (c === '"') {
        closed = true
        i++
        break
      }
      if (c === '\\') {
        const n = text[i + 1]
        if (n === 'x') {
          const hex = text.slice(i + 2, i + 4)
          // Two hex digits, as Redis writes them; anything else is not a MONITOR line.
          if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined
          value += String.fromCharCode(Number.parseInt(hex, 16))
          i += 4
          continue
        }
        value += (n !== undefined && ESCAPED[n]) ?? n ?? ''
        i += 2
        continue
      }
      value += c
      i++
    }
    if (!closed) return undefined
    args.push(value)
  }
  return args
}

export function redisMonitorReader(): LineReader {
  const event = newRawEvent()
  event.kind = 'key'
  return {
    format: 'redis-monitor',
    line(text: string, lineNumber: number, sink: EventSink): void {
      if (text === '' || text === 'OK') {
        sink.skipped(lineNumber)
        return
      }
      const m = HEAD.exec(text)
      const args = m === null ? undefined : monitorArgs(m[4] as string)
      if (m === null || args === undefined || args.length === 0) {
        sink.malformed(lineNumber, 'not a MONITOR line', text)
        return
      }
      const command = (args[0] as string).toUpperCase().replace('.', '_')
      const read = READS[command]
      const write = read === undefined ? WRITES[command] : undefined
      if (read === undefined && write === undefined) {
        sink.skipped(lineNumber)
        return
      }
      if (args.length < 2) {
        sink.malformed(lineNumber, `${command} without a key`, text)
        return
      }
      const time = Number(m[1]) * 1000
      const emit = (key: string, bytes: number): void => {
        resetRawEvent(event, lineNumber)
        event.time = time
        event.text = key
        event.verb = command
        event.op = read === undefined ? 'write' : 'read'
        event.bytes = bytes
        sink.event(event)
      }
      const mode = read ?? write
      if (mode === 1) for (let i = 1; i < args.length; i++) emit(args[i] as string, Number.NaN)
      else if (mode === 2)
        for (let i = 1; i + 1 < args.length; i += 2) emit(args[i] as string, (args[i + 1] as string).length)
      else {
        const valued =
          command === 'SET' || command === 'SETNX' || command === 'GETSET' || command === 'APPEND'
        const value = command === 'SETEX' || command === 'PSETEX' ? args[3] : valued ? args[2] : undefined
        emit(args[1] as string, value === undefined ? Number.NaN : value.length)
      }
    },
    end(): void {},
  }
}
