import { createHash } from 'node:crypto'
import { NEWER_HORIZON_MS } from '../../invalidation/store.js'

/** A Lua script run with EVALSHA, and EVAL when the server does not have it cached (NOSCRIPT). */
export interface LuaScript {
  readonly lua: string
  readonly sha: string
}

/**
 * A call without keys and arguments only loads the script (see {@link TIER_SCRIPTS}): no real
 * call of the tier's scripts has neither.
 */
const LOAD_ONLY = 'if #KEYS == 0 and #ARGV == 0 then return 0 end '

/** A script as it is sent: its source and the SHA1 EVALSHA names it by. */
export function luaScript(lua: string): LuaScript {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') }
}

function script(body: string): LuaScript {
  return luaScript(LOAD_ONLY + body)
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
 * Lua: `newer(key, since, load)` is true when `key` holds something newer than a write made at
 * `since`: a plain entry (envelope: magic 0xC5, version 1 or 2, created-at as a float64 LE at
 * offset 3) created after it, or a tombstone ('!del:<ms>') made after it — or at the same time,
 * for a `load` (a loaded value loses a tie with a delete; a set made in the same clock reading as
 * a delete was issued after it). What it cannot date (an encrypted entry, foreign bytes), or dates
 * {@link NEWER_HORIZON_MS} or more ahead of the write (forged), is never newer. Only the first
 * bytes of the current value are read.
 */
const NEWER =
  'local function newer(key, since, load) ' +
  "local head = redis.call('getrange', key, 0, 31) " +
  "if string.sub(head, 1, 5) == '!del:' then local t = tonumber(string.sub(head, 6)) " +
  `return t ~= nil and t - since < ${NEWER_HORIZON_MS} and (t > since or (load and t == since)) end ` +
  'if #head >= 11 and string.byte(head, 1) == 197 and string.byte(head, 2) <= 2 then ' +
  "local t = struct.unpack('<d', string.sub(head, 4, 11)) " +
  `return t > since and t - since < ${NEWER_HORIZON_MS} end ` +
  'return false end '

/**
 * SET KEYS[1] ARGV[1] [PX ARGV[2]] unless the key holds something newer than ARGV[3], the write's
 * version (see NEWER; ARGV[4] 'l' for a loaded value, 'v' otherwise): a write that reaches Redis
 * late never replaces a newer value or delete. 1 when it stored it.
 */
export const SET_LOADED = script(
  NEWER +
    "if newer(KEYS[1], tonumber(ARGV[3]), ARGV[4] ~= 'v') then return 0 end " +
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

/** Lua: `setpx(key, v, px)` SETs `v` with PX `px` ('' = no expiry). */
const SETPX =
  'local function setpx(key, v, px) ' +
  "if px == '' then return redis.call('set', key, v) end " +
  "return redis.call('set', key, v, 'PX', px) end "

/**
 * Lua: `bump(key, at, mode, px, only)`, {@link BUMP_MARKER} as a function of the write scripts
 * (needs {@link SETPX}): records an invalidation at `at` in the marker `key`, mode 'd' or 'e';
 * a missing marker is created with PX `px`, unless `only` is '1'. 1 when it bumped.
 */
const BUMP =
  'local function bump(key, at, mode, px, only) ' +
  "local cur = redis.call('get', key) " +
  "if not cur and only == '1' then return 0 end " +
  'local d, e = 0, 0 ' +
  "if cur then local j = string.find(cur, ',', 1, true) " +
  'if j then d = tonumber(string.sub(cur, 1, j - 1)) or 0 e = tonumber(string.sub(cur, j + 1)) or 0 end end ' +
  'at = tonumber(at) ' +
  "if mode == 'd' then if at > d then d = at end elseif at > e then e = at end " +
  "local v = string.format('%.3f,%.3f', d, e) " +
  "if cur then redis.call('set', key, v, 'KEEPTTL') else setpx(key, v, px) end " +
  'return 1 end '

/**
 * The writes of one tick in one call, in the order they were issued. ARGV[1] names the operations,
 * one letter each; KEYS holds the key of each keyed one; ARGV[2] packs the arguments of every
 * operation, in order, each as its length (int32, little-endian) and its bytes (see
 * `Packer` in pack.ts): one argument for the whole batch instead of three to five per write, which
 * cost the client more to encode than the rest of a `set` (measured with ioredis: 64 writes' 450
 * arguments took 5–7 µs of CPU per write to encode, packed 3 µs). The operations:
 * - `s` SET: value, PX ('' = no expiry) → 1
 * - `l` SET a loaded value unless the key holds something newer (as {@link SET_LOADED}): value, PX, load start → 1 or 0
 * - `v` the same for any other write (a set, a tombstone), which wins a tie with a delete: value, PX, version → 1 or 0
 * - `t` touch a tag marker (as {@link TOUCH_MARKER}): PX, created before → 1 or 0
 * - `b` bump a tag marker (as {@link BUMP_MARKER}): at, mode, PX, only existing → 1 or 0
 * - `w` a `v`, then (two keys: the entry's, then a dependency marker's) a `b` of that marker if it
 *   exists, as a delete at `at`, whatever the `v`'s outcome: value, PX, version, at → the `v`'s
 *   reply (or error); when only the bump failed, `'B' .. <the v's reply> .. <its error>` (a
 *   failed bump never fails the write)
 * - `p` PUBLISH (no key): channel, message → the number of receivers, or 0 without sending when
 *   every change since the previous `p` was an `l` or `v` the key refused (a refused write announces
 *   nothing; the tag marker touches and dependency bumps that come with a write are not changes)
 * Each runs under pcall: one that fails answers `'E' .. <its error>` in its place and the others
 * still run, so every caller learns the fate of its own write.
 */
export const WRITE_BATCH = script(
  NEWER +
    SETPX +
    BUMP +
    // The arguments, unpacked once: A[i] is the i-th.
    'local A, blob, pos = {}, ARGV[2], 1 ' +
    "while pos <= #blob do A[#A + 1], pos = struct.unpack('<i4c0', blob, pos) end " +
    'local ops, out, k, a = ARGV[1], {}, 1, 1 ' +
    // Since the last PUBLISH: whether there was a change, and whether every one was an `l` or `v`
    // the key refused.
    'local seen, refused = false, true ' +
    'local F = {} ' +
    'F.s = function(key, i) setpx(key, A[i], A[i + 1]) return 1 end ' +
    'local function versioned(load) return function(key, i) ' +
    'if newer(key, tonumber(A[i + 2]), load) then return 0 end ' +
    'setpx(key, A[i], A[i + 1]) return 1 end end ' +
    'F.l = versioned(true) ' +
    'F.v = versioned(false) ' +
    'F.t = function(key, i) ' +
    'local px = A[i] ' +
    "if redis.call('exists', key) == 0 then setpx(key, A[i + 1] .. ',0', px) return 1 end " +
    "if px == '' then redis.call('persist', key) return 0 end " +
    "local ttl = redis.call('pttl', key) " +
    "if ttl >= 0 and ttl < tonumber(px) then redis.call('pexpire', key, px) end " +
    'return 0 end ' +
    'F.b = function(key, i) return bump(key, A[i], A[i + 1], A[i + 2], A[i + 3]) end ' +
    // The bump runs whatever the write's outcome (as a `b` after it did): a write Redis refuses
    // (foreign data at the key) still outdates what depended on the key.
    'F.w = function(key, i, marker) ' +
    'local written, r = pcall(F.v, key, i) ' +
    "local ok, e = pcall(bump, marker, A[i + 3], 'd', '', '1') " +
    'if not written then error(r) end ' +
    'if ok then return r end ' +
    "if type(e) == 'table' then e = e.err end " +
    "return 'B' .. r .. tostring(e) end " +
    "F.p = function(_, i) if seen and refused then return 0 end return redis.call('publish', A[i], A[i + 1]) end " +
    'local W = { s = 2, l = 3, v = 3, t = 2, b = 4, p = 2, w = 4 } ' +
    'for n = 1, #ops do ' +
    'local op = string.sub(ops, n, n) ' +
    'local key, marker = nil, nil ' +
    "if op ~= 'p' then key = KEYS[k] k = k + 1 end " +
    "if op == 'w' then marker = KEYS[k] k = k + 1 end " +
    'local i = a ' +
    'local ok, r = pcall(F[op], key, i, marker) ' +
    'a = a + W[op] ' +
    'if ok then out[n] = r else ' +
    "if type(r) == 'table' then r = r.err end " +
    "out[n] = 'E' .. tostring(r) end " +
    "if op == 'p' then seen, refused = false, true " +
    // Marker touches and dependency bumps (only existing markers) come with a write: not changes of their own.
    "elseif op ~= 't' and not (op == 'b' and A[i + 3] == '1') then " +
    "seen = true if (op ~= 'l' and op ~= 'v' and op ~= 'w') or out[n] ~= 0 then refused = false end end " +
    'end ' +
    'return out',
)

/**
 * A `w` of {@link WRITE_BATCH} alone in its tick, with the tick's bus message when there is one
 * (`w` or `wp`, the usual tick of a lone `set` or `delete`): KEYS[1] the entry, KEYS[2] its
 * dependency marker; ARGV value, PX, version, at [, channel, message] → the reply WRITE_BATCH
 * gives those operations, element for element (test/tiers/versioned-writes.test.ts compares the
 * two on every kind of state). Without WRITE_BATCH's unpacking and dispatch: 6.1–6.3 µs of Redis
 * time per call against 9.4–9.7 for the same `wp` as a batch (ioredis, one write at a time, a
 * 90-byte value).
 */
export const WRITE_ALONE = script(
  NEWER +
    SETPX +
    BUMP +
    'local function write() ' +
    'if newer(KEYS[1], tonumber(ARGV[3]), false) then return 0 end ' +
    'setpx(KEYS[1], ARGV[1], ARGV[2]) return 1 end ' +
    "local function message(err) if type(err) == 'table' then return err.err end return err end " +
    'local written, r = pcall(write) ' +
    // The marker bump of `w`: an existing marker only, as a delete at ARGV[4].
    "local ok, e = pcall(bump, KEYS[2], ARGV[4], 'd', '', '1') " +
    'local w ' +
    "if not written then w = 'E' .. tostring(message(r)) " +
    'elseif ok then w = r ' +
    "else w = 'B' .. r .. tostring(message(e)) end " +
    'if ARGV[5] == nil then return { w } end ' +
    // As WRITE_BATCH's `p`: nothing to announce when the write was refused.
    'if w == 0 then return { w, 0 } end ' +
    "local sent, n = pcall(redis.call, 'publish', ARGV[5], ARGV[6]) " +
    "if not sent then n = 'E' .. tostring(message(n)) end " +
    'return { w, n }',
)

/**
 * The scripts the tier runs, loaded on every (re)connection by an `EVAL <lua> 0` (which runs only
 * the load-only guard): with the permissions the cache already needs (`eval`), no `SCRIPT LOAD`.
 */
export const TIER_SCRIPTS: readonly LuaScript[] = [
  COMPARE_AND_DELETE,
  COMPARE_AND_EXPIRE,
  SET_LOADED,
  TOUCH_MARKER,
  BUMP_MARKER,
  WRITE_BATCH,
  WRITE_ALONE,
]
