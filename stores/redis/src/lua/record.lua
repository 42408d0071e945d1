-- How a record is kept, shared by the scripts that read or write records (prepended to them).
--
-- A record is one string: "<version> <schema> <index entries as JSON>\n<data>", or only
-- "<version>" once removed (a removed record keeps its version). A string costs a quarter less
-- than a hash for a record of a few hundred bytes, which Redis keeps as a full hash table.
-- Records written as hashes (fields version, schema, data, idx) by earlier versions are still
-- read, and become strings when next written.

-- The record at `key`: { version, schema, idx, data }; `data` is nil for a removed record, and
-- everything is nil for one that never existed.
local function load_record(key)
  local value = redis.pcall('GET', key)
  if type(value) == 'table' and value.err then
    local f = redis.call('HMGET', key, 'version', 'schema', 'data', 'idx')
    return { version = f[1], schema = f[2], data = f[3], idx = f[4] }
  end
  if not value then return {} end
  local version, schema, idx, data = string.match(value, '^(%d+) (%d+) ([^\n]*)\n(.*)$')
  if not version then return { version = value } end
  return { version = version, schema = schema, idx = idx, data = data }
end

-- Keeps `record` (as load_record gives it) at `key`, replacing what was there, hash or string.
local function store_record(key, record)
  if record.data then
    redis.call('SET', key, record.version .. ' ' .. record.schema .. ' ' .. record.idx .. '\n' .. record.data)
  else
    redis.call('SET', key, record.version)
  end
end

-- Adds the record at `key` (id `id`) to a listing's reply `out`, as five values (id, version,
-- schema, data, index entries), when it exists; answers whether it did.
local function push_record(out, key, id)
  local r = load_record(key)
  if not r.data then return false end
  out[#out + 1] = id
  out[#out + 1] = r.version
  out[#out + 1] = r.schema
  out[#out + 1] = r.data
  out[#out + 1] = r.idx or ''
  return true
end
