-- Applies one command's (or job run's) writes for one team atomically, together with its guard:
-- the claim of its cause, the versions of what it read, and the job it runs. Every check runs
-- before any write but the claim's, which a refusal removes again, so a refusal changes nothing.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}" (every key used shares its hash tag)
-- ARGV     a flat list, read in order (no JSON to decode, and data is passed as it is):
--            claim ("<cause>" or ""), claim ttl (seconds), job id (or ""), the end of the job's
--            JSON that shows its token ('"token":"<token>"}': Job serializes its token last),
--            the number of reads, then each read as 5 values:
--              "r", ns, kind, id, version      a record
--              "i", ns, kind, entry, version   an index key ("<index>:<key>")
--              "u", ns, kind, entry, id        a unique index key that may list only this id
--            then the ops, each its name followed by its values:
--              "put", ns, kind, id, schema, data, number of index entries, entry…
--              "remove", ns, kind, id
--              "append", ns, stream, entry
--              "trim", ns, stream, keep
--              "release", ns, sequence, reservation
--              "schedule", job id, due (ms), job (JSON)
--              "cancel", job id
--              "outbox", cause, envelopes
--              "sent", action id
--              "delivered", watchdog job id, number of actions, action id…
--          Namespaces, kinds, index and sequence names come escaped (no ":"); versions are
--          decimal strings.
-- Keys of a namespace live under "<prefix>:n:<ns>": records ":r:<kind>:<id>" (as record.lua
-- keeps them), creation order ":c:<kind>" (zset) and its counter ":cn", index keys
-- ":i:<kind>:<index>:<key>" (set of ids) and their versions ":iv" (hash), the keys of each
-- index that list a record ":ik:<kind>:<index>" (zset, for prefix listings), streams ":s:<name>"
-- (with the last number of an emptied one in ":sn"), reserved numbers ":qr:<sequence>:<id>".
-- A removed record keeps its version.
-- Returns "duplicate", "gone", "conflict:<position of the read that moved, from 1>",
-- "taken:<position of the unique key that lists another record>", or the
-- array { "ok", then 5 values per changed version: t, ns, kind, id or entry, version }; or an
-- error, with the claim given back, when Redis fails a call (a key of the wrong type).
local prefix = KEYS[1]
local at = 0
local function take()
  at = at + 1
  return ARGV[at]
end

local function space(ns) return prefix .. ':n:' .. ns end
local function record_key(ns, kind, id) return space(ns) .. ':r:' .. kind .. ':' .. id end

-- Records are loaded once per apply: the version check and the write share the load.
local loaded = {}
local function load(key)
  local record = loaded[key]
  if not record then
    record = load_record(key)
    loaded[key] = record
  end
  return record
end

-- Drops a job; answers whether it was still waiting to come due (never handed out).
local function drop_job(id)
  local waiting = redis.call('ZREM', prefix .. ':jobs', id) == 1
  redis.call('HDEL', prefix .. ':jobdata', id)
  return waiting
end

-- The claim is taken first, in the same call that checks it, and given back if a check refuses.
local claim, ttl, job_id, job_ending = take(), take(), take(), take()
local seen = nil
if claim ~= '' then
  seen = prefix .. ':seen:' .. claim
  if not redis.call('SET', seen, '1', 'NX', 'EX', ttl) then return 'duplicate' end
end
local function refuse(why)
  if seen then redis.call('DEL', seen) end
  return why
end

local changed = { 'ok' }
local function report(t, ns, kind, name, version)
  local n = #changed
  changed[n + 1], changed[n + 2], changed[n + 3], changed[n + 4], changed[n + 5] = t, ns, kind, name, version
end

local function relist(ns, kind, id, entry, listed)
  local set = space(ns) .. ':i:' .. kind .. ':' .. entry
  local index, key = string.match(entry, '^([^:]*):(.*)$')
  local keys = space(ns) .. ':ik:' .. kind .. ':' .. index
  if listed then
    redis.call('SADD', set, id)
    redis.call('ZADD', keys, 0, key)
  else
    redis.call('SREM', set, id)
    if redis.call('SCARD', set) == 0 then redis.call('ZREM', keys, key) end
  end
  local version = redis.call('HINCRBY', space(ns) .. ':iv', kind .. ':' .. entry, 1)
  report('i', ns, kind, entry, tostring(version))
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
  local old = load(key)
  local old_idx = old.data and old.idx or nil
  local new_idx = data and cjson.encode(idx) or nil
  local version = tostring(tonumber(old.version or '0') + 1)
  local record = { version = version, schema = schema, idx = new_idx, data = data }
  store_record(key, record)
  loaded[key] = record
  report('r', ns, kind, id, version)
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

