/**
 * Lua for the flow-control primitives. Kept as string constants rather than .lua files because tsc
 * does not copy .lua files into dist.
 *
 * Conventions shared by every script:
 * - The clock is Redis `TIME`, never the caller's, so processes on different machines agree.
 *   (Redis >= 5 replicates script effects, so calling TIME before a write is allowed.)
 * - Numbers written to Redis go through string.format('%.0f') because Lua 5.1's tostring keeps only
 *   14 significant digits, which would round microsecond timestamps.
 * - All KEYS of one client share the caller's prefix, so a hash tag in it (`le:{acme}`) keeps them
 *   in one Cluster slot.
 */

import { LuaScript } from './lua-script';

const NUM = `local function fmt(n) return string.format('%.0f', n) end
`;

/* ------------------------------------------------------------------------------------------------
 * Rate limiter: sliding-window log + hold + adaptive effective limit
 * --------------------------------------------------------------------------------------------- */

export const RL_ACQUIRE = new LuaScript(
  'rl_acquire',
  `--[[
  Admit one request under an exact sliding-window log, unless a hold is active. A request of a
  purpose with a share of the budget (polls) must also fit its own log under the share's limit.

  KEYS[1] log       ZSET   score = admission time in microseconds (Redis TIME), member = "<us>:<token>";
                           kept for two windows
  KEYS[2] hold      STRING with PX; value = reason of the hold
  KEYS[3] adaptive  HASH   field eff = shared effective limit (absent = the ceiling)
  KEYS[4] share     ZSET   log of the requests of the purpose with a share (same format as KEYS[1])

  ARGV[1] ceiling   configured requests per window (integer >= 1)
  ARGV[2] windowMs  window length in ms (integer >= 1)
  ARGV[3] token     unique per call, so two admissions in the same microsecond stay two members
  ARGV[4] shareMax  requests per window the share allows (0 = this request has no share)
  ARGV[5] fixed     1 = use the ceiling as given, ignoring the adaptive level (the capacity probe,
                    whose ceiling is its own measured step and never above the known limit)

  Returns {code, waitMs, effective, atUs}
    code  1  admitted; atUs = the recorded admission time
    code  0  window (or the share) full; retry in waitMs (when enough entries leave the window)
    code -1  hold active; retry in waitMs (the hold's remaining TTL)
]]
${NUM}
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ceiling = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local windowUs = windowMs * 1000
local shareMax = tonumber(ARGV[4]) or 0

local eff = tonumber(redis.call('HGET', KEYS[3], 'eff')) or ceiling
if eff > ceiling or ARGV[5] == '1' then eff = ceiling end
if eff < 1 then eff = 1 end

local holdMs = redis.call('PTTL', KEYS[2])
if holdMs > 0 then return {-1, holdMs, eff, 0} end

-- An entry at s counts for the half-open window (now - W, now]; it leaves once now >= s + W.
-- Entries are kept for two windows (rl_rate_limited reads the recent rate from them), so count
-- only the window's own. Returns the wait until one more entry fits under max (0 = fits now).
local from = '(' .. fmt(nowUs - windowUs)
local function waitFor(key, max)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', fmt(nowUs - 2 * windowUs))
  local count = redis.call('ZCOUNT', key, from, '+inf')
  if count < max then return 0 end
  -- count - max + 1 entries must leave before count < max; the last of them is the
  -- (count - max)-th (0-based) entry of the window.
  local entry = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', count - max, 1)
  return math.floor((tonumber(entry[2]) + windowUs - nowUs) / 1000) + 1
end

local wait = waitFor(KEYS[1], eff)
if shareMax > 0 then
  local shareWait = waitFor(KEYS[4], shareMax)
  if shareWait > wait then wait = shareWait end
end
if wait > 0 then return {0, wait, eff, 0} end

local at = fmt(nowUs)
redis.call('ZADD', KEYS[1], at, at .. ':' .. ARGV[3])
-- Every entry is useless after two windows, so the key never outlives its newest entry by more.
redis.call('PEXPIRE', KEYS[1], 2 * windowMs + 1)
if shareMax > 0 then
  redis.call('ZADD', KEYS[4], at, at .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[4], 2 * windowMs + 1)
end
return {1, 0, eff, nowUs}
`,
);

