-- Reads a team's latest incidents (highest numbers first), in one round trip.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  how many
-- Returns a flat list: number, version, data, number, version, data, ...
local prefix = KEYS[1]
local out = {}
local limit = tonumber(ARGV[1])
if limit < 1 then return out end
for _, n in ipairs(redis.call('ZREVRANGE', prefix .. ':all', 0, limit - 1)) do
  local row = redis.call('HMGET', prefix .. ':inc:' .. n, 'version', 'data')
  if row[1] then
    out[#out + 1] = n
    out[#out + 1] = row[1]
    out[#out + 1] = row[2]
  end
end
return out
