-- Reads what a command needs to know about a team, in one round trip: its revision, its
-- plugin choices and its open incidents.
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- Returns { revision, { plugin, state json, ... }, { number, version, data, ... } }.
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
return { revision, plugins, open }