export const RL_PEEK = new LuaScript(
  'rl_peek',
  `--[[
  How long until rl_acquire would admit a request, without recording one. Used to decide whether a
  partly filled batch should go now or keep filling; never to admit.

  KEYS and ARGV as rl_acquire (ARGV[3] unused).
  Returns {waitMs, effective}   waitMs 0 = a request would be admitted now
]]
${NUM}
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ceiling = tonumber(ARGV[1])
local windowUs = tonumber(ARGV[2]) * 1000

local eff = tonumber(redis.call('HGET', KEYS[3], 'eff')) or ceiling
if eff > ceiling then eff = ceiling end
if eff < 1 then eff = 1 end

local holdMs = redis.call('PTTL', KEYS[2])
if holdMs > 0 then return {holdMs, eff} end

local count = redis.call('ZCOUNT', KEYS[1], '(' .. fmt(nowUs - windowUs), '+inf')
if count < eff then return {0, eff} end
local entries = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. fmt(nowUs - windowUs), '+inf', 'WITHSCORES', 'LIMIT', count - eff, 1)
local waitUs = tonumber(entries[2]) + windowUs - nowUs
return {math.floor(waitUs / 1000) + 1, eff}
`,
);

export const RL_SENT = new LuaScript(
  'rl_sent',
  `--[[
  The admitted request is leaving now: move its log entry to the current time. Between admission and
  the bytes leaving there can be a Redis round trip, an auth header, a busy event loop; the CRM
  counts arrivals, so the window must count from departure. Only ever moves an entry later (TIME is
  past the admission), so the guarantee can only get stricter. No-op if the entry is already gone.

  KEYS[1] log     ZSET (see rl_acquire)
  ARGV[1] member  the entry rl_acquire added ("<us>:<token>")
  ARGV[2] windowMs  the admission window (for the key's expiry)
  Returns 1 if moved, 0 if absent
]]
${NUM}
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], 'XX', fmt(nowUs), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]) + 1)
return 1
`,
);

export const RL_HOLD = new LuaScript(
  'rl_hold',
  `--[[
  Stop all sending to a client for a while (429 / Retry-After). Extends, never shortens.

  KEYS[1] hold    STRING with PX
  ARGV[1] ms      requested hold length (integer >= 1)
  ARGV[2] reason  stored as the value, for operators

  Returns {extended 0|1, remainingMs}
]]
local cur = redis.call('PTTL', KEYS[1])
local ms = tonumber(ARGV[1])
if cur >= ms then return {0, cur} end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
return {1, ms}
`,
);

export const RL_CONFIG = new LuaScript(
  'rl_config',
  `--[[
  Apply a configured limit. A different ceiling or window than the one stored is a config change:
  the adaptive state is reset to the new ceiling. The same config is a no-op, so processes that
  (re)load an unchanged config do not wipe what the others learned.

  KEYS[1] adaptive  HASH  ceil, win, eff, bad, badAt, last429, lastChange, lastDecrease
  ARGV[1] ceiling   requests per window
  ARGV[2] windowMs
  ARGV[3] ttlMs     lifetime of the adaptive state after its last write

  Returns {changed 0|1, fromEffective, toEffective}
]]
local ceiling = tonumber(ARGV[1])
local cur = redis.call('HMGET', KEYS[1], 'ceil', 'win', 'eff')
local eff = tonumber(cur[3])
if tonumber(cur[1]) == ceiling and tonumber(cur[2]) == tonumber(ARGV[2]) then
  return {0, eff or ceiling, eff or ceiling}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'ceil', ARGV[1], 'win', ARGV[2], 'eff', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, eff or ceiling, ceiling}
`,
);

