-- Reserves the next number of one of a team's sequences for one reservation (the cause that
-- needs it), once: asking again with the same reservation returns the same number.
--
-- KEYS[1]  the namespace's key prefix, e.g. "firebell:{wmcs}:n:incident"
-- ARGV[1]  the sequence ("incident", "page"), escaped
-- ARGV[2]  the reservation id
-- Returns the number.
local prefix = KEYS[1]
local held = prefix .. ':qr:' .. ARGV[1] .. ':' .. ARGV[2]
local number = redis.call('GET', held)
if number then return tonumber(number) end
number = redis.call('INCR', prefix .. ':q:' .. ARGV[1])
redis.call('SET', held, number, 'EX', 86400)
return number
