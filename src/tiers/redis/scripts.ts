import { createHash } from 'node:crypto'

/** A Lua script run with EVALSHA, and EVAL when the server does not have it cached (NOSCRIPT). */
export interface LuaScript {
  readonly lua: string
  readonly sha: string
}

function script(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

/**
 * DEL KEYS[1] if its value is ARGV[1]; 1 when it did. Data only travels through KEYS/ARGV: the
 * source never changes, so its SHA stays cached on the server.
 */
export const COMPARE_AND_DELETE = script(
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
)

/**
 * PEXPIRE KEYS[1] ARGV[2] if its value is ARGV[1] (PERSIST when ARGV[2] is empty); 1 when it did.
 */
export const COMPARE_AND_EXPIRE = script(
  "if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end " +
    "if ARGV[2] == '' then redis.call('persist', KEYS[1]) return 1 end " +
    "return redis.call('pexpire', KEYS[1], ARGV[2])",
)

/**
 * SET KEYS[1] ARGV[1] [PX ARGV[2]] unless it holds a tombstone ('!del:<ms>') with a time ≥ ARGV[3]
 * (the key was deleted after the load that computed the value started); 1 when it stored it. Only
 * the first bytes of the current value are read.
 */
export const SET_LOADED = script(
  "local head = redis.call('getrange', KEYS[1], 0, 31) " +
    "if string.sub(head, 1, 5) == '!del:' and tonumber(string.sub(head, 6)) >= tonumber(ARGV[3]) then return 0 end " +
    "if ARGV[2] == '' then redis.call('set', KEYS[1], ARGV[1]) else redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) end " +
    'return 1',
)

/**
 * Makes the tag marker KEYS[1] exist and live at least ARGV[1] ms more ('' = forever); never
 * shortens it. A marker created here says "deleted at ARGV[2]": if it was missing because Redis
 * evicted or lost it, entries created before are unknown and must read as misses (fail closed).
 */
export const TOUCH_MARKER = script(
  "if redis.call('exists', KEYS[1]) == 0 then " +
    "local v = ARGV[2] .. ',0' " +
    "if ARGV[1] == '' then redis.call('set', KEYS[1], v) else redis.call('set', KEYS[1], v, 'PX', ARGV[1]) end " +
    'return 1 end ' +
    "if ARGV[1] == '' then redis.call('persist', KEYS[1]) return 0 end " +
    "local ttl = redis.call('pttl', KEYS[1]) " +
    "if ttl >= 0 and ttl < tonumber(ARGV[1]) then redis.call('pexpire', KEYS[1], ARGV[1]) end " +
    'return 0',
)

/**
 * Records an invalidation at ARGV[1] in the tag marker KEYS[1] ('<deletedAt>,<expiredAt>'), mode
 * ARGV[2] ('d' or 'e'), keeping the later time and the marker's TTL. A missing marker is created
 * with PX ARGV[3] ('' = forever), unless ARGV[4] is '1' (only existing markers).
 */
export const BUMP_MARKER = script(
  "local cur = redis.call('get', KEYS[1]) " +
    "if not cur and ARGV[4] == '1' then return 0 end " +
    'local d, e = 0, 0 ' +
    "if cur then local i = string.find(cur, ',', 1, true) " +
    'if i then d = tonumber(string.sub(cur, 1, i - 1)) or 0 e = tonumber(string.sub(cur, i + 1)) or 0 end end ' +
    'local at = tonumber(ARGV[1]) ' +
    "if ARGV[2] == 'd' then if at > d then d = at end elseif at > e then e = at end " +
    "local v = string.format('%.3f,%.3f', d, e) " +
    "if cur then redis.call('set', KEYS[1], v, 'KEEPTTL') " +
    "elseif ARGV[3] == '' then redis.call('set', KEYS[1], v) else redis.call('set', KEYS[1], v, 'PX', ARGV[3]) end " +
    'return 1',
)

/** True for the server's reply to EVALSHA of a script it has not cached (after a restart or SCRIPT FLUSH). */
export function isNoScript(error: unknown): boolean {
  return (
    typeof (error as { message?: unknown } | null)?.message === 'string' &&
    (error as { message: string }).message.startsWith('NOSCRIPT')
  )
}
