package redisstore

import "github.com/redis/go-redis/v9"

// The scripts run inside Redis, so that a write (plan, skip, append) is
// atomic and one round trip, and a tail read is one round trip that touches
// only the last rounds. They keep, per history, in one cluster slot (the
// keys share the hash tag of the history id):
//
//	KEY:s   hash  c (messages), xp (see below)
//	KEY:m   list  the messages' JSON, at their positions
//	KEY:t   string the messages' kinds (driver.Kind), one digit each ('0'
//	              joins a round, '1' closes it, '2' is a round by itself)
//	KEY:d   list  the ids of the messages from position xp on
//	KEY:i   set   the ids of the messages from position xp on
//	KEY:k   zset  the names of the KEY:k:… keys, scored by their expiry
//	              (Unix ms), so that deleting the history finds them
//	KEY:k:K string "WRITTEN FINGERPRINT" of the keyed write with
//	              idempotency key K, expiring with the key's window
//
// Until a history is given a caller-supplied id, its ids are exactly its
// positions ("0", "1", …), so nothing about ids is stored at all: the write
// path of an ordinary conversation is a few list pushes and an APPEND. The
// first write that supplies an id sets xp to the history's count; from then
// on ids are kept in KEY:d (for reading) and KEY:i (for skipping), and an id
// below xp is still its position.
//
// Rounds are worked out from the kinds when a history is read, by the walk
// of driver.LastRounds in Lua (tailScript); storetest checks the two agree
// on random conversations. The id planning is driver.MakePlan in Lua
// (writeBody); storetest checks that too, id for id.
//
// Histories written before kinds were stored (layout 1: round numbers in
// KEY:s's r, o, os and a list KEY:r of round starts) are upgraded when
// first used: every script refuses them with an error starting
// upgradeNeeded, and the store rewrites them (Store.upgrade) and retries.

// upgradeCheck refuses a layout-1 history, whose state hash has the field r;
// st is the HMGET of KEY:s whose third field is r.
const upgradeCheck = `if st[3] then return redis.error_reply('` + upgradeNeeded + ` history stored by an earlier chatstore') end
`

// writeBody is the write, shared by the two write scripts: KEYS s, m, t,
// d, i; ARGV from o+1 on: ttl_ms, codes, then the supplied ids in record
// order, then the JSON of every record. codes has one digit per record: its
// kind (0 joins, 1 closes, 2 alone), plus 3 if it supplies an id. It leaves
// written and before (the count before the write) in locals.
const writeBody = `
local ks, km, kt, kd, ki = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ttl = tonumber(ARGV[o + 1])
local codes = ARGV[o + 2]
local n = #codes
local st = redis.call('HMGET', ks, 'c', 'xp', 'r')
` + upgradeCheck + `
local count = tonumber(st[1]) or 0
local xp = tonumber(st[2])
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
local newids, kinds = {}, {}
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
    kinds[#kinds + 1] = code
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
  redis.call('APPEND', kt, table.concat(kinds))
  push('RPUSH', kd, newids, 1, #newids)
  push('SADD', ki, newids, 1, #newids)
  redis.call('HSET', ks, 'c', count)
end
if ttl > 0 and count > 0 then
  for k = 1, 5 do redis.call('PEXPIRE', KEYS[k], ttl) end
end
`

// writeSrc: writeBody with o = 0. Returns {written, count before}.
const writeSrc = "local o = 0\n" + writeBody + "return {written, before}\n"

// keyedWriteSrc: writeBody with an idempotency key, checked and recorded in
// the same script, so that two writes with one key never both write. KEYS s,
// m, t, d, i, then KEY:k:K (the key's record) and KEY:k; ARGV fingerprint,
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

// deleteScript: KEYS s, m, t, d, i, k, and r (layout 1's round starts).
// Deletes the history and the records of its idempotency keys, whose names
// KEY:k holds (keys of the history's slot, so a cluster node serves them
// with the declared ones).
var deleteScript = redis.NewScript(`
local names = redis.call('ZRANGE', KEYS[6], 0, -1)
for a = 1, #names, 1000 do
  redis.call('DEL', unpack(names, a, math.min(a + 999, #names)))
end
return redis.call('DEL', unpack(KEYS))
`)

