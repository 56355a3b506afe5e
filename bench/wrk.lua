-- GET: a random path from $PATHS_FILE per request. MODE=post (the RFC 8058 body): the
-- paths in order, thread k of $THREADS taking every THREADS-th one from k, so every POST
-- is a first opt-out (a real write) until the file runs out; then it wraps, and the
-- repeats (answered without a write) are counted in the summary line.
--
-- The POSTs are formatted once, in each thread's `init`, not per request: wrk shares the
-- 2 cores with the server, and `wrk.format` per request cost it more CPU than the plain
-- request `/healthz` is measured with. Now each request costs the client the same (one
-- prepared buffer), so the ratio to `/healthz` compares the server's work only.
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

local mine = {}
function init(args)
  if not post then return end
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  for k = (id or 0), #paths - 1, stride do
    mine[#mine + 1] = wrk.format("POST", paths[k + 1], headers, "List-Unsubscribe=One-Click")
  end
  paths = nil
  collectgarbage()
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
    n = n + 1
    if n > #mine then wrapped = (wrapped or 0) + 1 end
    return mine[((n - 1) % #mine) + 1]
  end
  return wrk.format("GET", paths[math.random(#paths)])
end