export const RL_RATE_LIMITED = new LuaScript(
  'rl_rate_limited',
  `--[[
  A 429 was received: lower the shared effective limit multiplicatively and remember the level
  that got the 429 ("bad level"). Only one decrease per decreaseGap: the 429s of requests that were
  already in flight at the old rate say nothing about the new one.

  KEYS[1] log       ZSET of admissions (to measure the rate at which the 429 happened)
  KEYS[2] adaptive  HASH  (see rl_config)
  ARGV[1] ceiling   configured requests per window
  ARGV[2] windowMs
  ARGV[3] factor    0 < factor < 1
  ARGV[4] gapMs     minimum time between two decreases
  ARGV[5] ttlMs
  ARGV[6] logWindowMs  the window admissions are spaced by (windowMs + the arrival guard); entries
                       younger than it still count for rl_acquire, so they must not be trimmed here

  Returns {changed 0|1, fromEffective, toEffective}
]]
${NUM}
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local nowMs = math.floor(nowUs / 1000)
local ceiling = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local logWindowMs = tonumber(ARGV[6]) or windowMs

local st = redis.call('HMGET', KEYS[2], 'eff', 'lastDecrease', 'ceil')
local eff = tonumber(st[1]) or ceiling
if eff > ceiling then eff = ceiling end
if not st[3] then
  -- The state expired or never existed: record the config so a later rl_config sees no change.
  redis.call('HSET', KEYS[2], 'ceil', ARGV[1], 'win', ARGV[2])
end
-- Any 429 restarts the quiet period, even one that does not lower the limit.
redis.call('HSET', KEYS[2], 'last429', fmt(nowMs), 'eff', eff)
redis.call('PEXPIRE', KEYS[2], ARGV[5])

local lastDecrease = tonumber(st[2])
if lastDecrease and nowMs - lastDecrease < tonumber(ARGV[4]) then
  return {0, eff, eff}
end

-- When traffic is below the limit, the rate that drew the 429 is what we actually sent. "What we
-- sent" is the larger of the last window's count and the average per window over the log (up to two
-- windows, see rl_acquire). The last window alone undercounts right after a burst — a burst's
-- entries leave the window exactly when the next burst is admitted — and took a limit of 10 to 1
-- on a single 429.
local logWindowUs = logWindowMs * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', fmt(nowUs - 2 * logWindowUs))
local observed = redis.call('ZCOUNT', KEYS[1], '(' .. fmt(nowUs - windowMs * 1000), '+inf')
local all = redis.call('ZCARD', KEYS[1])
if all > observed then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local span = nowUs - tonumber(oldest[2])
  if span < windowMs * 1000 then span = windowMs * 1000 end
  local avg = math.floor(all * windowMs * 1000 / span)
  if avg > observed then observed = avg end
end
local base = eff
if observed > 0 and observed < base then base = observed end
local to = math.floor(base * tonumber(ARGV[3]))
if to < 1 then to = 1 end

redis.call('HSET', KEYS[2], 'eff', to, 'bad', base, 'badAt', fmt(nowMs),
  'lastDecrease', fmt(nowMs), 'lastChange', fmt(nowMs))
local changed = 0
if to ~= eff then changed = 1 end
return {changed, eff, to}
`,
);

export const RL_SUCCESS = new LuaScript(
  'rl_success',
  `--[[
  A 2xx was received: raise the effective limit by one, but only after a quiet period without 429s
  (and without another raise), up to the ceiling, and never to a level that got a 429 within memoryMs.

  KEYS[1] adaptive  HASH  (see rl_config)
  ARGV[1] ceiling
  ARGV[2] quietMs
  ARGV[3] memoryMs
  ARGV[4] ttlMs

  Returns {changed 0|1, fromEffective, toEffective, nextCheckInMs}
    nextCheckInMs: no raise can happen before this (other processes' 429s only push it later),
    so callers may skip calling until then.
]]
${NUM}
local ceiling = tonumber(ARGV[1])
local st = redis.call('HMGET', KEYS[1], 'eff', 'last429', 'lastChange', 'bad', 'badAt')
local eff = tonumber(st[1])
if not eff then return {0, ceiling, ceiling, 0} end
if eff >= ceiling then return {0, ceiling, ceiling, 0} end

local t = redis.call('TIME')
local nowMs = math.floor((tonumber(t[1]) * 1000000 + tonumber(t[2])) / 1000)
local quiet = tonumber(ARGV[2])
local memory = tonumber(ARGV[3])
local since429 = nowMs - (tonumber(st[2]) or 0)
local sinceChange = nowMs - (tonumber(st[3]) or 0)
local waitMs = math.max(quiet - since429, quiet - sinceChange)
if waitMs > 0 then return {0, eff, eff, waitMs} end

local to = eff + 1
local bad = tonumber(st[4])
if bad then
  local badLeft = (tonumber(st[5]) or 0) + memory - nowMs
  if badLeft > 0 then
    if to >= bad then return {0, eff, eff, badLeft} end
  else
    redis.call('HDEL', KEYS[1], 'bad', 'badAt')
  end
end

redis.call('HSET', KEYS[1], 'eff', to, 'lastChange', fmt(nowMs))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, eff, to, quiet}
`,
);

