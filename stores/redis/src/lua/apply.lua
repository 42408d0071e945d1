-- Applies one command's (or job run's) writes for one team atomically, together with its guard:
-- the claim of its cause, the versions of what it read, and the job it runs. Every check runs
-- before any write, so a refusal changes nothing.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}" (every key used shares its hash tag)
-- ARGV[2…] the ops' blobs (a record's data, a stream entry, a job, an outbox's envelopes), each
--          named in its op by its position <n> in ARGV, so that they are not escaped into the
--          request's JSON
-- ARGV[1]  JSON: { claim = "<cause>" or "", ttl = "<seconds>",
--                  job_id = "<job id>" or "", job_token = "<token>",
--                  reads = [ { t = "r", ns, kind, id, v } | { t = "i", ns, kind, entry, v } ],
--                  ops = [...] }
--          where namespaces, kinds and index names come escaped (no ":"), an index entry is
--          "<index>:<key>", versions are strings, and each op is one of
--            { op = "put", ns, kind, id, schema, data = <n>, idx = ["<index>:<key>", ...] }
--            { op = "remove", ns, kind, id }
--            { op = "append", ns, stream, entry = <n> }
--            { op = "trim", ns, stream, keep }
--            { op = "release", ns, seq, id = "<reservation>" }
--            { op = "schedule", id = "<job id>", due = "<due ms>", token = "<token>", job = <n> }
--            { op = "cancel", id = "<job id>" }
--            { op = "outbox", cause = "<cause>", envelopes = <n> }
--            { op = "drop_outbox", cause = "<cause>" }
--            { op = "sent", action = "<action id>" }
-- Keys of a namespace live under "<prefix>:n:<ns>": records ":r:<kind>:<id>" (as record.lua
-- keeps them), creation order ":c:<kind>" (zset) and its counter ":cn", index keys
-- ":i:<kind>:<index>:<key>" (set of ids) and their versions ":iv" (hash), streams ":s:<name>"
-- (with the last number of an emptied one in ":sn"), reserved numbers ":qr:<sequence>:<id>".
-- A removed record keeps its version field.
-- Returns "duplicate", "gone", "conflict:<position of the read that moved, from 1>" or
-- "ok:" followed by the changed versions, as JSON [[t, ns, kind, id or entry, version], ...].
local prefix = KEYS[1]
local req = cjson.decode(ARGV[1])

local function space(ns) return prefix .. ':n:' .. ns end
local function record_key(ns, kind, id) return space(ns) .. ':r:' .. kind .. ':' .. id end

local function drop_job(id)
  redis.call('ZREM', prefix .. ':jobs', id)
  redis.call('HDEL', prefix .. ':jobdata', id)
  redis.call('HDEL', prefix .. ':jobtokens', id)
end

local seen = nil
if req.claim ~= '' then
  seen = prefix .. ':seen:' .. req.claim
  if redis.call('EXISTS', seen) == 1 then return 'duplicate' end
end

if req.job_id ~= '' and redis.call('HGET', prefix .. ':jobtokens', req.job_id) ~= req.job_token then
  return 'gone'
end

for position, read in ipairs(req.reads) do
  local version
  if read.t == 'r' then
    version = load_record(record_key(read.ns, read.kind, read.id)).version
  else
    version = redis.call('HGET', space(read.ns) .. ':iv', read.kind .. ':' .. read.entry)
  end
  if (version or '0') ~= read.v then return 'conflict:' .. position end
end

if req.job_id ~= '' then
  drop_job(req.job_id)
end

local changed = {}

