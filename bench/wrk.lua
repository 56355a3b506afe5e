-- GET: a random path from $PATHS_FILE per request. MODE=post (the RFC 8058 body): the
-- paths in order, thread k of $THREADS taking every THREADS-th one from k, so every POST
-- is a first opt-out (a real write) until the file runs out; then it wraps, and the
-- repeats (answered without a write) are counted in the summary line.
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
local post = os.getenv("MODE") == "post"
local stride = tonumber(os.getenv("THREADS") or "2")
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)

local next_id = 0
local threads = {}
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  threads[#threads + 1] = thread
end

function done(summary, latency, requests)
  if not post then return end
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
  io.write(string.format("Repeated POSTs: %d\n", w))
end

local n = 0
request = function()
  if post then
    local k = (id or 0) + n * stride
    n = n + 1
    if k >= #paths then wrapped = (wrapped or 0) + 1 end
    return wrk.format("POST", paths[(k % #paths) + 1], { ["Content-Type"] = "application/x-www-form-urlencoded" }, "List-Unsubscribe=One-Click")
  end
  return wrk.format("GET", paths[math.random(#paths)])
end
