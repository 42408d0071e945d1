-- Reads a team's latest incidents (highest numbers first), or its latest records of one kind
-- (newest first), in one round trip.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  how many
-- ARGV[2]  "" for incidents, else the record kind
-- Returns a flat list: id, version, data, open ("1", "0", or "" for incidents), id, ...
local prefix = KEYS[1]
local limit = tonumber(ARGV[1])
local out = {}
if limit < 1 then return out end
local base = prefix .. ':inc:'
local order = prefix .. ':all'
if ARGV[2] ~= '' then
  base = prefix .. ':rec:' .. ARGV[2] .. ':r:'
  order = prefix .. ':rec:' .. ARGV[2] .. ':all'
end
for _, id in ipairs(redis.call('ZREVRANGE', order, 0, limit - 1)) do
  local row = redis.call('HMGET', base .. id, 'version', 'data', 'open')
  if row[1] then
    out[#out + 1] = id
    out[#out + 1] = row[1]
    out[#out + 1] = row[2]
    out[#out + 1] = row[3] or ''
  end
end
return out
