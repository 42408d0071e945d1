-- Applies one command's (or job run's) writes for one team atomically, together with its guard:
-- the claim of its cause, the snapshot revision it was decided on, and the job it runs. Every
-- check runs before any write, so a refusal changes nothing.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}" (every key used shares its hash tag)
-- ARGV[1]  JSON: { claim = "<cause>" or "", ttl = "<seconds>",
--                  check_rev = true|false, rev = "<expected revision>", next_rev = "<new revision>",
--                  job_id = "<job id>" or "", job_token = "<token>",
--                  ops = [...] }
--          where each op is one of
--            { op = "create" | "update", n = "<number>", v = "<expected version>",
--              data = "<incident json>", open = true|false, timeline = ["<entry json>", ...] }
--            { op = "append", n = "<number>", entry = "<entry json>" }   (only if still open)
--            { op = "log", project = "<project>", entry = "<log entry json>" }
--            { op = "plugin", name = "<plugin>", state = "<plugin state json>" or "" (drop) }
--            { op = "audit", entry = "<audit entry json>" }
--            { op = "record", kind = "<kind>", id = "<id>", v = "<expected version>",
--              open = true|false, data = "<data>" }
--            { op = "schedule", id = "<job id>", due = "<due ms>", token = "<token>", job = "<job json>" }
--            { op = "cancel", id = "<job id>" }
--            { op = "outbox", cause = "<cause>", envelopes = "<envelopes json>" }
--            { op = "drop_outbox", cause = "<cause>" }
-- The team's revision (key ":rev") changes to next_rev whenever an incident, a plugin's state or
-- a record is written (everything a snapshot holds), so a caller holding an older snapshot is
-- refused with "stale".
-- Returns "ok:<revision>", "duplicate", "stale", "gone", "conflict:<number>" or
-- "record:<kind>:<id>".
local prefix = KEYS[1]
local req = cjson.decode(ARGV[1])
local open_set = prefix .. ':open'
local rev_key = prefix .. ':rev'
local function record(n) return prefix .. ':inc:' .. n end
local function plugin_record(kind, id) return prefix .. ':rec:' .. kind .. ':r:' .. id end

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

if req.check_rev and (redis.call('GET', rev_key) or '') ~= req.rev then
  return 'stale'
end

if req.job_id ~= '' and redis.call('HGET', prefix .. ':jobtokens', req.job_id) ~= req.job_token then
  return 'gone'
end

for _, op in ipairs(req.ops) do
  if op.op == 'create' and redis.call('EXISTS', record(op.n)) == 1 then
    return 'conflict:' .. op.n
  elseif op.op == 'update' and redis.call('HGET', record(op.n), 'version') ~= op.v then
    return 'conflict:' .. op.n
  elseif op.op == 'record' and (redis.call('HGET', plugin_record(op.kind, op.id), 'version') or '0') ~= op.v then
    return 'record:' .. op.kind .. ':' .. op.id
  end
end

if req.job_id ~= '' then
  drop_job(req.job_id)
end

local wrote = false
for _, op in ipairs(req.ops) do
  if op.op == 'create' or op.op == 'update' then
    wrote = true
    local key = record(op.n)
    redis.call('HINCRBY', key, 'version', 1)
    redis.call('HSET', key, 'data', op.data)
    if op.open then
      redis.call('SADD', open_set, op.n)
    else
      redis.call('SREM', open_set, op.n)
    end
    if op.op == 'create' then
      redis.call('ZADD', prefix .. ':all', op.n, op.n)
    end
    for _, entry in ipairs(op.timeline) do
      redis.call('XADD', key .. ':timeline', '*', 'e', entry)
    end
  elseif op.op == 'append' then
    if redis.call('SISMEMBER', open_set, op.n) == 1 then
      redis.call('XADD', record(op.n) .. ':timeline', '*', 'e', op.entry)
    end
  elseif op.op == 'log' then
    redis.call('XADD', prefix .. ':log:' .. op.project, 'MAXLEN', '~', '100000', '*', 'e', op.entry)
  elseif op.op == 'plugin' then
    wrote = true
    if op.state == '' then
      redis.call('HDEL', prefix .. ':plugins', op.name)
    else
      redis.call('HSET', prefix .. ':plugins', op.name, op.state)
    end
  elseif op.op == 'audit' then
    redis.call('XADD', prefix .. ':audit', 'MAXLEN', '~', '10000', '*', 'e', op.entry)
  elseif op.op == 'record' then
    wrote = true
    local base = prefix .. ':rec:' .. op.kind
    redis.call('HINCRBY', plugin_record(op.kind, op.id), 'version', 1)
    redis.call('HSET', plugin_record(op.kind, op.id), 'data', op.data, 'open', op.open and '1' or '0')
    if op.open then
      redis.call('SADD', base .. ':open', op.id)
    else
      redis.call('SREM', base .. ':open', op.id)
    end
    if op.v == '0' then
      redis.call('ZADD', base .. ':all', redis.call('INCR', base .. ':n'), op.id)
    end
    redis.call('SADD', prefix .. ':rec:kinds', op.kind)
  elseif op.op == 'schedule' then
    redis.call('ZADD', prefix .. ':jobs', op.due, op.id)
    redis.call('HSET', prefix .. ':jobdata', op.id, op.job)
    redis.call('HSET', prefix .. ':jobtokens', op.id, op.token)
  elseif op.op == 'cancel' then
    drop_job(op.id)
  elseif op.op == 'outbox' then
    redis.call('SET', prefix .. ':outbox:' .. op.cause, op.envelopes, 'EX', 86400)
  elseif op.op == 'drop_outbox' then
    redis.call('DEL', prefix .. ':outbox:' .. op.cause)
  end
end

if wrote then
  redis.call('SET', rev_key, req.next_rev)
end
if seen then
  redis.call('SET', seen, '1', 'EX', req.ttl)
end
return 'ok:' .. (redis.call('GET', rev_key) or '')
