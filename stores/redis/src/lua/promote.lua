-- Moves a team's due jobs into its ready stream, atomically: each due job leaves the schedule
-- and enters the queue exactly once. The job's data and token stay until a run consumes them,
-- so a job rescheduled or cancelled after it became due is recognised when it runs.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  now, in milliseconds
-- ARGV[2]  the most jobs to move
-- Returns how many were moved.
local prefix = KEYS[1]
local stream = prefix .. ':ready'
local due = redis.call('ZRANGEBYSCORE', prefix .. ':jobs', '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('ZREM', prefix .. ':jobs', id)
  local job = redis.call('HGET', prefix .. ':jobdata', id)
  if job then
    redis.call('XADD', stream, '*', 'job', job)
  end
end
if #due > 0 then
  redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0')
end
return #due
