import { luaScript } from '../tiers/redis/scripts.js'

/**
 * KEYS[1] the partition's stream, KEYS[2] its per-key sequence hash, KEYS[3] the partition's top
 * sequence, then the cache entries written with the appends (single Redis only: on a cluster
 * they live in other slots), then dependency markers. ARGV[1] the pending bound ('' for none),
 * ARGV[2] three letters per write: its op ('s' set, 'h' set whose sequence is held, 'd' delete),
 * 'c' when a cache entry comes with it, 'e' when it comes as its head only (the entry is the head
 * followed by the write's value) ('-' if none), 'r' when it is a replayed dead letter ('-'
 * if not). ARGV[3] packs the fields (see Packer: `struct.unpack('<i4c0')`): per write its key and
 * value, then with 'c' the entry's PX ('' for none) and bytes (with 'e' its head's; its key: the next of KEYS), with
 * 'r' its original id and sequence; after the writes, the time of each marker of KEYS (8 bytes, a
little-endian double). The markers are read with one MGET. Appends
 * each write unless the stream already holds the bound, in one atomic step with its sequence and
 * its cache entry, and bumps each marker that exists as the cache's BUMP_MARKER does ('delete'
 * mode, existing only). Replies with one string: per write `<id> <seq>` (a replayed write's
 * original ones) or `full <length>`, separated by spaces — one bulk string to read, not two per
 * write.
 *
 * A sequence is max(Redis's clock in µs, the partition's top + 1): it grows with every write of
 * the partition, so a key whose hash field was trimmed (nothing pending) still gets a greater
 * one, and so does every key after Redis lost its data (no persistence, restart): the idempotent
 * flush never ignores new writes. The hash holds the last sequence of each key with writes
 * pending (what the cache's ordering check reads); acknowledgments trim it. A held sequence
 * (AppendOp.holdSequence) is stored as `<seq>!`: it outlives its flush (`<seq>.` then) until
 * RELEASE_SEQ. The hash is written once per batch (HSET of many fields, in write order: a key's
 * last write wins). Numbers pass through string.format('%d'): Lua's default conversion prints 14
 * significant digits only.
 */
export const APPEND = luaScript(`
local max = tonumber(ARGV[1])
local ops, blob = ARGV[2], ARGV[3]
local su, sub = struct.unpack, string.sub
local len = redis.call('XLEN', KEYS[1])
local out, seqs = {}, {}
local top
local pos, k = 1, 4
for n = 1, #ops, 3 do
  local op, c, r = sub(ops, n, n), sub(ops, n + 1, n + 1), sub(ops, n + 2, n + 2)
  local key, value, px, entry, rid, rq
  key, value, pos = su('<i4c0i4c0', blob, pos)
  if c ~= '-' then px, entry, pos = su('<i4c0i4c0', blob, pos) end
  if c == 'e' then entry = entry .. value end
  if r == 'r' then rid, rq, pos = su('<i4c0i4c0', blob, pos) end
  if max and len >= max then
    out[#out + 1] = 'full'
    out[#out + 1] = len
  else
    local o = op
    if o == 'h' then o = 's' end
    local id, q
    if r == 'r' then
      q = rq
      redis.call('XADD', KEYS[1], '*', 'k', key, 'o', o, 'q', q, 'v', value, 'i', rid)
      id = rid
    else
      if not top then
        local t = redis.call('TIME')
        top = tonumber(t[1]) * 1000000 + tonumber(t[2])
        local stored = tonumber(redis.call('GET', KEYS[3]) or '0')
        if stored >= top then top = stored + 1 end
      else
        top = top + 1
      end
      q = string.format('%d', top)
      seqs[#seqs + 1] = key
      if op == 'h' then seqs[#seqs + 1] = q .. '!' else seqs[#seqs + 1] = q end
      id = redis.call('XADD', KEYS[1], '*', 'k', key, 'o', o, 'q', q, 'v', value)
    end
    if c ~= '-' then
      if px == '' then
        redis.call('SET', KEYS[k], entry)
      else
        redis.call('SET', KEYS[k], entry, 'PX', px)
      end
    end
    len = len + 1
    out[#out + 1] = id
    out[#out + 1] = q
  end
  if c ~= '-' then k = k + 1 end
end
for i = 1, #seqs, 1000 do
  redis.call('HSET', KEYS[2], unpack(seqs, i, math.min(i + 999, #seqs)))
end
if top then redis.call('SET', KEYS[3], string.format('%d', top)) end
for m = k, #KEYS, 1000 do
  local last = math.min(m + 999, #KEYS)
  local found = redis.call('MGET', unpack(KEYS, m, last))
  for x = m, last do
    local _, at
    _, at, pos = su('<i4d', blob, pos)
    local cur = found[x - m + 1]
    if cur then
      local d, e = 0, 0
      local j = string.find(cur, ',', 1, true)
      if j then d = tonumber(string.sub(cur, 1, j - 1)) or 0 e = tonumber(string.sub(cur, j + 1)) or 0 end
      if at > d then d = at end
      redis.call('SET', KEYS[x], string.format('%.3f,%.3f', d, e), 'KEEPTTL')
    end
  end
end
return table.concat(out, ' ')
`)

