-- wrk script: signed GitHub push deliveries, each with its own delivery id.
-- The bodies and their X-Hub-Signature-256 come from BODIES (written by
-- `loadtest bodies`): the signature covers the body only, so it is computed
-- once per body and the delivery id header can change on every request.
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
local bodies, sigs = {}, {}
local counter, index, thread_id = 0, 0, 0
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
  for line in io.lines(os.getenv("BODIES")) do
    local sig, body = line:match("^([^\t]+)\t(.*)$")
    table.insert(sigs, sig)
    table.insert(bodies, body)
  end
  -- Threads start at different bodies.
  index = (thread_id * 7919) % #bodies
end

function request()
  counter = counter + 1
  index = index % #bodies + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["User-Agent"] = "GitHub-Hookshot/load",
    ["X-GitHub-Event"] = "push",
    ["X-GitHub-Delivery"] = string.format("%s-%d-%d", run, thread_id, counter),
    ["X-Hub-Signature-256"] = sigs[index],
  }
  return wrk.format("POST", "/webhook", headers, bodies[index])
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
  local p = latency:percentile(99) / 1000
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f errors_status=%d errors_io=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, p, latency.max / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
