-- Reserves the next incident number of a team for one reservation (the declaring event), once:
-- asking again with the same reservation returns the same number.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  the reservation id
-- Returns the number.
local prefix = KEYS[1]
local held = prefix .. ':resv:' .. ARGV[1]
local number = redis.call('GET', held)
if number then return tonumber(number) end
number = redis.call('INCR', prefix .. ':seq')
redis.call('SET', held, number, 'EX', 86400)
return number