/* ------------------------------------------------------------------------------------------------
 * Circuit breaker: one HASH per client
 *   state           closed | open | half-open   (absent hash = closed, nothing counted)
 *   reason, detail  why it is open
 *   openedAt        ms (Redis TIME) of the latest transition to open
 *   probeAt         ms when a probe may start; absent for reasons that wait for a person
 *   probeStartedAt  ms when the current half-open probe started (lease against a dead prober)
 *   failures        consecutive transient failures
 *   opens           consecutive opens (reset on close)
 *   outageSince     ms of the first open of this outage (reset on close): the probe interval stays
 *                   short for the fast-probe window, then grows with the outage's age
 * --------------------------------------------------------------------------------------------- */

const CB_PRELUDE = `${NUM}
local key = KEYS[1]
local function now_ms()
  local t = redis.call('TIME')
  return math.floor((tonumber(t[1]) * 1000000 + tonumber(t[2])) / 1000)
end
local function state() return redis.call('HGET', key, 'state') or 'closed' end
local function num(field) return tonumber(redis.call('HGET', key, field)) or 0 end
-- transient: probe every cooldown during the fast-probe window (most outages are short, and a CRM
-- that is back should get its leads within seconds), then double the interval each time the outage
-- doubles in age, capped; blocked: its own long cooldown; others: wait for a person.
local function probe_delay(reason, now, cooldown, maxCooldown, blockedCooldown, fastWindow)
  if reason == 'transient' then
    local since = tonumber(redis.call('HGET', key, 'outageSince')) or now
    local age = now - since
    local d = cooldown
    if fastWindow > 0 and age >= fastWindow then
      d = cooldown * (2 ^ (math.floor(math.log(age / fastWindow) / math.log(2)) + 1))
    end
    if d > maxCooldown then d = maxCooldown end
    return d
  end
  if reason == 'blocked' then return blockedCooldown end
  return nil
end
local function open_circuit(reason, detail, now, cooldown, maxCooldown, blockedCooldown, fastWindow)
  local opens = num('opens') + 1
  redis.call('HSET', key, 'state', 'open', 'reason', reason, 'detail', detail,
    'openedAt', fmt(now), 'opens', opens)
  if not redis.call('HGET', key, 'outageSince') then redis.call('HSET', key, 'outageSince', fmt(now)) end
  redis.call('HDEL', key, 'probeStartedAt')
  local d = probe_delay(reason, now, cooldown, maxCooldown, blockedCooldown, fastWindow)
  if d then redis.call('HSET', key, 'probeAt', fmt(now + d)) else redis.call('HDEL', key, 'probeAt') end
end
local function reply(flag, from)
  return {flag, from, redis.call('HGETALL', key)}
end
`;

const CB_REPLY_DOC = `  Returns {flag 0|1, fromState, HGETALL of the hash after the call}`;

export const CB_FAILURE = new LuaScript(
  'cb_failure',
  `--[[
  A transient failure. Closed: count it, open at the threshold (exactly once, however many processes
  report the threshold-th failure at the same time). Half-open: the probe failed, reopen with the next
  cooldown. Open: only counted.

  KEYS[1] circuit HASH
  ARGV[1] threshold  ARGV[2] cooldownMs  ARGV[3] maxCooldownMs  ARGV[4] blockedCooldownMs
  ARGV[5] detail     ARGV[6] fastProbeWindowMs
${CB_REPLY_DOC}   flag = opened
]]
${CB_PRELUDE}
local st = state()
local failures = num('failures') + 1
redis.call('HSET', key, 'state', st, 'failures', failures)
if st == 'half-open' or (st == 'closed' and failures >= tonumber(ARGV[1])) then
  local reason = 'transient'
  if st == 'half-open' then reason = redis.call('HGET', key, 'reason') or 'transient' end
  open_circuit(reason, ARGV[5], now_ms(), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[6]))
  return reply(1, st)
end
return reply(0, st)
`,
);

