-- Reserves the next slot of a pace (one use per interval) shared by every replica, by the
-- server's clock, and returns how long to wait for it.
--
-- KEYS[1]  the pace's key
-- ARGV[1]  the interval, in milliseconds
-- Returns the wait, in milliseconds.
local every = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local next = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, next)
redis.call('SET', KEYS[1], slot + every, 'PX', slot + every - now + 1000)
return slot - now
