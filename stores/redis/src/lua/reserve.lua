-- Reserves the next number of one of a team's sequences for one reservation (the cause that
-- needs it), once: asking again with the same reservation returns the same number. A cause that
-- was claimed already (another replica applied it, releasing its reservation) gets no new number:
-- it would be used up by a decision that can only be refused as a duplicate, and the sequence
-- would skip it.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  the namespace, escaped
-- ARGV[2]  the sequence ("incident", "page"), escaped
-- ARGV[3]  the reservation id (the cause, as claimed)
-- Returns the number, or -1 when the cause was claimed already.
local team = KEYS[1]
local prefix = team .. ':n:' .. ARGV[1]
local held = prefix .. ':qr:' .. ARGV[2] .. ':' .. ARGV[3]
local number = redis.call('GET', held)
if number then return tonumber(number) end
if redis.call('EXISTS', team .. ':seen:' .. ARGV[3]) == 1 then return -1 end
number = redis.call('INCR', prefix .. ':q:' .. ARGV[2])
redis.call('SET', held, number, 'EX', 86400)
return number