/**
 * KEYS[1] the stream, KEYS[2] the sequence hash; ARGV[1] the group, ARGV[2] the entry ids packed
 * (see Packer), ARGV[3] key/sequence pairs packed (the sequence as a double: sequences are below
 * 2^53, and a sequence's text cost the client 0.3 µs a key to make): XACK the ids, remove them
 * from the stream, and HDEL each key whose last sequence is the one given (its newest write is
 * flushed: nothing of it is pending; a held one becomes `<seq>.`, see APPEND).
 *
 * Removal: the stream holds exactly the entries not yet acknowledged. Entries are delivered in log
 * order, so every entry older than the oldest one still pending (any consumer's) was delivered and
 * acknowledged: one XTRIM MINID takes them all (whole listpack nodes at a time), where an XDEL per
 * id looked each one up — 2.7 µs per id on Redis, a quarter of a flushed write's Redis time.
 * With nothing pending, everything up to the newest id acknowledged here goes. Ids acknowledged
 * out of order (above an older pending entry: a key waiting on a retry) are XDELed one by one, so
 * that nothing acknowledged stays above the trim point either.
 */
export const ACK = luaScript(`
local su = struct.unpack
local ids, blob, pos = {}, ARGV[2], 1
while pos <= #blob do ids[#ids + 1], pos = su('<i4c0', blob, pos) end
local n = #ids
local removed = 0
if n > 0 then
  for i = 1, n, 1000 do
    redis.call('XACK', KEYS[1], ARGV[1], unpack(ids, i, math.min(i + 999, n)))
  end
  local oldest = redis.call('XPENDING', KEYS[1], ARGV[1])[2]
  local om, on
  if oldest then
    local a, b = string.match(oldest, '^(%d+)-(%d+)$')
    om, on = tonumber(a), tonumber(b)
  end
  local above = {}
  local mm, mn = -1, -1
  for i = 1, n do
    local a, b = string.match(ids[i], '^(%d+)-(%d+)$')
    local m, s = tonumber(a), tonumber(b)
    if oldest and (m > om or (m == om and s >= on)) then
      above[#above + 1] = ids[i]
    elseif m > mm or (m == mm and s > mn) then
      mm, mn = m, s
    end
  end
  for i = 1, #above, 1000 do
    removed = removed + redis.call('XDEL', KEYS[1], unpack(above, i, math.min(i + 999, #above)))
  end
  local minid = oldest
  if not oldest and mm >= 0 then minid = string.format('%d-%d', mm, mn + 1) end
  if minid then removed = removed + redis.call('XTRIM', KEYS[1], 'MINID', '=', minid) end
end
local kv, pblob = {}, ARGV[3]
pos = 1
while pos <= #pblob do
  local _
  kv[#kv + 1], _, kv[#kv + 2], pos = su('<i4c0i4d', pblob, pos)
end
local gone, held = {}, {}
for i = 1, #kv, 1000 do
  local last = math.min(i + 999, #kv)
  local fields = {}
  for j = i, last, 2 do fields[#fields + 1] = kv[j] end
  local cur = redis.call('HMGET', KEYS[2], unpack(fields))
  for j = i, last, 2 do
    local c = cur[(j - i) / 2 + 1]
    local seq = kv[j + 1]
    if c then
      if tonumber(c) == seq then
        gone[#gone + 1] = kv[j]
      elseif string.sub(c, -1) == '!' and tonumber(string.sub(c, 1, -2)) == seq then
        held[#held + 1] = kv[j]
        held[#held + 1] = string.sub(c, 1, -2) .. '.'
      end
    end
  end
end
for i = 1, #gone, 1000 do redis.call('HDEL', KEYS[2], unpack(gone, i, math.min(i + 999, #gone))) end
for i = 1, #held, 1000 do redis.call('HSET', KEYS[2], unpack(held, i, math.min(i + 999, #held))) end
return removed
`)

