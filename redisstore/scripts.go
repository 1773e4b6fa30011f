package redisstore

import "github.com/redis/go-redis/v9"

// The scripts run inside Redis, so that a write (plan, skip, append, round
// bookkeeping) is atomic and one round trip, and a tail read is one round
// trip that touches only the last rounds. They keep, per history, in one
// cluster slot (the keys share the hash tag of the history id):
//
//	KEY:s   hash  c (messages), r (rounds closed), o (messages of the open
//	              round), os (position of its first message), xp (see below)
//	KEY:m   list  the messages' JSON, at their positions
//	KEY:r   list  for round n, the position of its first message
//	KEY:d   list  the ids of the messages from position xp on
//	KEY:i   set   the ids of the messages from position xp on
//	KEY:k   zset  the names of the KEY:k:… keys, scored by their expiry
//	              (Unix ms), so that deleting the history finds them
//	KEY:k:K string "WRITTEN FINGERPRINT" of the keyed write with
//	              idempotency key K, expiring with the key's window
//
// Until a history is given a caller-supplied id, its ids are exactly its
// positions ("0", "1", …), so nothing about ids is stored at all: the write
// path of an ordinary conversation is a few list pushes. The first write
// that supplies an id sets xp to the history's count; from then on ids are
// kept in KEY:d (for reading) and KEY:i (for skipping), and an id below xp
// is still its position.
//
// The write script is driver.MakePlan in Lua; storetest checks the two
// agree, round for round and id for id.

// writeBody is the write, shared by the two write scripts: KEYS s, m, r,
// d, i; ARGV from o+1 on: ttl_ms, codes, then the supplied ids in record
// order, then the JSON of every record. codes has one digit per record: its
// kind (0 joins, 1 closes, 2 own), plus 3 if it supplies an id. It leaves
// written and before (the count before the write) in locals.
const writeBody = `
local ks, km, kr, kd, ki = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ttl = tonumber(ARGV[o + 1])
local codes = ARGV[o + 2]
local n = #codes
local st = redis.call('HMGET', ks, 'c', 'r', 'o', 'os', 'xp')
local count = tonumber(st[1]) or 0
local rounds = tonumber(st[2]) or 0
local open = tonumber(st[3]) or 0
local ostart = tonumber(st[4]) or 0
local xp = tonumber(st[5])
local before = count

local supplied, sids = {}, {}
local nids = #ARGV - o - 2 - n
for a = o + 3, o + 2 + nids do
  local id = ARGV[a]
  if not supplied[id] then supplied[id] = true; sids[#sids + 1] = id end
end
local jsonBase = o + 2 + nids
if xp == nil and nids > 0 then
  xp = count
  redis.call('HSET', ks, 'xp', xp)
end

-- held: membership in KEY:i, asked for all at once for the supplied ids
-- and the ids this write would generate first. Ids below xp are positions
-- and are never in KEY:i; before xp exists nothing is.
local held, checked = {}, {}
local function ask(list)
  for a = 1, #list, 1000 do
    local chunk = {unpack(list, a, math.min(a + 999, #list))}
    local r = redis.call('SMISMEMBER', ki, unpack(chunk))
    for b = 1, #chunk do
      checked[chunk[b]] = true
      if r[b] == 1 then held[chunk[b]] = true end
    end
  end
end
if xp ~= nil and xp < before then
  if #sids > 0 then ask(sids) end
  local cands = {}
  for p = before, before + n - 1 do cands[#cands + 1] = string.format('%d', p) end
  ask(cands)
end
local function positional(id)
  local v = tonumber(id)
  return v ~= nil and v >= 0 and v < xp and string.format('%d', v) == id
end

local skipped, nskipped = {}, 0
local newids, starts = {}, {}
local taken = {}
local counter = before
local nextSupplied = o + 3
for j = 1, n do
  local code = string.byte(codes, j) - 48
  local id
  local write = true
  if code >= 3 then
    -- a supplied id: xp is set, and held answers for all of them
    id = ARGV[nextSupplied]
    nextSupplied = nextSupplied + 1
    if taken[id] or held[id] or positional(id) then write = false else taken[id] = true end
    code = code - 3
  elseif xp == nil then
    counter = counter + 1 -- the id is the position; nothing to check or keep
  else
    while true do
      -- A candidate is never below before, so never positional.
      local cand = string.format('%d', counter)
      counter = counter + 1
      if not supplied[cand] and not held[cand] and
        (checked[cand] or xp >= before or redis.call('SISMEMBER', ki, cand) == 0) then
        id = cand
        break
      end
    end
  end
  if write then
    if code == 2 then
      starts[#starts + 1] = count
      rounds = rounds + 1
    elseif code == 1 then
      if open > 0 then starts[#starts + 1] = ostart else starts[#starts + 1] = count end
      rounds = rounds + 1
      open = 0
    else
      if open == 0 then ostart = count end
      open = open + 1
    end
    if xp ~= nil then newids[#newids + 1] = id end
    count = count + 1
  else
    skipped[j] = true
    nskipped = nskipped + 1
  end
end

-- push runs cmd on key with list[from..to], at most 1000 values a call.
local function push(cmd, key, list, from, to)
  for a = from, to, 1000 do
    redis.call(cmd, key, unpack(list, a, math.min(a + 999, to)))
  end
end
local written = count - before
if written > 0 then
  if nskipped == 0 then
    push('RPUSH', km, ARGV, jsonBase + 1, jsonBase + n) -- as they came
  else
    local entries = {}
    for j = 1, n do
      if not skipped[j] then entries[#entries + 1] = ARGV[jsonBase + j] end
    end
    push('RPUSH', km, entries, 1, #entries)
  end
  push('RPUSH', kr, starts, 1, #starts)
  push('RPUSH', kd, newids, 1, #newids)
  push('SADD', ki, newids, 1, #newids)
  redis.call('HSET', ks, 'c', count, 'r', rounds, 'o', open, 'os', ostart)
end
if ttl > 0 and count > 0 then
  for k = 1, 5 do redis.call('PEXPIRE', KEYS[k], ttl) end
end
`