// tailScript: KEYS s, m, t, d; ARGV rounds. Walks the kinds back from the
// newest, as driver.LastRounds does (the same steps, in the same order; see
// the rule in driver/rounds.go), to the first position S of the tail, and
// returns a header "S XP C DROP…" (xp, count, positions from S on to leave
// out: system messages of older rounds), the kinds from S on, the messages
// from S on, and their kept ids from max(S, XP) on. Ids below XP are
// positions and are not sent; the reader spells them.
var tailScript = redis.NewScript(`
local ks, km, kt, kd = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local st = redis.call('HMGET', ks, 'c', 'xp', 'r')
` + upgradeCheck + `
local count = tonumber(st[1]) or 0
if count == 0 then return {'0 0 0', ''} end
local k = tonumber(ARGV[1])

local want, nlead, seen, found, b = -1, 0, 0, false, 0
local lead = {}
local function resolve(open)
  want = k
  if open then want = want - 1 end
  seen = nlead
  if want == 0 then
    found, b = true, count -- no closer is in the tail
  elseif nlead >= want then
    found, b = true, lead[want]
  end
end
-- step: 0 keep, 1 drop, 2 maybe, 3 stop (driver's walk.step)
local function step(pos, kind)
  if want < 0 then
    if kind == 2 then
      nlead = nlead + 1
      if #lead < k then lead[#lead + 1] = pos end
      if nlead < k then return 0 elseif nlead == k then return 2 end
      return 1
    end
    resolve(kind == 0)
  end
  if kind == 0 then return 0 end
  if found and pos < b then
    if kind == 1 then return 3 end
    return 1
  end
  seen = seen + 1
  if seen == want then found, b = true, pos end
  return 0
end

local s, drop, maybe = 0, {}, -1
local p, chunk, done = count - 1, 256, false
while p >= 0 and not done do
  local from = math.max(0, p - chunk + 1)
  local kinds = redis.call('GETRANGE', kt, from, p)
  for i = #kinds, 1, -1 do
    local pos = from + i - 1
    local v = step(pos, string.byte(kinds, i) - 48)
    if v == 3 then s = pos + 1; done = true; break end
    if v == 1 then drop[#drop + 1] = pos elseif v == 2 then maybe = pos end
  end
  p = from - 1
  chunk = math.min(chunk * 4, 65536)
end
if maybe >= 0 then
  if want < 0 then resolve(false) end
  if found and maybe < b then drop[#drop + 1] = maybe end
end
local xp = tonumber(st[2]) or count
local head = {s, xp, count}
for _, q in ipairs(drop) do head[#head + 1] = q end
local out = redis.call('LRANGE', km, s, -1)
table.insert(out, 1, table.concat(head, ' '))
table.insert(out, 2, redis.call('GETRANGE', kt, s, -1))
if xp < count then
  for _, id in ipairs(redis.call('LRANGE', kd, math.max(s - xp, 0), -1)) do out[#out + 1] = id end
end
return out
`)

// rangeScript: KEYS s, m, t, d; ARGV from, to. Returns the tail script's
// answer for the messages from position "from" up to "to" (or the end):
// header "FROM XP END", their kinds, the messages, then their kept ids from
// max(FROM, XP) on; decodeTail reads it, with END where the tail has the
// count.
var rangeScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'c', 'xp', 'r')
` + upgradeCheck + `
local count = tonumber(st[1]) or 0
local from = tonumber(ARGV[1])
local to = math.min(tonumber(ARGV[2]), count)
if from >= to then return {'0 0 0', ''} end
local xp = tonumber(st[2]) or count
local out = redis.call('LRANGE', KEYS[2], from, to - 1)
table.insert(out, 1, from .. ' ' .. xp .. ' ' .. to)
table.insert(out, 2, redis.call('GETRANGE', KEYS[3], from, to - 1))
if xp < to then
  for _, id in ipairs(redis.call('LRANGE', KEYS[4], math.max(from - xp, 0), to - xp - 1)) do out[#out + 1] = id end
end
return out
`)

// upgradeNeeded starts the error every script gives for a layout-1 history.
const upgradeNeeded = "CHATSTORE_UPGRADE"

// upgradeScript: KEYS s, t, r; ARGV count, kinds. Turns a layout-1 history
// of count messages into a layout-2 one with those kinds, unless it changed
// since its messages were read (an older chatstore wrote to it: the caller
// reads it again) or was upgraded already. Returns 1 if it upgraded.
var upgradeScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'c', 'r')
if not st[2] then return 0 end
if tonumber(st[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
redis.call('HDEL', KEYS[1], 'r', 'o', 'os')
redis.call('DEL', KEYS[3])
return 1
`)
