-- Reads the records listed under every key of an index that starts with a prefix, by key then id.
--
-- KEYS[1]  the namespace's key prefix, e.g. "firebell:{wmcs}:n:maintenance"
-- ARGV[1]  the kind (escaped), ARGV[2] the index (escaped), ARGV[3] the prefix, ARGV[4] how many
-- Returns per record: id, version, schema, data, index entries (JSON).
local prefix, kind, index, start, limit = KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
-- No UTF-8 text has the byte 255: every key that starts with the prefix sorts before it.
local upto = start == '' and '+' or ('(' .. start .. '\255')
local keys = redis.call('ZRANGEBYLEX', prefix .. ':ik:' .. kind .. ':' .. index, '[' .. start, upto)
local out = {}
local found = 0
for _, key in ipairs(keys) do
  local ids = redis.call('SMEMBERS', prefix .. ':i:' .. kind .. ':' .. index .. ':' .. key)
  table.sort(ids)
  for _, id in ipairs(ids) do
    if found >= limit then return out end
    if push_record(out, prefix .. ':r:' .. kind .. ':' .. id, id) then found = found + 1 end
  end
end
return out
