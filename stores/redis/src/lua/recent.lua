-- Reads the latest records of a kind, newest first.
--
-- KEYS[1]  the namespace's key prefix, e.g. "firebell:{wmcs}:n:incident"
-- ARGV[1]  the kind (escaped), ARGV[2] how many
-- Returns per record: id, version, schema, data, index entries (JSON).
local prefix, kind = KEYS[1], ARGV[1]
local ids = redis.call('ZREVRANGE', prefix .. ':c:' .. kind, 0, tonumber(ARGV[2]) - 1)
local out = {}
for _, id in ipairs(ids) do
  push_record(out, prefix .. ':r:' .. kind .. ':' .. id, id)
end
return out
