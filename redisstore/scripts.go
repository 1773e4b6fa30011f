package redisstore

import (
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The scripts run inside Redis, so that a write (plan, skip, append) is
// atomic and one round trip, and a tail read is one round trip that touches
// only the last rounds. They keep, per history, in one cluster slot (the
// keys share the hash tag of the history id):
//
//	KEY:s   hash  c (live messages), n (the next position of generated
//	              ids: driver.MakePlan's counter, never going back), xp
//	              (see below), cr and up (created and updated, Unix ms),
//	              v (the layout: 3), tk (the counter of the costs in
//	              KEY:w and KEY:z, as chatstore.Options.Tokenizer names
//	              it), tt and tf (the sums of the Text and Flat costs of
//	              the live messages: driver.Info.Cost), the expiry (xt,
//	              xa, ex: expirySrc) and, on a cluster, ls (the step of
//	              the recency index a write last listed it in: writeBody)
//	KEY:m   list  the messages' JSON, at their positions ("" once deleted)
//	KEY:t   string the messages' kinds (driver.Kind), one digit each ('0'
//	              joins a round, '1' closes it, '2' is a round by itself,
//	              'x' a deleted message: a tombstone, so that positions
//	              never move)
//	KEY:c   list  the messages' times (Record.CreatedAt, Unix ms)
//	KEY:d   list  the ids of the messages from position xp on ("" once
//	              deleted)
//	KEY:i   hash  id → position, for the ids of the messages from xp on
//	KEY:g   hash  the history's metadata
//	KEY:w   string the messages' costs (driver.Cost), 16 bytes each: Text
//	              and Flat as big-endian int64s (zeros once deleted)
//	KEY:z   list  the compaction records, newest first, each
//	              "CREATED THROUGHPOS TEXT FLAT IDLEN\n" then the
//	              Through id (IDLEN bytes) then the summary's JSON
//	KEY:k   zset  the names of the KEY:k:… keys, scored by their expiry
//	              (Unix ms), so that deleting the history finds them
//	KEY:k:K string "WRITTEN FINGERPRINT" of the keyed write with
//	              idempotency key K, expiring with the key's window
//	KEY:u   string on a cluster, the mark a removal from the listing
//	              indexes leaves, for a minute (markSrc)
//
// A history exists from the first change that sets cr (a write storing a
// message, metadata set, a fork) until it is deleted, whatever its count.
//
// Until a history is given a caller-supplied id or loses its tail, its ids
// are exactly its positions ("0", "1", …), so nothing about ids is stored
// at all: the write path of an ordinary conversation is a few list pushes
// and an APPEND. The first write that supplies an id, or a truncation, sets
// xp to the history's length; from then on ids are kept in KEY:d (for
// reading) and KEY:i (for skipping and finding), and an id below xp is
// still its position (unless that position is a tombstone). A truncation
// sets xp to at most the new length, because the positions it frees are
// used again while generated ids (from n) are not.
//
// Rounds are worked out from the kinds when a history is read, by the walk
// of driver.LastRounds in Lua (tailScript), stepping over tombstones as if
// they had never been written; storetest checks the two agree on random
// conversations. The id planning is driver.MakePlan in Lua (writeBody);
// storetest checks that too, id for id.
//
// Outside the history's slot, so updated beside or after its scripts on a
// cluster (Store.index), live the indexes of listings: PREFIXhistories (a zset of
// ids, by lex), PREFIX}updated (ids scored by -updated, so that the newest
// come first and ties in byte order) and one set of ids per metadata pair,
// PREFIX}m:LEN:KEY=VALUE.
//
// Histories of earlier layouts are upgraded when first used: every script
// refuses them with an error starting upgradeNeeded, and the store rewrites
// them (Store.upgrade) and retries. Layout 1 kept round numbers in KEY:s's r,
// o, os and a list KEY:r of round starts; layout 2 had no times, no n, cr,
// up, v, and a set KEY:i. A history whose tk is not the store's counter
// (stored before costs were kept, or measured by a store of another
// tokenizer), or whose KEY:w does not cover its kinds (a chatstore before
// costs appended to it), is refused the same way and measured again
// (Store.measureHistory): every script is given the store's counter, so no
// script ever reads or adds costs of two counters. Store.Prepare measures
// every history so, when a store opens, and then records the counter in
// PREFIX}tokenizer.

// stateSrc reads the state hash of the history whose KEY:s is ks into st
// (c, xp, r, v, n, cr, up, tk, tt, tf, then the expiry fields xt, xa, ex,
// and ls, the step of the recency index a cluster write last listed the
// history in: writeBody)
// and refuses an earlier layout (layout 1 has r, layout 2 has c without v)
// and a history whose costs are not of the local counter. readStateSrc is
// stateSrc for the reads, which leave the expiry to Redis and skip its
// fields.
const (
	stateSrc     = stateFields + ", 'xt', 'xa', 'ex', 'ls')\n" + stateCheck
	readStateSrc = stateFields + ")\n" + stateCheck
	stateFields  = "local st = redis.call('HMGET', ks, 'c', 'xp', 'r', 'v', 'n', 'cr', 'up', 'tk', 'tt', 'tf'"
)

const stateCheck = `if st[3] or (st[1] and not st[4]) then return redis.error_reply('` + upgradeNeeded + ` history stored by an earlier chatstore') end
if st[1] and st[8] ~= counter then return redis.error_reply('` + upgradeNeeded + ` history measured with another counter') end
`

// costSrc defines sum(w): the sums of the Text and Flat of the costs in w,
// part of a KEY:w string; and zero, a deleted message's cost.
const costSrc = `local function sum(w)
  local t, f = 0, 0
  for q = 1, #w - 15, 16 do
    local a, b = struct.unpack('>i8i8', w, q)
    t, f = t + a, f + b
  end
  return t, f
end
local zero = string.rep('\0', 16)
`

// posSrc defines posOf(id): the position of the live message with that id
// in the history of kinds kt and ids ki, whose xp is xp and length L; nil
// if none.
const posSrc = `local function posOf(id)
  local v = tonumber(id)
  if v ~= nil and v >= 0 and v < (xp or L) and string.format('%d', v) == id and
    redis.call('GETRANGE', kt, v, v) ~= 'x' then
    return v
  end
  local p = redis.call('HGET', ki, id)
  if p then return tonumber(p) end
  return nil
end
`

// emitSrc defines emit(s, e, head): the answer of every read, for the
// positions s ≤ p < e of the history: a header "S XP E DROP…" (head's
// values after the first three are positions to leave out), their kinds,
// their messages, their times, their costs (one string, as KEY:w), then
// their kept ids from max(S, XP) on. Ids below XP are positions and are not sent; the reader
// spells them, and leaves out tombstones. Costs missing (a chatstore before
// costs appended to the history) make it refuse the history, to be measured.
const emitSrc = `local function emit(s, e, xp, drop)
  local head = {s, xp, e}
  for _, q in ipairs(drop) do head[#head + 1] = q end
  local out = {table.concat(head, ' '), redis.call('GETRANGE', kt, s, e - 1)}
  for _, v in ipairs(redis.call('LRANGE', km, s, e - 1)) do out[#out + 1] = v end
  for _, v in ipairs(redis.call('LRANGE', kc, s, e - 1)) do out[#out + 1] = v end
  local w = redis.call('GETRANGE', kw, 16 * s, 16 * e - 1)
  if #w ~= 16 * (e - s) then return redis.error_reply('` + upgradeNeeded + ` costs missing') end
  out[#out + 1] = w
  if xp < e then
    for _, v in ipairs(redis.call('LRANGE', kd, math.max(s - xp, 0), e - xp - 1)) do out[#out + 1] = v end
  end
  return out
end
local empty = {'0 0 0', ''}
`

// expirySrc defines the expiry of a history (issue 19), which Redis
// carries out: every key of the history expires at once, at the time the
// last change worked out. KEY:s keeps the history's own expiry, xt (a
// sliding TTL, ms) or xa (a fixed time, Unix ms), and ex, the time it
// expires (Unix ms), when it has one; st[11], st[12] and st[13] as
// stateSrc reads them.
//
//   - expiresAt(xa, xt, up, dttl) mirrors driver.ExpiresAt: a fixed time
//     wins, then the history's own TTL after its updated time up, then the
//     default TTL of its id (dttl, from the store's driver.Policy; 0 none).
//   - gone(st, now) mirrors driver.Expired: the history has expired by the
//     store's clock, though Redis, on its own clock, may not have removed
//     it yet. Changes treat it as a history that does not exist.
//   - wipe(kb) deletes the history of KEYS[kb..kb+8] with its idempotency
//     records and KEY:k (as deleteScript) and returns its metadata as
//     HGETALL, for the indexes.
//   - expire(kb, ea, now, old) gives every key of that history the expiry
//     ea (0 none) at now, its ex having been old: a PEXPIRE of what is
//     left of it, or a PERSIST of every key when it loses its expiry, and
//     nothing when it had none and gets none, so that a store without
//     expiry pays nothing. Idempotency records (and KEY:k) are cut to the
//     history's expiry when they would outlive it. It returns false, having
//     changed nothing, when ea is due already: the caller wipes the
//     history.
//   - renew(kb, st, up, now, dttl) is expire for a change that leaves the
//     history's own expiry as st holds it and its updated time up.
//
// The other keys of a history (KEY:k:K, KEY:k) are named from KEY:s, in its
// slot: deleteScript reaches them so too.
const expirySrc = `local function expiresAt(xa, xt, up, dttl)
  if xa > 0 then return xa end
  if xt > 0 then return up + xt end
  if dttl > 0 then return up + dttl end
  return 0
end
local function gone(st, now)
  local ex = tonumber(st[13]) or 0
  return ex > 0 and ex <= now
end
local function wipe(kb)
  local base = string.sub(KEYS[kb], 1, -2)
  local meta = redis.call('HGETALL', KEYS[kb + 6])
  local names = redis.call('ZRANGE', base .. 'k', 0, -1)
  for a = 1, #names, 1000 do
    redis.call('DEL', unpack(names, a, math.min(a + 999, #names)))
  end
  redis.call('DEL', base .. 'k', base .. 'r', unpack(KEYS, kb, kb + 8))
  return meta
end
local function expire(kb, ea, now, old)
  local ks = KEYS[kb]
  local kk = string.sub(ks, 1, -2) .. 'k'
  if ea == 0 then
    -- Keys an older release gave a TTL (its ttl option) have no ex:
    -- they are made persistent too.
    if old == 0 and redis.call('PTTL', ks) < 0 then return true end
    redis.call('HDEL', ks, 'ex')
    for k = kb, kb + 8 do redis.call('PERSIST', KEYS[k]) end
    -- KEY:k lives as long as its longest record again.
    local top = redis.call('ZRANGE', kk, 0, 0, 'REV', 'WITHSCORES')
    if top[2] and tonumber(top[2]) > now then redis.call('PEXPIRE', kk, tonumber(top[2]) - now) end
    return true
  end
  local left = ea - now
  if left <= 0 then return false end
  if ea ~= old then redis.call('HSET', ks, 'ex', string.format('%d', ea)) end
  -- %d rather than a number, which Redis spells with %.17g, at length.
  local sleft = string.format('%d', left)
  for k = kb, kb + 8 do redis.call('PEXPIRE', KEYS[k], sleft) end
  local late = redis.call('ZRANGE', kk, string.format('(%d', ea), '+inf', 'BYSCORE')
  if #late > 0 then
    for _, r in ipairs(late) do
      redis.call('PEXPIRE', r, left)
      redis.call('ZADD', kk, ea, r)
    end
    redis.call('PEXPIRE', kk, left)
  end
  return true
end
local function renew(kb, st, up, now, dttl)
  return expire(kb, expiresAt(tonumber(st[12]) or 0, tonumber(st[11]) or 0, up, dttl), now, tonumber(st[13]) or 0)
end
`

// writeBody is the write, shared by the two write scripts: KEYS s, m, t,
// c, d, i, g, w, z; ARGV from o+1 on: now (the store's clock, Unix ms),
// the default TTL of the history (ms, 0 none), codes, times, the history
// id, the counter, costs, their sum, the step the client added the
// history to the recency index in beside the script if it was not there
// (-1 for none: prelist in redisstore.go), then the supplied ids in record
// order, then the JSON of every record. codes has one digit per record:
// its kind (0 joins, 1 closes, 2 alone), plus 3 if it supplies an id; times is the
// records' time (Unix ms), or one per record separated by spaces; costs is
// the records' costs as KEY:w holds them, and their sum one more. It
// leaves written, before (the count before the write), created (1 if the
// write created the history), up (its updated time), wiped (1 if it
// removed the history's expired keys first, to start anew: gone in
// expirySrc) and relist in locals. If the keys ix+1 and ix+2 are given (a
// single Redis: every key is on one node), it updates the listing indexes
// too. Otherwise (a cluster) key ix+1 is the history's KEY:u, and the
// client lists the history after the script (list in redisstore.go) when
// relist is 1: when this release has yet to list it in the step of the
// recency index (driver.RecencyShift) that up falls in; or when the write
// added the history beside the script and finds KEY:u, the mark a removal
// from the indexes leaves (markSrc): the removal may have taken that
// addition out, or relisted the history from its state before this write.
// (A write that lists after its script needs no mark: a removal either
// comes after that listing, and relists the history from a state that
// holds the write, or takes out an entry that the listing then puts back
// at the write's step, where the removal's relisting, of an earlier state
// of no later step, leaves it.) relist is 2 where it would be 1 but the
// client added the history beside the script in up's step: then the
// client lists it after the script unless that addition took (the index
// did not hold it). KEY:s's ls records the step
// of the last write that asked for a listing: set by no other script nor
// release, so that a change by any of those (an edit, a write of an
// earlier release), which may have left the history's entry at an exact
// time, has the next write here list it again, at the step's end.
var writeBody = `
local ks, km, kt, kc, kd, ki, kw = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[8]
local now, dttl = tonumber(ARGV[o + 1]), tonumber(ARGV[o + 2])
local codes = ARGV[o + 3]
local times = ARGV[o + 4]
local member = ARGV[o + 5]
local counter = ARGV[o + 6]
local n = #codes
` + stateSrc + costSrc + expirySrc + `
local wiped, relist = 0, 0
if gone(st, now) then
  wipe(1)
  st, wiped = {}, 1
end
local count = tonumber(st[1]) or 0
local xp = tonumber(st[2])
local before = count
local L = redis.call('STRLEN', kt)
local nxt = tonumber(st[5]) or L
if st[1] and redis.call('STRLEN', kw) ~= 16 * L then return redis.error_reply('` + upgradeNeeded + ` costs missing') end
local costs = ARGV[o + 7]

local tm = {}
if string.find(times, ' ', 1, true) then
  for v in string.gmatch(times, '%S+') do tm[#tm + 1] = v end
else
  for j = 1, n do tm[j] = times end
end

local supplied, sids = {}, {}
local nids = #ARGV - o - 9 - n
for a = o + 10, o + 9 + nids do
  local id = ARGV[a]
  if not supplied[id] then supplied[id] = true; sids[#sids + 1] = id end
end
local jsonBase = o + 9 + nids
if xp == nil and nids > 0 then
  xp = L
  redis.call('HSET', ks, 'xp', xp)
end

-- held: membership in KEY:i, asked for all at once for the supplied ids
-- and the ids this write would generate first. Ids below xp are positions
-- and are never in KEY:i unless their position is a tombstone; before xp
-- exists nothing is.
local held, checked = {}, {}
local function ask(list)
  for a = 1, #list, 1000 do
    local chunk = {unpack(list, a, math.min(a + 999, #list))}
    local r = redis.call('HMGET', ki, unpack(chunk))
    for b = 1, #chunk do
      checked[chunk[b]] = true
      if r[b] then held[chunk[b]] = true end
    end
  end
end
if xp ~= nil and xp < L then
  if #sids > 0 then ask(sids) end
  local cands = {}
  for p = nxt, nxt + n - 1 do cands[#cands + 1] = string.format('%d', p) end
  ask(cands)
end
local function positional(id)
  local v = tonumber(id)
  return v ~= nil and v >= 0 and v < xp and string.format('%d', v) == id and
    redis.call('GETRANGE', kt, v, v) ~= 'x'
end

local skipped, nskipped = {}, 0
local newids, kinds, wtimes = {}, {}, {}
local taken = {}
local gen = nxt
local nextSupplied = o + 10
local kindstr
local digits = {[0] = '0', '1', '2'}
if nids == 0 and xp == nil then
  -- Every record is written, its id its position, and codes are its
  -- kinds: the loop below would only copy them (and spell each kind with
  -- %.14g in table.concat: a fifth of a batch of 100 in callgrind).
  count, kindstr, wtimes = count + n, codes, tm
else
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
      gen = gen + 1 -- the id is the position; nothing to check or keep
    else
      while true do
        -- A candidate is never below nxt ≥ L ≥ xp, so never positional.
        local cand = string.format('%d', gen)
        gen = gen + 1
        if not supplied[cand] and not held[cand] and
          (checked[cand] or xp >= L or redis.call('HEXISTS', ki, cand) == 0) then
          id = cand
          break
        end
      end
    end
    if write then
      kinds[#kinds + 1] = digits[code] -- a string: concat spells numbers with %.14g
      wtimes[#wtimes + 1] = tm[j]
      if xp ~= nil then
        newids[#newids + 1] = id
        held[id] = true
      end
      count = count + 1
    else
      skipped[j] = true
      nskipped = nskipped + 1
    end
  end
  kindstr = table.concat(kinds)
end
-- push runs cmd on key with list[from..to], at most 1000 values a call.
local function push(cmd, key, list, from, to)
  for a = from, to, 1000 do
    redis.call(cmd, key, unpack(list, a, math.min(a + 999, to)))
  end
end
local written = count - before
local created, up = 0, tonumber(st[7]) or 0
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
  redis.call('APPEND', kt, kindstr)
  push('RPUSH', kc, wtimes, 1, #wtimes)
  local dt, df
  if nskipped == 0 then
    redis.call('APPEND', kw, costs)
    dt, df = struct.unpack('>i8i8', ARGV[o + 8])
  else
    local w = {}
    for j = 1, n do
      if not skipped[j] then w[#w + 1] = string.sub(costs, 16 * j - 15, 16 * j) end
    end
    w = table.concat(w)
    redis.call('APPEND', kw, w)
    dt, df = sum(w)
  end
  if #newids > 0 then
    push('RPUSH', kd, newids, 1, #newids)
    local pairs = {}
    for j, id in ipairs(newids) do
      pairs[#pairs + 1] = id
      pairs[#pairs + 1] = L + j - 1
    end
    push('HSET', ki, pairs, 1, #pairs)
  end
  up = math.max(up, tonumber(wtimes[1]), now)
  local tt, tf = (tonumber(st[9]) or 0) + dt, (tonumber(st[10]) or 0) + df
  -- Numbers are given to redis.call as strings made with %d: Redis 7.0
  -- spells a Lua number with snprintf's %.17g, which costs several times
  -- as much for a 13-digit time (callgrind: a tenth of a one-message write).
  local d = function(x) return string.format('%d', x) end
  local sup = d(up)
  if st[6] then
    redis.call('HSET', ks, 'c', d(count), 'n', d(nxt + written), 'up', sup, 'tt', d(tt), 'tf', d(tf))
  else
    created = 1
    redis.call('HSET', ks, 'c', d(count), 'n', d(nxt + written), 'up', sup, 'cr', wtimes[1], 'v', '3',
      'tk', counter, 'tt', d(tt), 'tf', d(tf))
  end
  local ix = (o == 0) and 9 or 11
  if KEYS[ix + 2] then
    if created == 1 then redis.call('ZADD', KEYS[ix + 1], '0', member) end
    redis.call('ZADD', KEYS[ix + 2], 'LT', '-' .. sup, member)
  else
    local step = math.floor(up / ` + strconv.FormatInt(stepFirst(1), 10) + `)
    local pre = tonumber(ARGV[o + 9])
    if pre >= 0 and redis.call('EXISTS', KEYS[ix + 1]) == 1 then
      relist = 1
      redis.call('HSET', ks, 'ls', d(step))
    elseif tonumber(st[14]) ~= step then
      relist = (pre == step) and 2 or 1
      redis.call('HSET', ks, 'ls', d(step))
    end
  end
end
if st[6] or created == 1 then renew(1, st, up, now, dttl) end
`

// writeSrc: writeBody with o = 0. Returns {written, count before, created,
// updated, wiped, relist}.
var writeSrc = "local o = 0\n" + writeBody + "return {written, before, created, up, wiped, relist}\n"

// keyedWriteSrc: writeBody with an idempotency key, checked and recorded in
// the same script, so that two writes with one key never both write. KEYS s,
// m, t, c, d, i, g, w, z, then KEY:k:K (the key's record) and KEY:k; ARGV
// fingerprint, window_ms, then writeBody's arguments (o = 2). A key already
// recorded writes nothing and returns {-1, "WRITTEN FINGERPRINT"}, as the
// first write recorded it; otherwise the write returns as writeSrc. The
// record expires after the window, or when the history expires if that is
// sooner, so that it never outlives the history (expire in expirySrc cuts
// it again if a later change brings the history's expiry forward). KEY:k
// expires with its longest-lived record, and loses its expired entries on
// each keyed write; its scores are expiry times by the store's clock.
var keyedWriteSrc = `
local rec = redis.call('GET', KEYS[10])
if rec then return {-1, rec} end
local o = 2
` + writeBody + `
local px = tonumber(ARGV[2])
local ex = tonumber(redis.call('HGET', KEYS[1], 'ex')) or 0
if ex > 0 and ex - now < px then px = ex - now end
if px > 0 then
  redis.call('SET', KEYS[10], string.format('%d %s', written, ARGV[1]), 'PX', px)
  redis.call('ZREMRANGEBYSCORE', KEYS[11], '-inf', string.format('(%d', now))
  redis.call('ZADD', KEYS[11], string.format('%d', now + px), KEYS[10])
  if redis.call('PTTL', KEYS[11]) < px then redis.call('PEXPIRE', KEYS[11], px) end
end
return {written, before, created, up, wiped, relist}
`

var (
	writeScript      = redis.NewScript(writeSrc)
	keyedWriteScript = redis.NewScript(keyedWriteSrc)
)

// markSrc: KEYS s, u; ARGV the mark's life (ms). On a cluster, every
// removal from the listing indexes runs it for each history it removed,
// after removing it (unlist): in the history's slot, atomically with the
// history's writes, it leaves KEY:u, the mark that writes which add the
// history beside their scripts find (writeBody), and answers 1 if the
// history exists (as infoOf has it), to be listed again from its state. A
// write adds a history it may be creating to the indexes beside its
// script (prelist), so a removal may take that entry out before the
// script runs, or relist the history from its state before the script:
// the script then runs either before this one, and the relisting reads
// what it wrote, or after it, and finds the mark, and its write lists the
// history again. Either way the history is listed, as it is, after the
// removal. The mark outlives by far any write in flight when it is left:
// go-redis gives up on an answer after its read timeout (3 s by default),
// and a write whose answer is lost answers ErrOutcomeUnknown.
const markSrc = `
redis.call('SET', KEYS[2], '1', 'PX', ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'cr', 'c')
if st[1] or (tonumber(st[2]) or 0) ~= 0 then return 1 end
return 0
`

// deleteScript: KEYS s, m, t, c, d, i, g, w, z, k, and r (layout 1's round
// starts), not u: a removal's mark must outlive the history, for a write
// in flight that would create it again (markSrc), even if this delete
// stops before its own removal marks it. Deletes the history and the
// records of its idempotency keys, whose names KEY:k holds (keys of the history's slot, so a cluster node
// serves them with the declared ones). Returns the metadata it had, as
// HGETALL, for the indexes.
var deleteScript = redis.NewScript(`
local meta = redis.call('HGETALL', KEYS[7])
local names = redis.call('ZRANGE', KEYS[10], 0, -1)
for a = 1, #names, 1000 do
  redis.call('DEL', unpack(names, a, math.min(a + 999, #names)))
end
redis.call('DEL', unpack(KEYS))
return meta
`)

// readHead starts the read scripts: KEYS s, m, t, c, d, i, g, w, z; ARGV
// their own, then the counter.
const readHead = `
local ks, km, kt, kc, kd, ki, kw = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[8]
local counter = ARGV[#ARGV]
` + readStateSrc + emitSrc

// tailScript: KEYS s, m, t, c, d, i, g, w, z; ARGV rounds, uncompacted,
// counter. Walks the kinds back from the newest, stepping over tombstones,
// as driver.LastRounds does (the same steps, in the same order; see the
// rule in driver/rounds.go), to the first position S of the tail, and
// returns emit's answer from S on, leaving out the system messages of older
// rounds. If uncompacted is "1" and the history holds compaction records,
// it returns {"compacted"} instead (driver.CompactionTailer).
var tailScript = redis.NewScript(readHead + `
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[9]) == 1 then return {'` + compactedAnswer + `'} end
local count = tonumber(st[1]) or 0
if count == 0 then return empty end
local L = redis.call('STRLEN', kt)
local k = tonumber(ARGV[1])

local want, nlead, seen, found, b = -1, 0, 0, false, 0
local lead = {}
local function resolve(open)
  want = k
  if open then want = want - 1 end
  seen = nlead
  if want == 0 then
    found, b = true, L -- no closer is in the tail
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
local p, chunk, done = L - 1, 256, false
while p >= 0 and not done do
  local from = math.max(0, p - chunk + 1)
  local kinds = redis.call('GETRANGE', kt, from, p)
  for i = #kinds, 1, -1 do
    local c = string.byte(kinds, i)
    if c ~= 120 then -- not a tombstone ('x')
      local pos = from + i - 1
      local v = step(pos, c - 48)
      if v == 3 then s = pos + 1; done = true; break end
      if v == 1 then drop[#drop + 1] = pos elseif v == 2 then maybe = pos end
    end
  end
  p = from - 1
  chunk = math.min(chunk * 4, 65536)
end
if maybe >= 0 then
  if want < 0 then resolve(false) end
  if found and maybe < b then drop[#drop + 1] = maybe end
end
return emit(s, L, tonumber(st[2]) or L, drop)
`)

// rangeScript: KEYS s, m, t, c, d, i, g, w, z; ARGV from, to, counter.
// Returns emit's answer for the positions from "from" up to "to" (or the
// end).
var rangeScript = redis.NewScript(readHead + `
local L = redis.call('STRLEN', kt)
local from = tonumber(ARGV[1])
local to = math.min(tonumber(ARGV[2]), L)
if from >= to then return empty end
return emit(from, to, tonumber(st[2]) or L, {})
`)

// pageScript: KEYS s, m, t, c, d, i, g, w, z; ARGV from, skip, limit, before,
// counter. Forwards (before 0), steps over the kinds from position "from",
// skipping tombstones and then the first skip live messages, and returns
// emit's answer for the positions of the next limit live ones; backwards,
// steps back over the kinds from position before-1 to the limit-th live one
// before it. O(skip + limit) bytes of kinds, and the messages read.
var pageScript = redis.NewScript(readHead + `
local L = redis.call('STRLEN', kt)
local p, skip, limit, before = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local s, e, got, chunk = -1, -1, 0, 256
if before > 0 then
  p = math.min(before, L) - 1
  while p >= 0 and got < limit do
    local from = math.max(0, p - chunk + 1)
    local kinds = redis.call('GETRANGE', kt, from, p)
    for i = #kinds, 1, -1 do
      if string.byte(kinds, i) ~= 120 then
        if e < 0 then e = from + i end
        got, s = got + 1, from + i - 1
        if got == limit then break end
      end
    end
    p = from - 1
    chunk = math.min(chunk * 4, 65536)
  end
else
  while p < L and got < limit do
    local to = math.min(L - 1, p + chunk - 1)
    local kinds = redis.call('GETRANGE', kt, p, to)
    for i = 1, #kinds do
      if string.byte(kinds, i) ~= 120 then
        if skip > 0 then
          skip = skip - 1
        else
          if s < 0 then s = p + i - 1 end
          got, e = got + 1, p + i
          if got == limit then break end
        end
      end
    end
    p = to + 1
    chunk = math.min(chunk * 4, 65536)
  end
end
if s < 0 then return empty end
return emit(s, e, tonumber(st[2]) or L, {})
`)

// messageScript: KEYS s, m, t, c, d, i, g, w, z; ARGV id, counter. Returns
// emit's answer for the message with that id, or an empty one.
var messageScript = redis.NewScript(readHead + `
local L = redis.call('STRLEN', kt)
local xp = tonumber(st[2])
` + posSrc + `
local p = posOf(ARGV[1])
if not p then return empty end
return emit(p, p + 1, xp or L, {})
`)

// editHead starts the scripts that change an existing history: KEYS s, m,
// t, c, d, i, g, w, z; ARGV id, now, the history's default TTL, counter,
// then their own. They answer {-1} when the history or the message does
// not exist (or the history has expired by the store's clock), and
// otherwise {…, updated}.
const editHead = `
local ks, km, kt, kc, kd, ki, kw, kz = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[8], KEYS[9]
local counter = ARGV[4]
` + stateSrc + expirySrc + costSrc + `
local now, dttl = tonumber(ARGV[2]), tonumber(ARGV[3])
if not st[6] or gone(st, now) then return {-1} end
local L = redis.call('STRLEN', kt)
local xp = tonumber(st[2])
local count = tonumber(st[1]) or 0
` + posSrc + `
local p = posOf(ARGV[1])
if not p then return {-1} end
local up = math.max(tonumber(st[7]) or 0, now)
local tt, tf = tonumber(st[9]) or 0, tonumber(st[10]) or 0
`

// deleteMessageScript leaves a tombstone where the message was, so that
// positions do not move, and takes its cost off the sums. Returns {1,
// updated}.
var deleteMessageScript = redis.NewScript(editHead + `
local t, f = sum(redis.call('GETRANGE', kw, 16 * p, 16 * p + 15))
redis.call('LSET', km, p, '')
redis.call('SETRANGE', kw, 16 * p, zero)
redis.call('SETRANGE', kt, p, 'x')
if xp and p >= xp then
  redis.call('LSET', kd, p - xp, '')
  redis.call('HDEL', ki, ARGV[1])
end
redis.call('HSET', ks, 'c', count - 1, 'up', up, 'tt', tt - t, 'tf', tf - f)
renew(1, st, up, now, dttl)
return {1, up}
`)

// truncateScript cuts the lists at the message's position; n keeps its
// value, and xp goes down to the new length, since the positions freed are
// used again by later writes but the ids generated from them are not.
// The costs of the messages cut come off the sums (a tombstone's is zero),
// and the compaction records through them go. Returns {removed, updated}.
var truncateScript = redis.NewScript(editHead + `
local tail = redis.call('GETRANGE', kt, p, -1)
local _, dead = string.gsub(tail, 'x', '')
local removed = #tail - dead
local t, f = sum(redis.call('GETRANGE', kw, 16 * p, -1))
tt, tf = tt - t, tf - f
if p == 0 then
  redis.call('DEL', km, kt, kc, kw)
else
  redis.call('LTRIM', km, 0, p - 1)
  redis.call('LTRIM', kc, 0, p - 1)
  redis.call('SET', kw, redis.call('GETRANGE', kw, 0, 16 * p - 1))
  redis.call('SET', kt, redis.call('GETRANGE', kt, 0, p - 1))
end
if xp then
  local gone = redis.call('LRANGE', kd, math.max(p - xp, 0), -1)
  local ids = {}
  for _, id in ipairs(gone) do
    if id ~= '' then ids[#ids + 1] = id end
  end
  for a = 1, #ids, 1000 do
    redis.call('HDEL', ki, unpack(ids, a, math.min(a + 999, #ids)))
  end
  if p <= xp then redis.call('DEL', kd) else redis.call('LTRIM', kd, 0, p - xp - 1) end
end
-- The positions freed are used again: the compaction records through
-- them go, lest a message written there later take their summary.
local recs = redis.call('LRANGE', kz, 0, -1)
if #recs > 0 then
  local keep = {}
  for _, r in ipairs(recs) do
    local at = tonumber(string.match(r, '^%S+ (%S+)'))
    if at and at < p then keep[#keep + 1] = r end
  end
  if #keep < #recs then
    redis.call('DEL', kz)
    for a = 1, #keep, 1000 do
      redis.call('RPUSH', kz, unpack(keep, a, math.min(a + 999, #keep)))
    end
  end
end
local nxt = tonumber(st[5]) or L
redis.call('HSET', ks, 'c', count - removed, 'xp', math.min(xp or p, p), 'n', nxt, 'up', up, 'tt', tt, 'tf', tf)
renew(1, st, up, now, dttl)
return {removed, up}
`)

// touchSrc is a change at now to the history of KEY:s ks and state st,
// creating it, empty, if it does not exist: it leaves created (1 if so), cr
// and up, the history's times.
const touchSrc = `local created, cr = 0, st[6]
local up = math.max(tonumber(st[7]) or 0, now)
if cr then
  redis.call('HSET', ks, 'up', up)
else
  created, cr = 1, now
  redis.call('HSET', ks, 'c', 0, 'n', 0, 'v', 3, 'cr', now, 'up', up, 'tk', counter, 'tt', 0, 'tf', 0)
end
`

// setMetadataScript: KEYS s, m, t, c, d, i, g, w, z; ARGV maxPairs, now,
// default TTL, counter, then per change its key and '=' and the value, or '-' to
// remove it. Refuses with {-1} a result of more than maxPairs pairs,
// changing nothing. Otherwise returns {created, cr, up, count, tt, tf,
// wiped, ex, xt, xa (metaHead), the changed keys' old values (false for
// none), the metadata after as HGETALL}. A history that has expired by the
// store's clock is wiped first (wiped 1), and starts anew. ARGV[3] is the
// history's default TTL.
var setMetadataScript = redis.NewScript(`
local ks, kg = KEYS[1], KEYS[7]
local counter = ARGV[4]
` + stateSrc + expirySrc + `
local maxp, now, dttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local keys = {}
for a = 5, #ARGV, 2 do keys[#keys + 1] = ARGV[a] end
local expired = gone(st, now)
local old, len = {}, 0
if not expired then
  if #keys > 0 then old = redis.call('HMGET', kg, unpack(keys)) end
  len = redis.call('HLEN', kg)
end
for j = 1, #keys do
  local set = string.sub(ARGV[4 + 2 * j], 1, 1) == '='
  if set and not old[j] then len = len + 1 elseif not set and old[j] then len = len - 1 end
end
if len > maxp then return {-1} end
local wiped = 0
if expired then
  wipe(1)
  st, wiped = {}, 1
end
for j = 1, #keys do
  local v = ARGV[4 + 2 * j]
  if string.sub(v, 1, 1) == '=' then
    redis.call('HSET', kg, keys[j], string.sub(v, 2))
  elseif old[j] then
    redis.call('HDEL', kg, keys[j])
  end
end
` + touchSrc + `
renew(1, st, up, now, dttl)
local out = {created, tonumber(cr), up, tonumber(st[1]) or 0, tonumber(st[9]) or 0, tonumber(st[10]) or 0,
  wiped, tonumber(redis.call('HGET', ks, 'ex')) or 0, tonumber(st[11]) or 0, tonumber(st[12]) or 0}
for j = 1, #keys do out[#out + 1] = old[j] end
for _, v in ipairs(redis.call('HGETALL', kg)) do out[#out + 1] = v end
return out
`)

// setExpiryScript sets a history's own expiry (Store.SetExpiry): KEYS s,
// m, t, c, d, i, g, w, z; ARGV now, the history's default TTL, counter,
// xt, xa (0 for none). It creates the history if it does not exist, or
// has expired by the store's clock (wiped 1), as setMetadataScript does,
// and answers as it does: metaHead, then the metadata as HGETALL. If the
// history's expiry ex is due already (a fixed time past), the history is
// removed, and the metadata it had follows.
var setExpiryScript = redis.NewScript(`
local ks = KEYS[1]
local counter = ARGV[3]
` + stateSrc + expirySrc + `
local now, dttl, xt, xa = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[5])
local wiped = 0
if gone(st, now) then
  wipe(1)
  st, wiped = {}, 1
end
` + touchSrc + `
if xt > 0 then redis.call('HSET', ks, 'xt', xt) else redis.call('HDEL', ks, 'xt') end
if xa > 0 then redis.call('HSET', ks, 'xa', xa) else redis.call('HDEL', ks, 'xa') end
local ea = expiresAt(xa, xt, up, dttl)
local out = {created, tonumber(cr), up, tonumber(st[1]) or 0, tonumber(st[9]) or 0, tonumber(st[10]) or 0,
  wiped, ea, xt, xa}
local meta
if expire(1, ea, now, tonumber(st[13]) or 0) then
  meta = redis.call('HGETALL', KEYS[7])
else
  meta = wipe(1)
end
for _, v in ipairs(meta) do out[#out + 1] = v end
return out
`)

// forkReadSrc reads the history of KEYS[kb..kb+8] (s, m, t, c, d, i, g,
// w, z) for a fork, up to and including the message with id ARGV[2] if
// ARGV[1] is "1", into the table D: {E, xp (-1 for none), n, live, pairs,
// kinds, tt, tf, records, costs, xt, xa (its own expiry, which the fork
// copies), pairs×2 metadata, E messages, E times, the ids from xp to E, the
// compaction records whose Through it copies}, all strings; or returns
// {-1} if that message does not exist. The locals counter and now must be
// set, and expirySrc's functions defined. A history that has expired by
// the store's clock is read as one that does not exist.
const forkReadSrc = `
local ks, km, kt, kc, kd, ki, kg = KEYS[kb], KEYS[kb + 1], KEYS[kb + 2], KEYS[kb + 3], KEYS[kb + 4], KEYS[kb + 5], KEYS[kb + 6]
local kw, kz = KEYS[kb + 7], KEYS[kb + 8]
` + stateSrc + costSrc + `
local L = redis.call('STRLEN', kt)
local srcGone = gone(st, now)
if srcGone then
  if ARGV[1] == '1' then return {-1} end
  st, L = {}, 0
end
local xp = tonumber(st[2])
` + posSrc + `
local E = L
if ARGV[1] == '1' then
  local p = posOf(ARGV[2])
  if not p then return {-1} end
  E = p + 1
end
local nxt = tonumber(st[5]) or L
local kinds = ''
if E > 0 then kinds = redis.call('GETRANGE', kt, 0, E - 1) end
local _, dead = string.gsub(kinds, 'x', '')
-- The copy's ids are positions below its xp, and its generated ids start
-- at n: when n is past its length, later ids must be kept.
local dxp = xp
if dxp and dxp > E then dxp = E end
if not dxp and nxt ~= E then dxp = E end
-- The copy's sums: the history's, less the costs of the messages after E.
local tt, tf = tonumber(st[9]) or 0, tonumber(st[10]) or 0
if E < L then
  local t, f = sum(redis.call('GETRANGE', kw, 16 * E, -1))
  tt, tf = tt - t, tf - f
end
local w = ''
if E > 0 then w = redis.call('GETRANGE', kw, 0, 16 * E - 1) end
if #w ~= 16 * E then return redis.error_reply('` + upgradeNeeded + ` costs missing') end
-- The records whose Through message is copied, at the same position.
local recs = {}
for _, r in ipairs(redis.call('LRANGE', kz, 0, -1)) do
  local pos, idlen, at = string.match(r, '^%-?%d+ (%-?%d+) %-?%d+ %-?%d+ (%d+)\n()')
  pos = tonumber(pos)
  if pos and pos < E and posOf(string.sub(r, at, at + tonumber(idlen) - 1)) == pos then recs[#recs + 1] = r end
end
local meta = {}
if not srcGone then meta = redis.call('HGETALL', kg) end
local D = {tostring(E), tostring(dxp or -1), tostring(nxt), tostring(E - dead), tostring(#meta / 2), kinds,
  string.format('%d', tt), string.format('%d', tf), tostring(#recs), w, st[11] or '0', st[12] or '0'}
for _, v in ipairs(meta) do D[#D + 1] = v end
if E > 0 then
  for _, v in ipairs(redis.call('LRANGE', km, 0, E - 1)) do D[#D + 1] = v end
  for _, v in ipairs(redis.call('LRANGE', kc, 0, E - 1)) do D[#D + 1] = v end
  if xp and xp < E then
    for _, v in ipairs(redis.call('LRANGE', kd, 0, E - xp - 1)) do D[#D + 1] = v end
  end
end
for _, r in ipairs(recs) do D[#D + 1] = r end
`

// forkCreateSrc creates the history of KEYS[kb..kb+8] from D[o+1…] (as
// forkReadSrc leaves it) at time now, with the source's own expiry, the
// default TTL of its id dttl and the local counter; it returns {0} if the
// history exists, else {1, live, tt, tf, wiped, ex}: wiped 1 if it removed
// an expired history of the new id first (gone), ex the time the new
// history expires (0 never; if due already, the new history is removed
// at once). All of the new history's keys are written by this one script:
// nobody sees it half made.
const forkCreateSrc = `
local ds, dm, dt, dc, dd, di, dg = KEYS[kb], KEYS[kb + 1], KEYS[kb + 2], KEYS[kb + 3], KEYS[kb + 4], KEYS[kb + 5], KEYS[kb + 6]
local dw, dz = KEYS[kb + 7], KEYS[kb + 8]
local wiped = 0
if gone({[13] = redis.call('HGET', ds, 'ex')}, now) then
  wipe(kb)
  wiped = 1
elseif redis.call('EXISTS', ds) == 1 then
  return {0}
end
local E, dxp, nxt, live, npairs = tonumber(D[o + 1]), tonumber(D[o + 2]), tonumber(D[o + 3]), tonumber(D[o + 4]), tonumber(D[o + 5])
local tt, tf, nrec = D[o + 7], D[o + 8], tonumber(D[o + 9])
local a = o + 13
local function push(cmd, key, from, to)
  for b = from, to, 1000 do
    redis.call(cmd, key, unpack(D, b, math.min(b + 999, to)))
  end
end
if npairs > 0 then push('HSET', dg, a, a + 2 * npairs - 1) end
a = a + 2 * npairs
if E > 0 then
  redis.call('SET', dt, D[o + 6])
  redis.call('SET', dw, D[o + 10])
  push('RPUSH', dm, a, a + E - 1)
  push('RPUSH', dc, a + E, a + 2 * E - 1)
  a = a + 2 * E
  if dxp >= 0 and dxp < E then
    local ids = {}
    for j = a, a + E - dxp - 1 do
      if D[j] ~= '' then
        ids[#ids + 1] = D[j]
        ids[#ids + 1] = dxp + j - a
      end
      -- RPUSH keeps the tombstones' empty ids in their places
    end
    push('RPUSH', dd, a, a + E - dxp - 1)
    for b = 1, #ids, 1000 do
      redis.call('HSET', di, unpack(ids, b, math.min(b + 999, #ids)))
    end
  end
end
-- The records are D's last nrec values, newest first as in the source.
if nrec > 0 then push('RPUSH', dz, #D - nrec + 1, #D) end
redis.call('HSET', ds, 'c', live, 'n', nxt, 'v', 3, 'cr', now, 'up', now, 'tk', counter, 'tt', tt, 'tf', tf)
if dxp >= 0 then redis.call('HSET', ds, 'xp', dxp) end
local xt, xa = tonumber(D[o + 11]), tonumber(D[o + 12])
if xt > 0 then redis.call('HSET', ds, 'xt', xt) end
if xa > 0 then redis.call('HSET', ds, 'xa', xa) end
local ea = expiresAt(xa, xt, now, dttl)
if not expire(kb, ea, now, 0) then wipe(kb) end
return {1, live, tonumber(tt), tonumber(tf), wiped, ea}
`

// forkScript is a fork on one Redis node: KEYS the source's s, m, t, c,
// d, i, g, w, z, then the new history's; ARGV through given ("1" or "0"),
// its id, now, the new history's default TTL, counter. One script: {-1} no
// such message, {0} exists, or forkCreateSrc's answer.
var forkScript = redis.NewScript(`
local now, dttl, counter = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local kb = 1
` + expirySrc + forkReadSrc + `
kb = 10
local o = 0
` + forkCreateSrc)

// forkReadScript is the first half of a fork on a cluster, where the two
// histories are in different slots: KEYS the source's nine; ARGV through
// given, its id, counter, now. Returns D (forkReadSrc).
var forkReadScript = redis.NewScript(`
local kb, counter, now = 1, ARGV[3], tonumber(ARGV[4])
` + expirySrc + forkReadSrc + `
return D
`)

// forkCreateScript is the second half: KEYS the new history's nine; ARGV
// now, the new history's default TTL, counter, then D.
var forkCreateScript = redis.NewScript(forkCreateMain)

const forkCreateMain = `
local now, dttl, counter, kb, o, D = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], 1, 3, ARGV
` + expirySrc + forkCreateSrc

// compactSrc records a compaction (Store.Compact), an editHead script with
// ARGV id (Through), now (its CreatedAt), default TTL, counter, then ThroughPos,
// max and the record: the record goes first in KEY:z, which keeps its
// newest max, only if the history holds Through at ThroughPos. The
// history's updated time becomes the record's. Returns {0, updated}, or
// {-1}.
const compactSrc = editHead + `
if p ~= tonumber(ARGV[5]) then return {-1} end
redis.call('LPUSH', kz, ARGV[7])
redis.call('LTRIM', kz, 0, tonumber(ARGV[6]) - 1)
redis.call('HSET', ks, 'up', up)
renew(1, st, up, now, dttl)
return {0, up}
`

var compactScript = redis.NewScript(compactSrc)

// compactionsScript: KEYS s, z; ARGV counter. Returns KEY:z, newest first.
var compactionsScript = redis.NewScript(`
local ks, counter = KEYS[1], ARGV[1]
` + readStateSrc + `
return redis.call('LRANGE', KEYS[2], 0, -1)
`)

// measuredScript stores the costs Store.measureHistory measured for a
// history, if it has not changed since it was read: KEYS s, t, w, z; ARGV
// what the history was (c, n, cr, up, the length of its kinds, the number
// of its compaction records and the newest), counter, tt, tf, the number
// of records, the records with their new costs, then the costs as KEY:w
// holds them. Returns 1 if it stored them, 0 if the history changed. A
// history with a TTL keeps it, for the costs too.
var measuredScript = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'c', 'n', 'cr', 'up')
for j = 1, 4 do
  if (st[j] or '') ~= ARGV[j] then return 0 end
