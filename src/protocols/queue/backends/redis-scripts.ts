/**
 * Lua scripts of the Redis backend: each runs atomically in Redis, so a step that moves a message
 * (a due retry into the retry stream, a trim) can never half happen.
 */
import { createHash } from 'node:crypto';

/** A script and its SHA1, for EVALSHA (EVAL when Redis does not have it cached: after a restart). */
export interface RedisScript {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): RedisScript {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * KEYS: stream. ARGV[1]: entries packed one after another, each a byte k (its number of field
 * arguments: name, value, ...) then k times a 4-byte big-endian length and that many bytes
 * (`packEntries`). XADDs every entry, in order: one command and one argument for a whole
 * producer batch, because the Redis client's cost per command and per argument was most of the
 * producer's CPU. Each XADD is protected on its own, as in a pipeline: returns
 * { entry index (1-based), error, ... } of the entries Redis refused, empty when all were added.
 */
export const XADD_PACKED = script(`
local s = ARGV[1]
local key = KEYS[1]
local formats = {}
local failed = {}
local pos = 1
local n = 0
local len = #s
while pos <= len do
  local k = string.byte(s, pos)
  local f = formats[k]
  if f == nil then
    f = '>' .. string.rep('I4c0', k)
    formats[k] = f
  end
  local fields = { struct.unpack(f, s, pos + 1) }
  pos = fields[k + 1]
  fields[k + 1] = nil
  n = n + 1
  local ok, err = pcall(redis.call, 'XADD', key, '*', unpack(fields))
  if not ok then
    failed[#failed + 1] = n
    failed[#failed + 1] = type(err) == 'table' and err.err or tostring(err)
  end
end
return failed
`);

/** Fields packed as `<len>:<bytes>` pairs, the member format of the delay set (binary-safe, no Lua library needed). */
export function packFields(fields: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) parts.push(Buffer.from(`${f.length}:`, 'latin1'), f);
  return Buffer.concat(parts);
}

const SPLIT = `
local function split(s)
  local out = {}
  local i = 1
  while i <= #s do
    local c = string.find(s, ':', i, true)
    local n = tonumber(string.sub(s, i, c - 1))
    out[#out + 1] = string.sub(s, c + 1, c + n)
    i = c + n + 1
  end
  return out
end
`;

/** KEYS: delay set, retry stream. ARGV: now (ms), max moved. Moves due retries; returns how many. */
export const MOVE_DUE = `${SPLIT}
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', unpack(split(m)))
  redis.call('ZREM', KEYS[1], m)
end
return #due
`;

/**
 * KEYS: stream. ARGV: group, consumer, min idle ms, start id, count. XAUTOCLAIM, then each claimed
 * entry's delivery count (XPENDING), which XAUTOCLAIM does not return.
 * Returns { next cursor, entries, delivery counts }.
 */
export const CLAIM = `
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', ARGV[5])
local entries = {}
local counts = {}
for i, e in ipairs(r[2]) do
  if e[2] then
    entries[#entries + 1] = e
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    counts[#counts + 1] = (p[1] and p[1][4]) or 1
  end
end
return { r[1], entries, counts }
`;

/**
 * KEYS: stream. Trims what every group has acknowledged: entries below each group's oldest
 * pending entry and its last delivered one (never what some group has not read). Returns entries removed.
 */
export const TRIM_ACKED = `
local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])
if not ok or #groups == 0 then return 0 end
local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function less(a, b)
  local am, as = parse(a)
  local bm, bs = parse(b)
  if am ~= bm then return am < bm end
  return as < bs
end
local best = nil
for _, g in ipairs(groups) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  local bound = last
  local p = redis.call('XPENDING', KEYS[1], name)
  if p[1] > 0 and less(p[2], bound) then bound = p[2] end
  if best == nil or less(bound, best) then best = bound end
end
if best == nil or best == '0-0' then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', best)
`;

/**
 * KEYS: stream. ARGV: group, min idle ms, the caller's own consumer name. Removes the group's
 * consumers that hold nothing (pending 0) and have not been seen for the idle time: a consumer
 * name per process would otherwise stay in the group forever. Atomic, so a consumer cannot be
 * handed a message between the check and XGROUP DELCONSUMER (which drops its pending entries);
 * a live consumer removed this way is re-created by its next read. Returns how many were removed.
 */
export const REMOVE_IDLE_CONSUMERS = `
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local min = tonumber(ARGV[2])
local removed = 0
for _, c in ipairs(consumers) do
  local name, pending, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1] elseif c[i] == 'pending' then pending = c[i + 1] elseif c[i] == 'idle' then idle = c[i + 1] end
  end
  if name ~= ARGV[3] and pending == 0 and idle ~= nil and idle >= min then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    removed = removed + 1
  end
end
return removed
`;
