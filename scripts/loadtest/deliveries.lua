-- wrk script: signed GitHub push deliveries, each with its own delivery id.
-- BODIES (written by `loadtest bodies` or `loadtest full-bodies`) holds
-- either
--   * a payload template and, for each commit, its SHA and the body's
--     X-Hub-Signature-256: every delivery is a different push (its own
--     commit), as GitHub sends them. A run that sends more deliveries than
--     there are commits starts again from the first and says so (the
--     repeated pushes then coalesce). Used against the receivers.
--   * finished bodies with their signatures, sent in turn: the cheapest
--     requests wrk can make, for the bare Fiber ceiling (a costlier
--     generator would lower the ceiling and flatter the ratio).
-- The signature covers the body only, so it is computed ahead and the
-- delivery id header can change on every request. Threads take turns.
-- RATE (deliveries/s over all threads; 0 = as fast as possible) paces the
-- requests with wrk's delay(): each thread keeps a schedule of evenly spaced
-- send times and waits for the next free slot.
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } timeval;
int gettimeofday(timeval *tv, void *tz);
]]
local tv = ffi.new("timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end
local parts, shas, sigs, bodies = nil, {}, {}, {}
local template = false
local body_len = 0 -- of the template's parts
local counter, index, thread_id = 0, 0, 0
wrapped = 0
local run = os.getenv("RUN_ID") or tostring(os.time())
local rate = tonumber(os.getenv("RATE") or "0")
local nthreads = tonumber(os.getenv("THREADS") or "1")
local next_slot = nil
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  thread_id = tid or 0
  local first = true
  for line in io.lines(os.getenv("BODIES")) do
    local a, b = line:match("^([^\t]+)\t(.*)$")
    if first then
      template, first = a == "template", false
    end
    if not template then
      table.insert(sigs, a)
      table.insert(bodies, b)
    elseif parts == nil then
      -- The template: split at each SHA mark.
      parts = {}
      for piece in (b .. "@SHA@"):gmatch("(.-)@SHA@") do
        table.insert(parts, piece)
        body_len = body_len + #piece
      end
    else
      table.insert(sigs, a)
      table.insert(shas, b)
    end
  end
  if #sigs == 0 then
    error("no deliveries in " .. tostring(os.getenv("BODIES")))
  end
  index = thread_id + 1 - nthreads
end

function request()
  counter = counter + 1
  -- Thread t of n sends commits t+1, t+1+n, t+1+2n, …
  index = index + nthreads
  if index > #sigs then
    index = (index - 1) % nthreads + 1
    if template then
      wrapped = wrapped + 1
    end
  end
  if not template then
    local headers = {
      ["Content-Type"] = "application/json",
      ["User-Agent"] = "GitHub-Hookshot/load",
      ["X-GitHub-Event"] = "push",
      ["X-GitHub-Delivery"] = string.format("%s-%d-%d", run, thread_id, counter),
      ["X-Hub-Signature-256"] = sigs[index],
    }
    return wrk.format("POST", "/webhook", headers, bodies[index])
  end
  -- One concatenation makes the whole request: the body is not made on
  -- its own first.
  local sha = shas[index]
  local req = {
    "POST /webhook HTTP/1.1\r\n",
    "Host: ", wrk.host, ":", wrk.port, "\r\n",
    "Content-Type: application/json\r\n",
    "User-Agent: GitHub-Hookshot/load\r\n",
    "X-GitHub-Event: push\r\n",
    "X-GitHub-Delivery: ", run, "-", thread_id, "-", counter, "\r\n",
    "X-Hub-Signature-256: ", sigs[index], "\r\n",
    "Content-Length: ", body_len + (#parts - 1) * #sha, "\r\n",
    "\r\n",
  }
  local n = #req
  for i, piece in ipairs(parts) do
    if i > 1 then
      n = n + 1
      req[n] = sha
    end
    n = n + 1
    req[n] = piece
  end
  return table.concat(req, "", 1, n)
end

function delay()
  if rate <= 0 then
    return 0
  end
  local interval = 1000 * nthreads / rate
  local now = now_ms()
  if next_slot == nil or next_slot < now - 1000 then
    next_slot = now -- start, or fell a second behind: do not burst to catch up
  end
  next_slot = next_slot + interval
  return math.max(0, math.floor(next_slot - now))
end

errors = 0
function response(status, headers, body)
  if status ~= 202 and status ~= 200 then
    errors = errors + 1
    if errors <= 3 then
      io.stderr:write("unexpected status " .. status .. ": " .. body .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do
    w = w + (t:get("wrapped") or 0)
  end
  if w > 0 then
    io.stderr:write(string.format("warning: ran out of commits %d times: some pushes were repeated\n", w))
  end
  local p = latency:percentile(99) / 1000
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors_status=%d errors_io=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, p, latency.max / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
