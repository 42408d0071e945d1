-- Removes a finished job run from a team's ready stream, with its attempt count, its outbox and
-- its claim: nothing can run it again (its job was consumed when it was applied, and a replica
-- that took it over meanwhile finds the job gone).
--
-- KEYS[1]  the team's key prefix, e.g. "firebell:{wmcs}"
-- ARGV[1]  the stream entry
-- ARGV[2]  the run's cause (its outbox key)
local prefix = KEYS[1]
local stream = prefix .. ':ready'
redis.call('XACK', stream, 'workers', ARGV[1])
redis.call('XDEL', stream, ARGV[1])
redis.call('HDEL', prefix .. ':attempts', ARGV[1])
redis.call('DEL', prefix .. ':outbox:' .. ARGV[2], prefix .. ':seen:' .. ARGV[2])
return 'ok'
