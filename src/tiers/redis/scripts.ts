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

/** True for the server's reply to EVALSHA of a script it has not cached (after a restart or SCRIPT FLUSH). */
export function isNoScript(error: unknown): boolean {
  return (
    typeof (error as { message?: unknown } | null)?.message === 'string' &&
    (error as { message: string }).message.startsWith('NOSCRIPT')
  )
}