export const CB_SUCCESS = new LuaScript(
  'cb_success',
  `--[[
  A success. Closes a half-open circuit, or one open for a transient reason (a request that was in
  flight got through). A circuit open for any other reason stays open: one straggling success does
  not prove that credentials, the account or the contract are fixed. Closing deletes the hash, which
  resets failures and opens.

  KEYS[1] circuit HASH
  Returns {closed 0|1, fromState}
]]
local key = KEYS[1]
local st = redis.call('HGET', key, 'state') or 'closed'
if st == 'half-open' or (st == 'open' and redis.call('HGET', key, 'reason') == 'transient') then
  redis.call('DEL', key)
  return {1, st}
end
if st == 'closed' then redis.call('DEL', key) end
return {0, st}
`,
);

export const CB_OPEN = new LuaScript(
  'cb_open',
  `--[[
  Open at once for a reason. Already open: no new open, but a more severe reason replaces a milder one
  (transient < blocked < auth/account/contract/manual), so a transient outage cannot mask a dead token.

  KEYS[1] circuit HASH
  ARGV[1] reason  ARGV[2] detail
  ARGV[3] cooldownMs  ARGV[4] maxCooldownMs  ARGV[5] blockedCooldownMs  ARGV[6] fastProbeWindowMs
${CB_REPLY_DOC}   flag = opened (it was not open before)
]]
${CB_PRELUDE}
local function severity(r)
  if r == 'transient' then return 1 end
  if r == 'blocked' then return 2 end
  return 3
end
local now = now_ms()
local st = state()
local reason = ARGV[1]
if st == 'open' then
  local cur = redis.call('HGET', key, 'reason') or 'transient'
  if severity(reason) > severity(cur) then
    redis.call('HSET', key, 'reason', reason, 'detail', ARGV[2])
    local d = probe_delay(reason, now, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
    if d then redis.call('HSET', key, 'probeAt', fmt(now + d)) else redis.call('HDEL', key, 'probeAt') end
  end
  return reply(0, st)
end
open_circuit(reason, ARGV[2], now, tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]))
return reply(1, st)
`,
);

export const CB_TRY_PROBE = new LuaScript(
  'cb_try_probe',
  `--[[
  Start a probe: open -> half-open once probeAt has passed. Exactly one caller wins. A half-open
  probe older than probeTimeoutMs is presumed dead (its process crashed) and may be taken over.

  KEYS[1] circuit HASH
  ARGV[1] probeTimeoutMs
  Returns {won 0|1, fromState}
]]
${CB_PRELUDE}
local now = now_ms()
local st = state()
if st == 'open' then
  local probeAt = tonumber(redis.call('HGET', key, 'probeAt'))
  if probeAt and now >= probeAt then
    redis.call('HSET', key, 'state', 'half-open', 'probeStartedAt', fmt(now))
    return {1, st}
  end
elseif st == 'half-open' then
  if now - num('probeStartedAt') >= tonumber(ARGV[1]) then
    redis.call('HSET', key, 'probeStartedAt', fmt(now))
    return {1, st}
  end
end
return {0, st}
`,
);

export const CB_PROBE_FAILED = new LuaScript(
  'cb_probe_failed',
  `--[[
  The probe failed: half-open -> open with the next (longer) cooldown, keeping the reason.
  No-op in any other state (someone closed or reopened it meanwhile).

  KEYS[1] circuit HASH
  ARGV[1] detail  ARGV[2] cooldownMs  ARGV[3] maxCooldownMs  ARGV[4] blockedCooldownMs
  ARGV[5] fastProbeWindowMs
${CB_REPLY_DOC}   flag = reopened
]]
${CB_PRELUDE}
local st = state()
if st ~= 'half-open' then return reply(0, st) end
local reason = redis.call('HGET', key, 'reason') or 'transient'
open_circuit(reason, ARGV[1], now_ms(), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return reply(1, st)
`,
);

export const CB_CLOSE = new LuaScript(
  'cb_close',
  `--[[
  Close unconditionally (a person, a config change, or a caller that knows it recovered).
  Deleting the hash also resets failures and opens.

  KEYS[1] circuit HASH
  Returns {closed 0|1, fromState}
]]
local st = redis.call('HGET', KEYS[1], 'state') or 'closed'
redis.call('DEL', KEYS[1])
if st == 'closed' then return {0, st} end
return {1, st}
`,
);