// writeSrc: writeBody with o = 0. Returns {written, count before}.
const writeSrc = "local o = 0\n" + writeBody + "return {written, before}\n"

// keyedWriteSrc: writeBody with an idempotency key, checked and recorded in
// the same script, so that two writes with one key never both write. KEYS s,
// m, r, d, i, then KEY:k:K (the key's record) and KEY:k; ARGV fingerprint,
// window_ms, then writeBody's arguments (o = 2). A key already recorded
// writes nothing and returns {-1, "WRITTEN FINGERPRINT"}, as the first write
// recorded it; otherwise the write returns {written, count before}. The
// record expires after the window, or after the history's TTL if that is
// shorter: the history's keys expire no earlier than TTL after this write, so
// the record never outlives the history. KEY:k expires with its
// longest-lived record, and loses its expired entries on each keyed write.
const keyedWriteSrc = `
local rec = redis.call('GET', KEYS[6])
if rec then return {-1, rec} end
local o = 2
` + writeBody + `
local px = tonumber(ARGV[2])
if ttl > 0 and ttl < px then px = ttl end
redis.call('SET', KEYS[6], string.format('%d %s', written, ARGV[1]), 'PX', px)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', string.format('(%d', now))
redis.call('ZADD', KEYS[7], string.format('%d', now + px), KEYS[6])
if redis.call('PTTL', KEYS[7]) < px then redis.call('PEXPIRE', KEYS[7], px) end
return {written, before}
`

var (
	writeScript      = redis.NewScript(writeSrc)
	keyedWriteScript = redis.NewScript(keyedWriteSrc)
)

// deleteScript: KEYS s, m, r, d, i, k. Deletes the history and the records
// of its idempotency keys, whose names KEY:k holds (keys of the history's
// slot, so a cluster node serves them with the declared ones).
var deleteScript = redis.NewScript(`
local names = redis.call('ZRANGE', KEYS[6], 0, -1)
for a = 1, #names, 1000 do
  redis.call('DEL', unpack(names, a, math.min(a + 999, #names)))
end
return redis.call('DEL', unpack(KEYS))
`)

// tailScript: KEYS s, m, r, d; ARGV rounds. Returns a header "S XP C
// SKIP…" (first position read, xp, count, positions to leave out), then
// the messages from S to the end, then the kept ids from max(S, XP) on.
// Ids below XP are positions and are not sent; the reader spells them.
//
// The tail is the messages from the earliest first position S among the
// last rounds (and the open one) to the end, less the system messages in
// that range whose round is older: those were numbered while a round that
// is in the tail was still open, so they are the rounds just before the
// tail's first, and the walk down from it stops at the first round that
// starts before S.
var tailScript = redis.NewScript(`
local ks, km, kr, kd = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local st = redis.call('HMGET', ks, 'c', 'r', 'o', 'os', 'xp')
local count = tonumber(st[1]) or 0
if count == 0 then return {'0 0 0'} end
local rounds = tonumber(st[2]) or 0
local open = tonumber(st[3]) or 0
local k = tonumber(ARGV[1])
if open > 0 then k = k - 1 end
local from = 0
if k < rounds then from = rounds - k end
local s = count
if open > 0 then s = tonumber(st[4]) end
if from < rounds then
  for _, v in ipairs(redis.call('LRANGE', kr, from, -1)) do
    v = tonumber(v)
    if v < s then s = v end
  end
end
local skip = {}
local q = from - 1
while q >= 0 do
  local v = tonumber(redis.call('LINDEX', kr, q))
  if v == nil or v < s then break end
  skip[v] = true
  q = q - 1
end
local xp = tonumber(st[5]) or count
local head = {s, xp, count}
for p in pairs(skip) do head[#head + 1] = p end
local out = redis.call('LRANGE', km, s, -1)
table.insert(out, 1, table.concat(head, ' '))
if xp < count then
  for _, id in ipairs(redis.call('LRANGE', kd, math.max(s - xp, 0), -1)) do out[#out + 1] = id end
end
return out
`)

// rangeScript: KEYS s, m, d; ARGV from, to. Returns the tail script's
// header for the messages from position "from" up to "to" (or the end),
// "FROM XP END", then those messages, then their kept ids from max(FROM, XP)
// on: decodeTail reads it, with END where the tail has the count.
var rangeScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'c', 'xp')
local count = tonumber(st[1]) or 0
local from = tonumber(ARGV[1])
local to = math.min(tonumber(ARGV[2]), count)
if from >= to then return {'0 0 0'} end
local xp = tonumber(st[2]) or count
local out = redis.call('LRANGE', KEYS[2], from, to - 1)
table.insert(out, 1, from .. ' ' .. xp .. ' ' .. to)
if xp < to then
  for _, id in ipairs(redis.call('LRANGE', KEYS[3], math.max(from - xp, 0), to - xp - 1)) do out[#out + 1] = id end
end
return out
`)
