-- Reads records of one kind by id.
--
-- KEYS[1]  the kind's record prefix, e.g. "firebell:{wmcs}:n:incident:r:incident"
-- ARGV     the ids
-- Returns, per id: version ("0" if it never existed), "1" if it exists else "0", schema, data,
-- index entries (JSON).
local out = {}
for _, id in ipairs(ARGV) do
  local f = redis.call('HMGET', KEYS[1] .. ':' .. id, 'version', 'schema', 'data', 'idx')
  out[#out + 1] = f[1] or '0'
  out[#out + 1] = f[3] and '1' or '0'
  out[#out + 1] = f[2] or ''
  out[#out + 1] = f[3] or ''
  out[#out + 1] = f[4] or ''
end
return out