/**
 * KEYS[1] the sequence hash; ARGV key/sequence pairs of held writes (op 'h' of APPEND): replies
 * with each key's last sequence ('0' for none) and releases each write's hold — forgets the key
 * if its write was flushed already (`<seq>.`), else leaves it to the ack (`<seq>`). A newer write
 * of the key replaced the hold: nothing to release.
 */
export const RELEASE_SEQ = luaScript(`
local out = {}
for i = 1, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[1], ARGV[i])
  if cur then
    out[#out + 1] = string.match(cur, '^%d+') or '0'
    if cur == ARGV[i + 1] .. '!' then
      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    elseif cur == ARGV[i + 1] .. '.' then
      redis.call('HDEL', KEYS[1], ARGV[i])
    end
  else
    out[#out + 1] = '0'
  end
end
return out
`)

/** KEYS[1] the lease; ARGV[1] the token, ARGV[2] ms: PEXPIRE if the token holds it. */
export const RENEW = luaScript(
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0",
)

/** KEYS[1] the lease; ARGV[1] the token: DEL if the token holds it. */
export const RELEASE = luaScript(
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
)

/**
 * KEYS[1] the dead-letter stream; ARGV[1..8] the dead letter's fields (key, op, sequence, value,
 * id, attempts, error, partition), ARGV[9] the bound ('' for none), ARGV[10] how many dropped
 * dead letters to describe. XADDs the dead letter, then removes the oldest beyond the bound
 * (XTRIM MAXLEN =, exact: the bound is a promise about Redis memory). Replies `{ dropped, shown }`:
 * how many went, and the first ARGV[10] of them as XRANGE gives them, without their values
 * (they may be large; what was dropped is reported, not kept).
 */
export const DEAD_LETTER = luaScript(`
redis.call('XADD', KEYS[1], '*', 'k', ARGV[1], 'o', ARGV[2], 'q', ARGV[3], 'v', ARGV[4], 'i', ARGV[5], 'a', ARGV[6], 'e', ARGV[7], 'p', ARGV[8])
local max = tonumber(ARGV[9])
if not max then return {0, {}} end
local over = redis.call('XLEN', KEYS[1]) - max
if over <= 0 then return {0, {}} end
local shown = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', math.min(over, tonumber(ARGV[10])))
for _, e in ipairs(shown) do
  local f, g = e[2], {}
  for i = 1, #f, 2 do
    if f[i] ~= 'v' then g[#g + 1] = f[i] g[#g + 1] = f[i + 1] end
  end
  e[2] = g
end
redis.call('XTRIM', KEYS[1], 'MAXLEN', '=', max)
return {over, shown}
`)

/**
 * KEYS[1] a partition's stream; ARGV entry ids: replies with those still in the stream (an exact
 * XRANGE each, O(log n)), in the order given. What a write-behind's settled() asks about its own
 * writes, so that another process's older write still in the log does not hold it.
 */
export const REMAINING = luaScript(`
local out = {}
for i = 1, #ARGV do
  if #redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i], 'COUNT', 1) > 0 then out[#out + 1] = ARGV[i] end
end
return out
`)
