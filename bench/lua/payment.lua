-- wrk script: every request authorises and captures 20.00 on tok_visa for one customer.
-- args: <bearer token> <key mode: none | unique | same>
--   none:   no Idempotency-Key (the baseline)
--   unique: a fresh key per request (each request records its key and answer)
--   same:   one key for every request (the first runs; every other one is a replay)
local token, mode, prefix
local counter = 0

function init(args)
  token = args[1]
  mode = args[2]
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  prefix = string.format("bench-%08x%08x", math.random(0, 0x7fffffff), math.random(0, 0x7fffffff))
end

function request()
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  if mode == "unique" then
    counter = counter + 1
    headers["Idempotency-Key"] = prefix .. "-" .. counter
  elseif mode == "same" then
    headers["Idempotency-Key"] = "bench-the-same-key"
  end
  return wrk.format("POST", nil, headers, '{"amount": "20.00", "card_token": "tok_visa", "capture": true}')
end
