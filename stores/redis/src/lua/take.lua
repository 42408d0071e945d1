-- Hands one scheduler jobs from a team's ready stream (consumer group "workers"): first jobs
-- another scheduler took but left idle longer than the reclaim time (XAUTOCLAIM), then new ones
-- (XREADGROUP). Each hand-out counts an attempt; a job past the most attempts goes to the
-- dead-letter stream instead.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  the consumer (this scheduler's name)
-- ARGV[2]  the most jobs to hand out
-- ARGV[3]  the reclaim time, in milliseconds
-- ARGV[4]  the most attempts
-- Returns { { entry, job json, attempts }, ... } to run and { ... } moved to the dead letters.
local prefix = KEYS[1]
local consumer, limit, idle, max = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local stream = prefix .. ':ready'
local attempts = prefix .. ':attempts'
local ready, dead = {}, {}
if redis.call('EXISTS', stream) == 0 then return { ready, dead } end
redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0')

local function job_of(fields)
  for i = 1, #fields, 2 do
    if fields[i] == 'job' then return fields[i + 1] end
  end
  return ''
end

local claimed = redis.call('XAUTOCLAIM', stream, 'workers', consumer, idle, '0-0', 'COUNT', limit)
for _, entry in ipairs(claimed[2]) do
  local id, job = entry[1], job_of(entry[2])
  local n = redis.call('HINCRBY', attempts, id, 1)
  if n > max then
    redis.call('XADD', prefix .. ':dead', 'MAXLEN', '~', '10000', '*', 'job', job, 'entry', id)
    redis.call('XACK', stream, 'workers', id)
    redis.call('XDEL', stream, id)
    redis.call('HDEL', attempts, id)
    dead[#dead + 1] = { id, job, n }
  else
    ready[#ready + 1] = { id, job, n }
  end
end

local room = limit - #ready
if room > 0 then
  local fresh = redis.call('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', room, 'STREAMS', stream, '>')
  if fresh then
    for _, entry in ipairs(fresh[1][2]) do
      local n = redis.call('HINCRBY', attempts, entry[1], 1)
      ready[#ready + 1] = { entry[1], job_of(entry[2]), n }
    end
  end
end
return { ready, dead }
