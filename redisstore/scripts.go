package redisstore

import "github.com/redis/go-redis/v9"

// The scripts run inside Redis, so that a write (plan, skip, append, round
// bookkeeping) is atomic and one round trip, and a tail read is one round
// trip that touches only the last rounds. They keep, per history, in one
// cluster slot (the keys share the hash tag of the history id):
//
//	KEY:s   hash  c (messages), r (rounds closed), o (messages of the open
//	              round), os (position of its first message), x ("1" once
//	              the history holds a caller-supplied id)
//	KEY:m   list  the messages, "LEN:ID" then the JSON, at their positions
//	KEY:r   list  for round n, the position of its first message
//	KEY:i   set   the ids held, kept only once x is set: before that, the
//	              ids are exactly "0" … c-1 and need no set
//
// The write script is driver.MakePlan in Lua; storetest checks the two
// agree, round for round and id for id.

// writeScript: KEYS s, m, r, i; ARGV ttl_ms, then per record hasID ("1" or
// "0"), id, kind (0 joins, 1 closes, 2 own), JSON. Returns {written, count
// before}.
var writeScript = redis.NewScript(`
local ks, km, kr, ki = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl = tonumber(ARGV[1])
local st = redis.call('HMGET', ks, 'c', 'r', 'o', 'os', 'x')
local count = tonumber(st[1]) or 0
local rounds = tonumber(st[2]) or 0
local open = tonumber(st[3]) or 0
local ostart = tonumber(st[4]) or 0
local x = st[5] == '1'
local before = count
local n = (#ARGV - 1) / 4

local supplied, sids = {}, {}
for j = 0, n - 1 do
  if ARGV[2 + j * 4] == '1' then
    local id = ARGV[3 + j * 4]
    if not supplied[id] then supplied[id] = true; sids[#sids + 1] = id end
  end
end

-- The first caller-supplied id turns on the id set: the generated ids held
-- so far are "0" .. count-1.
local function sadd(list)
  for a = 1, #list, 1000 do
    redis.call('SADD', ki, unpack(list, a, math.min(a + 999, #list)))
  end
end
if not x and #sids > 0 then
  local gen = {}
  for p = 0, count - 1 do gen[#gen + 1] = tostring(p) end
  if #gen > 0 then sadd(gen) end
  x = true
  redis.call('HSET', ks, 'x', '1')
end

local held = {}
if x and #sids > 0 then
  for a = 1, #sids, 1000 do
    local chunk = {unpack(sids, a, math.min(a + 999, #sids))}
    local r = redis.call('SMISMEMBER', ki, unpack(chunk))
    for b = 1, #chunk do if r[b] == 1 then held[chunk[b]] = true end end
  end
end
-- Ask about the ids this write would generate first, all at once.
local checked = {}
if x then
  local cands = {}
  for p = before, before + n - 1 do cands[#cands + 1] = string.format('%d', p) end
  for a = 1, #cands, 1000 do
    local chunk = {unpack(cands, a, math.min(a + 999, #cands))}
    local r = redis.call('SMISMEMBER', ki, unpack(chunk))
    for b = 1, #chunk do
      checked[chunk[b]] = true
      if r[b] == 1 then held[chunk[b]] = true end
    end
  end
end
local function isHeld(id)
  if held[id] then return true end
  if checked[id] then return false end
  if not x then
    -- generated-only history: held ids are the decimals below count
    local v = tonumber(id)
    return v ~= nil and tostring(v) == id and v >= 0 and v < before
  end
  return redis.call('SISMEMBER', ki, id) == 1
end

local entries, newids, starts = {}, {}, {}
local taken = {}
local counter = count
for j = 0, n - 1 do
  local id = ARGV[3 + j * 4]
  local write = true
  if ARGV[2 + j * 4] == '1' then
    if held[id] or taken[id] then write = false else taken[id] = true end
  else
    while true do
      local cand = string.format('%d', counter)
      counter = counter + 1
      if not supplied[cand] and not isHeld(cand) then id = cand; break end
    end
  end
  if write then
    local kind = ARGV[4 + j * 4]
    if kind == '2' then
      starts[#starts + 1] = count
      rounds = rounds + 1
    elseif kind == '1' then
      if open > 0 then starts[#starts + 1] = ostart else starts[#starts + 1] = count end
      rounds = rounds + 1
      open = 0
    else
      if open == 0 then ostart = count end
      open = open + 1
    end
    entries[#entries + 1] = #id .. ':' .. id .. ARGV[5 + j * 4]
    if x then newids[#newids + 1] = id end
    count = count + 1
  end
end

if #entries > 0 then
  for a = 1, #entries, 1000 do
    redis.call('RPUSH', km, unpack(entries, a, math.min(a + 999, #entries)))
  end
  for a = 1, #starts, 1000 do
    redis.call('RPUSH', kr, unpack(starts, a, math.min(a + 999, #starts)))
  end
  if #newids > 0 then sadd(newids) end
  redis.call('HSET', ks, 'c', count, 'r', rounds, 'o', open, 'os', ostart)
end
if ttl > 0 and count > 0 then
  redis.call('PEXPIRE', ks, ttl); redis.call('PEXPIRE', km, ttl)
  redis.call('PEXPIRE', kr, ttl); redis.call('PEXPIRE', ki, ttl)
end
return {#entries, before}
`)

// tailScript: KEYS s, m, r; ARGV rounds. Returns the entries of the last
// rounds, oldest first.
//
// The tail is the messages from the earliest first position S among the
// last rounds (and the open one) to the end, less the system messages in
// that range whose round is older: those were numbered while a round that
// is in the tail was still open, so they are the rounds just before the
// tail's first, and the walk down from it stops at the first round that
// starts before S.
var tailScript = redis.NewScript(`
local ks, km, kr = KEYS[1], KEYS[2], KEYS[3]
local st = redis.call('HMGET', ks, 'c', 'r', 'o', 'os')
local count = tonumber(st[1]) or 0
if count == 0 then return {} end
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
local vals = redis.call('LRANGE', km, s, -1)
if next(skip) == nil then return vals end
local out = {}
for i, v in ipairs(vals) do
  if not skip[s + i - 1] then out[#out + 1] = v end
end
return out
`)
