-- Reads what a command needs to know about a team, in one round trip: its revision, its
-- plugin choices, its open incidents and its open plugin records.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- Returns { revision, { plugin, state json, ... }, { number, version, data, ... },
--           { kind, id, version, data, ... } }.
local prefix = KEYS[1]
local revision = redis.call('GET', prefix .. ':rev') or ''
local plugins = redis.call('HGETALL', prefix .. ':plugins')
local open = {}
for _, n in ipairs(redis.call('SMEMBERS', prefix .. ':open')) do
  local row = redis.call('HMGET', prefix .. ':inc:' .. n, 'version', 'data')
  if row[1] then
    open[#open + 1] = n
    open[#open + 1] = row[1]
    open[#open + 1] = row[2]
  end
end
local records = {}
for _, kind in ipairs(redis.call('SMEMBERS', prefix .. ':rec:kinds')) do
  for _, id in ipairs(redis.call('SMEMBERS', prefix .. ':rec:' .. kind .. ':open')) do
    local row = redis.call('HMGET', prefix .. ':rec:' .. kind .. ':r:' .. id, 'version', 'data')
    if row[1] then
      records[#records + 1] = kind
      records[#records + 1] = id
      records[#records + 1] = row[1]
      records[#records + 1] = row[2]
    end
  end
end
return { revision, plugins, open, records }
