-- Picks a random path from $PATHS_FILE per request; MODE=post sends the RFC 8058 body.
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
local post = os.getenv("MODE") == "post"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)

request = function()
  local p = paths[math.random(#paths)]
  if post then
    return wrk.format("POST", p, { ["Content-Type"] = "application/x-www-form-urlencoded" }, "List-Unsubscribe=One-Click")
  end
  return wrk.format("GET", p)
end
