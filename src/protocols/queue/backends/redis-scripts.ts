/**
 * Lua scripts of the Redis backend: each runs atomically in Redis, so a step that moves a message
 * (a due retry into the retry stream, a trim) can never half happen.
 */

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