end
if redis.call('STRLEN', KEYS[2]) ~= tonumber(ARGV[5]) or redis.call('LLEN', KEYS[4]) ~= tonumber(ARGV[6]) or
  (redis.call('LINDEX', KEYS[4], 0) or '') ~= ARGV[7] then
  return 0
end
local nrec = tonumber(ARGV[11])
if ARGV[12 + nrec] == '' then
  redis.call('DEL', KEYS[3])
else
  redis.call('SET', KEYS[3], ARGV[12 + nrec])
end
if nrec > 0 then
  redis.call('DEL', KEYS[4])
  redis.call('RPUSH', KEYS[4], unpack(ARGV, 12, 11 + nrec))
end
redis.call('HSET', KEYS[1], 'tk', ARGV[8], 'tt', ARGV[9], 'tf', ARGV[10])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('PEXPIRE', KEYS[3], ttl)
  redis.call('PEXPIRE', KEYS[4], ttl)
end
return 1
`)

// compactedAnswer is the tail script's answer for a history with
// compaction records, when asked.
const compactedAnswer = "compacted"

// upgradeNeeded starts the error every script gives for a history of an
// earlier layout.
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

// upgrade3Script: KEYS s, m, c, d, i. Turns a layout-2 history into a
// layout-3 one, inside Redis: times of 0 (unknown) for its messages, KEY:i
// from a set into a hash of positions (from KEY:d), n its count (it never
// lost a message), cr and up 0. Returns 1 if it upgraded, 0 if there was
// nothing to do, an error for a layout-1 history.
var upgrade3Script = redis.NewScript(`
local st = redis.call('HMGET', KEYS[1], 'c', 'xp', 'r', 'v')
if st[4] or not st[1] then return 0 end
if st[3] then return redis.error_reply('layout 1') end
local L = redis.call('LLEN', KEYS[2])
redis.call('DEL', KEYS[3], KEYS[5])
local zeros = {}
for j = 1, math.min(L, 1000) do zeros[j] = '0' end
for a = 1, L, 1000 do
  redis.call('RPUSH', KEYS[3], unpack(zeros, 1, math.min(1000, L - a + 1)))
end
local xp = tonumber(st[2])
if xp then
  local ids = redis.call('LRANGE', KEYS[4], 0, -1)
  local pairs = {}
  for j, id in ipairs(ids) do
    pairs[#pairs + 1] = id
    pairs[#pairs + 1] = xp + j - 1
  end
  for a = 1, #pairs, 1000 do
    redis.call('HSET', KEYS[5], unpack(pairs, a, math.min(a + 999, #pairs)))
  end
end
redis.call('HSET', KEYS[1], 'v', 3, 'n', L, 'cr', 0, 'up', 0)
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  for k = 2, 5 do redis.call('PEXPIRE', KEYS[k], ttl) end
end
return 1
`)
