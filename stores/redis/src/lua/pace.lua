-- Reserves the next slot of a pace (one use per interval) shared by every replica, by the
-- server's clock, and returns how long to wait for it. A holder (an action's id) that asks again
-- before its slot is over (its slot and the interval after it) gets that slot again: a send
-- tried again keeps its place in the line instead of going to its end. One that asks after it
-- (its send was refused, say rate-limited) gets a new slot: the old one was used.
--
-- KEYS[1]  the pace's key: a hash of the next free slot ("next") and each holder's slot
--          ("h:<holder>"), in milliseconds; it expires a minute after its last slot
-- ARGV[1]  the interval, in milliseconds
-- ARGV[2]  the holder, or "" for none
-- Returns the wait, in milliseconds.
local every, holder = tonumber(ARGV[1]), ARGV[2]
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- Versions before holders kept the next slot as a string; it lasts a second: start afresh.
if redis.call('TYPE', KEYS[1]).ok == 'string' then redis.call('DEL', KEYS[1]) end
if holder ~= '' then
  local held = redis.call('HGET', KEYS[1], 'h:' .. holder)
  if held and tonumber(held) + every > now then return math.max(tonumber(held) - now, 0) end
end
local slot = math.max(now, tonumber(redis.call('HGET', KEYS[1], 'next') or '0'))
redis.call('HSET', KEYS[1], 'next', slot + every)
if holder ~= '' then
  redis.call('HSET', KEYS[1], 'h:' .. holder, slot)
  -- Holders whose slot is a minute gone will not ask again: forget them.
  if redis.call('HLEN', KEYS[1]) > 64 then
    local fields = redis.call('HGETALL', KEYS[1])
    for i = 1, #fields, 2 do
      if fields[i] ~= 'next' and tonumber(fields[i + 1]) < now - 60000 then redis.call('HDEL', KEYS[1], fields[i]) end
    end
  end
end
redis.call('PEXPIRE', KEYS[1], slot + every - now + 60000)
return slot - now
