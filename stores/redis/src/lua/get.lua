-- Reads records of one kind by id.
--
-- KEYS[1]  the kind's record prefix, e.g. "firebell:{wmcs}:n:incident:r:incident"
-- ARGV     the ids
-- Returns, per id: version ("0" if it never existed), "1" if it exists else "0", schema, data,
-- index entries (JSON).
local out = {}
for _, id in ipairs(ARGV) do
  local r = load_record(KEYS[1] .. ':' .. id)
  out[#out + 1] = r.version or '0'
  out[#out + 1] = r.data and '1' or '0'
  out[#out + 1] = r.schema or ''
  out[#out + 1] = r.data or ''
  out[#out + 1] = r.idx or ''
end
return out
