-- Reads a team's revision and open incidents in one round trip.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- Returns a flat list: revision, then number, version, data, number, version, data, ...
local prefix = KEYS[1]
local out = { redis.call('GET', prefix .. ':rev') or '' }
for _, n in ipairs(redis.call('SMEMBERS', prefix .. ':open')) do
  local row = redis.call('HMGET', prefix .. ':inc:' .. n, 'version', 'data')
  if row[1] then
    out[#out + 1] = n
    out[#out + 1] = row[1]
    out[#out + 1] = row[2]
  end
end
return out
