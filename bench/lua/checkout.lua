-- wrk script: every request checks out one unit of one product on tok_visa.
-- args: <bearer token> <sku>
local token, sku

function init(args)
  token = args[1]
  sku = args[2]
end

function request()
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  local body = '{"lines": [{"sku": "' .. sku .. '", "quantity": 1}], "card_token": "tok_visa"}'
  return wrk.format("POST", "/api/orders/", headers, body)
end