local function relist(ns, kind, id, entry, listed)
  local set = space(ns) .. ':i:' .. kind .. ':' .. entry
  if listed then redis.call('SADD', set, id) else redis.call('SREM', set, id) end
  local version = redis.call('HINCRBY', space(ns) .. ':iv', kind .. ':' .. entry, 1)
  changed[#changed + 1] = { 'i', ns, kind, entry, tostring(version) }
end

local function members(list)
  local set = {}
  for _, entry in ipairs(list) do set[entry] = true end
  return set
end

-- Stores or removes (data == nil) a record, keeping its index keys and creation order.
local function set_record(ns, kind, id, schema, data, idx)
  local key = record_key(ns, kind, id)
  -- Every stored record has its index entries ("idx"); a removed one keeps only its version.
  local old = load_record(key)
  local old_idx = old.data and old.idx or nil
  local new_idx = data and cjson.encode(idx) or nil
  local version = tostring(tonumber(old.version or '0') + 1)
  store_record(key, { version = version, schema = schema, idx = new_idx, data = data })
  changed[#changed + 1] = { 'r', ns, kind, id, version }
  if data and not old_idx then
    redis.call('ZADD', space(ns) .. ':c:' .. kind, redis.call('INCR', space(ns) .. ':cn'), id)
  elseif old_idx and not data then
    redis.call('ZREM', space(ns) .. ':c:' .. kind, id)
  end
  if old_idx == new_idx then return end
  local before = members(old_idx and cjson.decode(old_idx) or {})
  local after = members(idx)
  for entry in pairs(before) do
    if not after[entry] then relist(ns, kind, id, entry, false) end
  end
  for entry in pairs(after) do
    if not before[entry] then relist(ns, kind, id, entry, true) end
  end
end

for _, op in ipairs(req.ops) do
  if op.op == 'put' then
    set_record(op.ns, op.kind, op.id, op.schema, ARGV[op.data], op.idx)
  elseif op.op == 'remove' then
    if load_record(record_key(op.ns, op.kind, op.id)).data then
      set_record(op.ns, op.kind, op.id, nil, nil, {})
    end
  elseif op.op == 'append' then
    -- A list of '<number> <entry>' (a small list costs a fifth of a small Redis stream),
    -- numbered on from its last entry, or from the number kept when it was emptied.
    local list = space(op.ns) .. ':s:' .. op.stream
    local last = redis.call('LINDEX', list, -1)
    local number
    if last then
      number = tonumber(string.match(last, '^%d+')) + 1
    else
      number = tonumber(redis.call('HGET', space(op.ns) .. ':sn', op.stream) or '0') + 1
      redis.call('HDEL', space(op.ns) .. ':sn', op.stream)
    end
    redis.call('RPUSH', list, number .. ' ' .. ARGV[op.entry])
  elseif op.op == 'trim' then
    local list = space(op.ns) .. ':s:' .. op.stream
    local keep = tonumber(op.keep)
    if keep == 0 then
      local last = redis.call('LINDEX', list, -1)
      if last then
        redis.call('HSET', space(op.ns) .. ':sn', op.stream, string.match(last, '^%d+'))
        redis.call('DEL', list)
      end
    else
      redis.call('LTRIM', list, -keep, -1)
    end
  elseif op.op == 'release' then
    redis.call('DEL', space(op.ns) .. ':qr:' .. op.seq .. ':' .. op.id)
  elseif op.op == 'schedule' then
    redis.call('ZADD', prefix .. ':jobs', op.due, op.id)
    redis.call('HSET', prefix .. ':jobdata', op.id, ARGV[op.job])
    redis.call('HSET', prefix .. ':jobtokens', op.id, op.token)
  elseif op.op == 'cancel' then
    drop_job(op.id)
  elseif op.op == 'outbox' then
    redis.call('SET', prefix .. ':outbox:' .. op.cause, ARGV[op.envelopes], 'EX', 86400)
  elseif op.op == 'drop_outbox' then
    redis.call('DEL', prefix .. ':outbox:' .. op.cause)
  elseif op.op == 'sent' then
    redis.call('SET', prefix .. ':sent:' .. op.action, '1', 'EX', 86400)
  end
end

if seen then
  redis.call('SET', seen, '1', 'EX', req.ttl)
end
if #changed == 0 then return 'ok:[]' end
return 'ok:' .. cjson.encode(changed)
