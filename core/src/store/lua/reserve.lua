-- Reserves the next number of one of a team's sequences for one reservation (the cause that
-- needs it), once: asking again with the same reservation returns the same number.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  the sequence ("incident", "page")
-- ARGV[2]  the reservation id
-- Returns the number.
local prefix = KEYS[1]
local held = prefix .. ':resv:' .. ARGV[1] .. ':' .. ARGV[2]
local number = redis.call('GET', held)
if number then return tonumber(number) end
number = redis.call('INCR', prefix .. ':seq:' .. ARGV[1])
redis.call('SET', held, number, 'EX', 86400)
return number