-- Every check, then every write. A Redis error on the way (only corrupt or foreign data can
-- cause one) gives the claim back, so that the cause is decided again and its sender told,
-- instead of being taken for a duplicate while nothing keeps its answer.
local function check_and_write()
  -- A job is still this scheduling of it while its JSON ends with the token the run was handed.
  if job_id ~= '' then
    local job = redis.call('HGET', prefix .. ':jobdata', job_id)
    if not job or string.sub(job, -#job_ending) ~= job_ending then return refuse('gone') end
  end

  for position = 1, tonumber(take()) do
    local t, ns, kind, name, expected = take(), take(), take(), take(), take()
    if t == 'u' then
      local set = space(ns) .. ':i:' .. kind .. ':' .. name
      local listed = redis.call('SCARD', set)
      if listed > 1 or (listed == 1 and redis.call('SISMEMBER', set, expected) == 0) then
        return refuse('taken:' .. position)
      end
    else
      local version
      if t == 'r' then
        version = load(record_key(ns, kind, name)).version
      else
        version = redis.call('HGET', space(ns) .. ':iv', kind .. ':' .. name)
      end
      if (version or '0') ~= expected then return refuse('conflict:' .. position) end
    end
  end

  if job_id ~= '' then
    drop_job(job_id)
  end

  while at < #ARGV do
    local op = take()
    if op == 'put' then
      local ns, kind, id, schema, data = take(), take(), take(), take(), take()
      local idx = {}
      for i = 1, tonumber(take()) do idx[i] = take() end
      set_record(ns, kind, id, schema, data, idx)
    elseif op == 'remove' then
      local ns, kind, id = take(), take(), take()
      if load(record_key(ns, kind, id)).data then
        set_record(ns, kind, id, nil, nil, {})
      end
    elseif op == 'append' then
      -- A list of '<number> <entry>' (a small list costs a fifth of a small Redis stream),
      -- numbered on from its last entry, or from the number kept when it was emptied.
      local ns, stream, entry = take(), take(), take()
      local list = space(ns) .. ':s:' .. stream
      local last = redis.call('LINDEX', list, -1)
      local number
      if last then
        number = tonumber(string.match(last, '^%d+')) + 1
      else
        number = tonumber(redis.call('HGET', space(ns) .. ':sn', stream) or '0') + 1
        redis.call('HDEL', space(ns) .. ':sn', stream)
      end
      redis.call('RPUSH', list, string.format('%d', number) .. ' ' .. entry)
    elseif op == 'trim' then
      local ns, stream, keep = take(), take(), tonumber(take())
      local list = space(ns) .. ':s:' .. stream
      if keep == 0 then
        local last = redis.call('LINDEX', list, -1)
        if last then
          redis.call('HSET', space(ns) .. ':sn', stream, string.match(last, '^%d+'))
          redis.call('DEL', list)
        end
      else
        redis.call('LTRIM', list, -keep, -1)
      end
    elseif op == 'release' then
      local ns, sequence, reservation = take(), take(), take()
      redis.call('DEL', space(ns) .. ':qr:' .. sequence .. ':' .. reservation)
    elseif op == 'schedule' then
      local id, due, job = take(), take(), take()
      redis.call('ZADD', prefix .. ':jobs', due, id)
      redis.call('HSET', prefix .. ':jobdata', id, job)
    elseif op == 'cancel' then
      drop_job(take())
    elseif op == 'outbox' then
      local cause, envelopes = take(), take()
      redis.call('SET', prefix .. ':outbox:' .. cause, envelopes, 'EX', 86400)
    elseif op == 'sent' then
      redis.call('SET', prefix .. ':sent:' .. take(), '1', 'EX', 86400)
    elseif op == 'delivered' then
      -- A watchdog still in ':jobs' was never handed out: no one else can send its actions.
      local waiting = drop_job(take())
      for _ = 1, tonumber(take()) do
        local action = take()
        if not waiting then redis.call('SET', prefix .. ':sent:' .. action, '1', 'EX', 86400) end
      end
    else
      -- Cannot happen: the ops come from the build this script is part of.
      error('apply.lua: unknown op ' .. tostring(op))
    end
  end

  return changed
end

local ok, result = pcall(check_and_write)
if ok then return result end
if seen then redis.call('DEL', seen) end
return redis.error_reply('apply.lua: ' .. (type(result) == 'table' and tostring(result.err) or tostring(result)))
