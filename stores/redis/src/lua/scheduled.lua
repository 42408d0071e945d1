-- Reads a team's jobs that are not due yet, soonest first.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- Returns the jobs as JSON.
local prefix = KEYS[1]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', prefix .. ':jobs', 0, -1)) do
  local job = redis.call('HGET', prefix .. ':jobdata', id)
  if job then out[#out + 1] = job end
end
return out
