-- didgate load harness: the wrk script every system is measured with.
-- args: mode ("plain" | "cookie" | "sessions" | "bearer" | "signed"), then
-- the cookie value, the file of session cookies (name=value per line, used in
-- turn), the file of presentations (one VP-JWT per line, each used once) or
-- the file of signatures (Signature-Input TAB Signature per line, each used
-- once), then, for
-- a paced run (half load, soak), the mean think time in milliseconds.
-- Every mode builds its request in request(), so the client does the same
-- work per request for every system.
--
-- A paced run's connections wait an exponentially distributed time between
-- requests (what independent clients look like: Poisson arrivals). A fixed
-- pause makes the connections fall into step: a burst delays them all
-- alike, so they send the next burst together, and the queue behind each
-- burst is measured instead of the server. wrk paces only when the script
-- has a delay(), so init() defines it for paced runs alone.
local mode, arg, tokens, sessions, turn

function init(args)
  mode = args[1] or "plain"
  arg = args[2]
  if mode == "bearer" or mode == "signed" then
    tokens = assert(io.open(arg, "r"))
  elseif mode == "sessions" then
    sessions, turn = {}, 0
    for line in io.lines(arg) do
      sessions[#sessions + 1] = line
    end
    assert(#sessions > 0, "no session cookies in " .. arg)
  end
  local pause = tonumber(args[3] or "")
  if pause then
    math.randomseed(os.time())
    function delay()
      -- wrk takes whole milliseconds; the calibration absorbs the rounding.
      return math.floor(-math.log(1 - math.random()) * pause + 0.5)
    end
  end
end

-- The next unused line of the presentations or signatures file.
local function next_token()
  local t = tokens:read("*l")
  if not t then
    -- Out of fresh ones: start over (the gateway refuses the replays, and
    -- the harness reports them as errors).
    tokens:seek("set", 0)
    t = tokens:read("*l")
  end
  return t
end

function request()
  if mode == "bearer" then
    return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. next_token() })
  elseif mode == "signed" then
    local t = next_token()
    local input, signature = t:match("^([^\t]*)\t(.*)$")
    return wrk.format(nil, nil, { ["Signature-Input"] = input, ["Signature"] = signature })
  elseif mode == "cookie" then
    return wrk.format(nil, nil, { ["Cookie"] = "session=" .. arg })
  elseif mode == "sessions" then
    turn = turn % #sessions + 1
    return wrk.format(nil, nil, { ["Cookie"] = sessions[turn] })
  end
  return wrk.format(nil, nil, {})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50":%d,"p99":%d,"p999":%d,"max":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9), latency.max))
end
