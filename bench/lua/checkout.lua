-- wrk script: every request is a checkout of one random product (SKU-00001..N) by one customer.
-- args: <bearer token> <number of products>
local token, products

function init(args)
  token = args[1]
  products = tonumber(args[2])
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local sku = string.format("SKU-%05d", math.random(1, products))
  local body = '{"lines": [{"sku": "' .. sku .. '", "quantity": 1}], "card_token": "tok_visa"}'
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end
