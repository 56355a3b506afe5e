-- Replays pre-signed SES API requests from $REQS_FILE (METHOD \t PATH \t X-Amz-Date \t
-- Authorization \t BODY per line), round robin. SigV4 allows replay within its 5-minute
-- window, so the signatures stay valid for the run. Requests are formatted in init(),
-- after wrk has set the Host header the signatures cover.
local reqs = {}
local i = 0

init = function(args)
  for line in io.lines(os.getenv("REQS_FILE")) do
    local m, p, d, a, b = line:match("^(%u+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
    local h = { ["X-Amz-Date"] = d, ["Authorization"] = a }
    if b ~= "" then h["Content-Type"] = "application/json" else b = nil end
    reqs[#reqs + 1] = wrk.format(m, p, h, b)
  end
end

request = function()
  i = i % #reqs + 1
  return reqs[i]
end
