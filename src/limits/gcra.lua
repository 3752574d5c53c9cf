-- GCRA for one key, atomically (Redis runs a script alone). The same arithmetic as
-- src/limits/gcra.rs, which says what each quantity means.
--
-- KEYS[1]  the key: vigil:limit:<scope>:<key>; its value is the theoretical arrival time (TAT),
--          in microseconds since the Unix epoch (below 2^53, so exact in Lua's numbers).
-- ARGV[1]  the emission interval T in microseconds (at least 1).
-- ARGV[2]  the burst tolerance T * (burst - 1) in microseconds.
-- ARGV[3]  now in microseconds since the Unix epoch, or "" for the server's clock (TIME).
--
-- Answers {1, TAT, TTL} when the request is allowed (the key now holds that TAT and expires
-- in TTL milliseconds, when the TAT is reached: by then the limit is full again, so no key
-- outlives its use), or {0, wait, 0} when it is refused (nothing is written; the next request
-- is allowed `wait` microseconds from now).
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  -- Redis before 7 replicates a script that reads the clock by its effects only on request.
  if redis.replicate_commands then redis.replicate_commands() end
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
else
  now = tonumber(ARGV[3])
end
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then
  tat = math.max(tonumber(stored), now)
end
local allow_at = tat - tolerance
if now < allow_at then
  return {0, allow_at - now, 0}
end
tat = tat + emission
-- %d keeps every digit (a number passed as it is may be printed as 1.7e+15).
local ttl_ms = math.ceil((tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', string.format('%d', ttl_ms))
return {1, tat, ttl_ms}
