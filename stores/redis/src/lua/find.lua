-- Reads the records listed under one index key, with the key's version.
--
-- KEYS[1]  the namespace's key prefix, e.g. "firebell:{wmcs}:n:incident"
-- ARGV[1]  the kind (escaped), ARGV[2] the index entry "<index>:<key>" (index escaped)
-- Returns the key's version, then per record: id, version, schema, data, index entries (JSON).
local prefix, kind, entry = KEYS[1], ARGV[1], ARGV[2]
local out = { redis.call('HGET', prefix .. ':iv', kind .. ':' .. entry) or '0' }
local ids = redis.call('SMEMBERS', prefix .. ':i:' .. kind .. ':' .. entry)
table.sort(ids)
for _, id in ipairs(ids) do
  push_record(out, prefix .. ':r:' .. kind .. ':' .. id, id)
end
return out
